"""The capacity numbers of one run, with the machine they were measured on.

Runs `harness run capacity` (local platform, the quick profile's load unless a settings file says
otherwise) or reads an existing run directory, and records per engine x mode the highest sustained
offered rate, what ended the search (the SLO, errors, saturation or the load generator itself) and
every step's p99 and CPU shares, next to the machine's CPU count and load average. Figures vary
between machines: compare runs side by side on the same machine, never against a number in a file.
This script reports, never asserts.
Usage:
    .venv/bin/python benchmarks/capacity.py [--engines mysql,redis] [--modes kubeblocks,statefulset]
        [--settings FILE] [--run-dir DIR (read, don't run)] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform as pyplatform
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def run_capacity(engines: str, modes: str, settings: str | None, out: Path) -> Path:
    """One `harness run capacity` into `out`; its run directory (out/latest)."""
    cmd = [sys.executable, "-m", "harness.cli", "run", "capacity", "--engines", engines, "--modes", modes,
           "--platform", "local", "--out", str(out)]
    if settings:
        cmd += ["--settings", settings]
    proc = subprocess.run(cmd, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    if proc.returncode not in (0, 1):
        raise SystemExit(f"harness run capacity exited {proc.returncode}")
    return (out / "latest").resolve()


def summarise(run_dir: Path) -> dict[str, Any]:
    results = json.loads((run_dir / "results.json").read_text())
    cells = []
    for c in results["cells"]:
        if c["scenario"] != "capacity":
            continue
        cap = c.get("capacity") or {}
        cells.append({
            "engine": c["engine"], "mode": c["mode"], "status": c["status"], "reason": c.get("reason"),
            "max_sustained_ops_s": cap.get("max_sustained_ops_s"), "bound": cap.get("bound"),
            "bound_at_ops_s": cap.get("bound_at_ops_s"), "summary": cap.get("summary"),
            "steps": [{k: s.get(k) for k in ("offered_ops_s", "delivered_ops_s", "p50_ms", "p99_ms", "error_fraction",
                                             "generator_cpu_share", "busiest_worker_cpu", "server_cpu_share",
                                             "sustained", "bound")} for s in cap.get("steps") or []],
        })
    return {"run_dir": str(run_dir), "run_id": results["run"]["id"], "git_sha": results["run"].get("git_sha"),
            "machine": {"cpus": os.cpu_count(), "loadavg": os.getloadavg(), "python": pyplatform.python_version(),
                        "host": results["run"].get("host")},
            "cells": cells}


def _pct(x: Any) -> str:
    return f"{x * 100:.0f}%" if isinstance(x, int | float) else "-"


def print_summary(s: dict[str, Any]) -> None:
    m = s["machine"]
    print(f"capacity, run {s['run_id']} ({s['git_sha'] or '?'}), {m['cpus']} CPUs, load average "
          + " ".join(f"{x:.2f}" for x in m["loadavg"]))
    for c in s["cells"]:
        print(f"  {c['engine']}/{c['mode']}: {c['status']}; highest sustained {c['max_sustained_ops_s']} ops/s, "
              f"ended by {c['bound']} at {c['bound_at_ops_s']} ops/s")
        for st in c["steps"]:
            print(f"    {st['offered_ops_s']:>7g} offered  {st['delivered_ops_s'] or 0:>8.1f} delivered  "
                  f"p99 {st['p99_ms'] or 0:>8.2f} ms  generator {_pct(st['generator_cpu_share'])} "
                  f"(busiest worker {_pct(st['busiest_worker_cpu'])} of a core)  database {_pct(st['server_cpu_share'])}"
                  f"  {'sustained' if st['sustained'] else 'NOT: ' + str(st['bound'])}")


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--engines", default="mysql,redis")
    ap.add_argument("--modes", default="kubeblocks,statefulset")
    ap.add_argument("--settings")
    ap.add_argument("--run-dir", type=Path, help="summarise this run directory instead of running")
    ap.add_argument("--json", type=Path, help="also write the summary here")
    a = ap.parse_args(argv)
    run_dir = a.run_dir or run_capacity(a.engines, a.modes, a.settings, Path(tempfile.mkdtemp(prefix="capacity-bench-")))
    s = summarise(run_dir)
    print_summary(s)
    if a.json:
        a.json.write_text(json.dumps(s, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
