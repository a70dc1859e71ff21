"""`harness doctor | list | run | report | compare | cleanup | manifests`.

Bad input gets one line and exit status 2, never a traceback. Subcommands import their
machinery lazily so `harness doctor` works even where a heavy dependency is broken.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from harness.contracts import ENGINES, MODES, PLATFORMS
from harness.errors import HarnessError

EXIT_BAD_INPUT = 2


class _Parser(argparse.ArgumentParser):
    """argparse, but its errors are one line (no usage dump) and exit 2."""

    def error(self, message: str):  # type: ignore[override]
        raise HarnessError(f"{self.prog}: {message}")


def csv_list(allowed: Sequence[str], what: str):
    """An argparse type for comma-separated lists checked against the accepted values."""

    def parse(text: str) -> list[str]:
        items = [t.strip() for t in text.split(",") if t.strip()]
        if not items:
            raise argparse.ArgumentTypeError(f"empty {what} list; accepted: {', '.join(allowed)}")
        bad = [t for t in items if t not in allowed]
        if bad:
            raise argparse.ArgumentTypeError(f"unknown {what} {', '.join(bad)}; accepted: {', '.join(allowed)}")
        return items

    return parse


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="harness", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    d = sub.add_parser("doctor", help="what this machine has for a platform, and what is missing")
    d.add_argument("--platform", choices=PLATFORMS, default="local")
    d.add_argument("--fetch-tools", action="store_true", help="kind/k8s: fetch missing kind, kubectl, helm (pinned, checksummed)")

    sub.add_parser("list", help="scenarios, engines, modes and profiles")

    r = sub.add_parser("run", help="run the evaluation")
    r.add_argument("scenarios", nargs="*", help="scenario names (default: all)")
    r.add_argument("--platform", choices=("auto", *PLATFORMS), default="auto")
    r.add_argument("--engines", type=csv_list(ENGINES, "engine"), default=list(ENGINES))
    r.add_argument("--modes", type=csv_list(MODES, "mode"), default=list(MODES))
    r.add_argument("--profile", default="quick")
    r.add_argument("--seed", type=int, default=None, help="random seed (default: the settings file's, else 1)")
    r.add_argument("--out", type=Path, default=Path("reports"))
    r.add_argument("--settings", type=Path, default=None, help="YAML file overriding profile settings")
    r.add_argument("--dry-run", action="store_true", help="print every step and manifest; touch nothing")
    r.add_argument("--install-kubeblocks", action="store_true",
                   help="k8s: move an installed KubeBlocks of another version to the pinned one (refused without it)")

    rep = sub.add_parser("report", help="render report.md / report.html from a run directory")
    rep.add_argument("run_dir", type=Path)

    c = sub.add_parser("compare", help="compare two runs; exit 1 on regression")
    c.add_argument("baseline", type=Path)
    c.add_argument("current", type=Path)
    c.add_argument("--thresholds", type=Path, default=None)

    sub.add_parser("cleanup", help="stop what a killed run left behind")

    m = sub.add_parser("manifests", help="write every manifest (and the kind config) for review")
    m.add_argument("--platform", choices=("kind", "k8s"), default="kind")
    m.add_argument("--out", type=Path, required=True)
    return p


def cmd_cleanup(_: argparse.Namespace) -> int:
    from harness.procs import cleanup_leftovers, state_dir_from_env

    done = cleanup_leftovers(state_dir_from_env())
    if not done:
        print("cleanup: nothing left behind")
    for lo in done:
        names = ", ".join(f"{r.name} (pid {r.pid})" for r in lo.alive) or "no live processes"
        undone = "".join(f"; ran `{' '.join(argv)}`" for argv in lo.undo.values())
        print(f"cleanup: run {lo.run_id}: stopped {names}; removed {len(lo.paths)} temp dir(s){undone}")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from harness.doctor import doctor

    if args.fetch_tools and args.platform in ("kind", "k8s"):
        from harness.platforms.tools import ensure_tool

        for name in ("kind", "kubectl", "helm") if args.platform == "kind" else ("kubectl", "helm"):
            print(f"{name}: {ensure_tool(name)}")
    return doctor(args.platform)


def cmd_list(_: argparse.Namespace) -> int:
    from harness.listing import list_everything

    return list_everything()


def cmd_run(args: argparse.Namespace) -> int:
    from harness.runloop import run_from_args

    return run_from_args(args)


def cmd_report(args: argparse.Namespace) -> int:
    from harness.report import render_run_dir

    paths = render_run_dir(args.run_dir)
    for p in paths:
        print(p)
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from harness.compare import compare_main

    return compare_main(args.baseline, args.current, args.thresholds)


def cmd_manifests(args: argparse.Namespace) -> int:
    from harness.manifests import write_all
    from harness.platforms.tools import KIND_NODE_IMAGE

    for p in write_all(args.platform, args.out, KIND_NODE_IMAGE):
        print(p)
    return 0


COMMANDS = {
    "cleanup": cmd_cleanup,
    "doctor": cmd_doctor,
    "list": cmd_list,
    "run": cmd_run,
    "report": cmd_report,
    "compare": cmd_compare,
    "manifests": cmd_manifests,
}


class _Terminated(BaseException):
    """SIGTERM outside a run (which installs its own handler): exit 143 like Ctrl-C exits 130."""


def _on_sigterm(_signum: int, _frame: object) -> None:
    raise _Terminated


def main(argv: Sequence[str] | None = None) -> int:
    old_term = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except HarnessError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except _Terminated:
        print("terminated", file=sys.stderr)
        return 143
    finally:
        signal.signal(signal.SIGTERM, old_term)


if __name__ == "__main__":
    sys.exit(main())
