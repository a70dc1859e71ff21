"""`harness run`: plan the cells, run them one by one, keep results.json current (the composition root).

The run directory `reports/<run-id>/` holds run.log, settings.json (the exact settings used),
results.json (rewritten after every cell), logs/ (each server's log), cells/ (history and
timeline per cell) and, at the end, the report. `reports/latest` points at the newest run.
SIGINT / SIGTERM stop everything, mark the running cell `failed` (reason `interrupted`), keep
results.json and exit 130 / 143.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import catalog, platforms
from harness.cell import CellEnv, Workload, run_cell
from harness.config import PROFILES, Settings, build_settings, load_settings_file, settings_to_json
from harness.context import RunContext
from harness.contracts import ENGINES, MODES, OPERATION_KINDS, Platform
from harness.errors import HarnessError
from harness.faults import iso
from harness.operations import needs_data_protection
from harness.plan import CellPlan, fmt_duration, plan_cells, planned_total_s, scenario_timings
from harness.procs import ProcessRegistry, find_leftovers, state_dir_from_env
from harness.progress import Progress, make_progress
from harness.results import RESULTS_FILE, ResultsWriter, cell_record
from harness.runmeta import (
    git_sha,
    harness_version,
    host_info,
    new_run_dir,
    point_latest,
    software_versions,
    unavailable_engines,
)
from harness.signals import Interrupted, SignalGate, exit_status, signals_raise

log = logging.getLogger("harness.run")

EXIT_INVALID = 3  # the run finished, but the harness could not vouch for some cells' numbers
PlatformFactory = Callable[[str, RunContext], Platform]
WorkloadFactory = Callable[[RunContext], Workload]


# -- the run -----------------------------------------------------------------------------------
@dataclass
class RunRequest:
    scenarios: list[str]
    platform: str
    engines: list[str]
    modes: list[str]
    settings: Settings
    out: Path
    dry_run: bool = False
    render_report: bool = True
    install_kubeblocks: bool = False  # k8s: move an installed KubeBlocks of another version to the pinned one


def request_from_args(args: argparse.Namespace) -> RunRequest:
    if args.profile not in PROFILES:
        raise HarnessError(f"--profile {args.profile!r}: accepted: {', '.join(PROFILES)}")
    overrides = load_settings_file(args.settings) if getattr(args, "settings", None) else None
    settings = build_settings(args.profile, seed=args.seed, overrides=overrides,
                              source=str(args.settings) if overrides is not None else "settings")
    return RunRequest(scenarios=list(args.scenarios or []), platform=args.platform, engines=list(args.engines),
                      modes=list(args.modes), settings=settings, out=Path(args.out),
                      dry_run=bool(args.dry_run), install_kubeblocks=bool(getattr(args, "install_kubeblocks", False)))


def run_from_args(args: argparse.Namespace) -> int:
    return execute(request_from_args(args))


def execute(req: RunRequest, workload: Workload | None = None, stream: Any = None,
            platform_factory: PlatformFactory = platforms.create,
            workload_factory: WorkloadFactory | None = None) -> int:
    """Runs a request end to end; returns the exit status. The composition root: it builds the run
    context and, from it, the platform and the workload. `workload`, `workload_factory` and
    `platform_factory`: for tests."""
    out_stream = stream or sys.stdout
    say = lambda text: print(text, file=out_stream, flush=True)  # noqa: E731
    selected = catalog.select(req.scenarios)
    unknown = sorted(set(req.settings.timings) - {"*", *catalog.names()})
    if unknown:  # a typo here would silently keep the scenario's own timings
        raise HarnessError(f"settings: timings.{unknown[0]}: unknown scenario {unknown[0]!r}; "
                           f"accepted: *, {', '.join(catalog.names())}")
    for e in req.engines:
        if e not in ENGINES:
            raise HarnessError(f"unknown engine {e!r}; accepted: {', '.join(ENGINES)}")
    for m in req.modes:
        if m not in MODES:
            raise HarnessError(f"unknown mode {m!r}; accepted: {', '.join(MODES)}")
    platform_name, why = platforms.choose(req.platform)
    if req.scenarios:  # named on the command line: an operation that applies nowhere asked is bad input
        _refuse_inapplicable_operations(selected, req.engines, req.modes, platform_name)
    say(f"platform: {platform_name} ({why})")

    leftovers = find_leftovers(state_dir_from_env())
    alive = [lo for lo in leftovers if lo.alive]
    if alive:
        n = sum(len(lo.alive) for lo in alive)
        say(f"warning: {n} process(es) left behind by killed run(s) {', '.join(lo.run_id for lo in alive)}; "
            "run `harness cleanup` to stop them")

    if req.dry_run:
        unavailable: dict[str, str] = {}
        plans_commands = platforms.entry(platform_name).plans_commands
        if not plans_commands:  # local: its preflight only runs `--version`, safe in a dry run
            unavailable = unavailable_engines(platforms.preflight(platform_name), req.engines)
        cells = plan_cells(selected, req.engines, req.modes, req.settings, unavailable, platform=platform_name)
        _print_plan(say, cells, req.settings, dry=True)
        if plans_commands:  # every command and manifest, in order, executing nothing
            from harness.dryrun import dry_run_plan

            say(f"\n{platform_name} commands and manifests, in order (dry run: nothing is executed):")
            dry_run_plan(platform_name, [c for c in cells if c.runnable()], req.settings, out=out_stream,
                         install_kubeblocks=req.install_kubeblocks)
        return 0

    with signals_raise() as gate:  # setup, every cell, teardown and the report
        return _execute_run(req, selected, platform_name, why, workload, out_stream, say, platform_factory,
                            gate, workload_factory)


def _execute_run(req: RunRequest, selected: list[Any], platform_name: str, why: str, workload: Workload | None,
                 out_stream: Any, say: Callable[[str], None], platform_factory: PlatformFactory, gate: SignalGate,
                 workload_factory: WorkloadFactory | None = None) -> int:
    try:
        run_id, run_dir = new_run_dir(req.out, platform_name, req.settings.profile)
        point_latest(req.out, run_id)
    except OSError as e:
        raise HarnessError(f"--out {req.out}: cannot create the run directory there ({e.strerror or e}); "
                           "choose a writable directory") from None
    handler = _setup_logging(run_dir / "run.log")
    try:
        registry = ProcessRegistry(state_dir_from_env() / f"{run_id}.json", run_id)
    except OSError as e:
        logging.getLogger("harness").removeHandler(handler)
        handler.close()
        raise HarnessError(f"state directory {state_dir_from_env()} (HARNESS_STATE_DIR): cannot write there "
                           f"({e.strerror or e})") from None
    results_path = run_dir / RESULTS_FILE
    exit_code = 0
    results: ResultsWriter | None = None
    platform: Platform | None = None
    run_info: dict[str, Any] = {
        "id": run_id, "platform": platform_name, "profile": req.settings.profile, "seed": req.settings.seed,
        "started_at": iso(time.time()), "finished_at": None, "status": "running",
        "harness_version": harness_version(), "git_sha": git_sha(), "host": host_info(),
        "software": software_versions([]), "platform_reason": why, "emulation": platform_name == "local",
    }
    try:
        (run_dir / "settings.json").write_text(json.dumps({
            "profile": req.settings.profile, "platform": platform_name, "platform_reason": why,
            "scenarios": [s.name for s in selected], "engines": req.engines, "modes": req.modes,
            "settings": settings_to_json(req.settings),
            "scenario_timings": {s.name: scenario_timings(s, req.settings, platform_name)[0].model_dump()
                                 for s in selected},
        }, indent=1) + "\n")
        work_dir = Path(os.environ.get("HARNESS_WORK_DIR", "/tmp")) / f"harness-{run_id}"
        run = RunContext(settings=req.settings, run_dir=run_dir, work_dir=work_dir, registry=registry, log=log,
                         out=out_stream, gate=gate, install_kubeblocks=req.install_kubeblocks,
                         data_protection=needs_data_protection(s.fault.kind if s.fault else None for s in selected))
        platform = platform_factory(platform_name, run)
        checks = platform.preflight()
        missing = [c for c in checks if c.required and not c.ok]
        if missing:
            c = missing[0]
            raise HarnessError(f"{platform_name}: {c.name} missing: {c.detail}; fix: {c.fix}")
        cells = plan_cells(selected, req.engines, req.modes, req.settings,
                           unavailable_engines(checks, req.engines), platform=platform_name)
        results = ResultsWriter(results_path, {**run_info, "software": software_versions(checks)})
        results.write()
        run.results = results
        _print_plan(say, cells, req.settings, dry=False)
        say(f"run directory: {run_dir}")
        if workload is None and workload_factory is not None:
            workload = workload_factory(run)
        if workload is None:
            from harness.workload_parts import RealWorkload

            workload = RealWorkload(registry)
        exit_code = _run_cells(cells, platform, workload, run, results)
    except Interrupted as e:  # before the first cell (setup, preflight): no cell to mark
        exit_code = exit_status(e.signum)
        log.warning("interrupted by signal %d during setup", e.signum)
        say(f"interrupted (signal {e.signum}) during setup: stopping everything; results kept in {results_path}")
        results = results or ResultsWriter(results_path, run_info)
        results.update_run(finished_at=iso(time.time()), status="interrupted")
    finally:
        gate.hold()  # a signal now is remembered: the teardown below must finish
        try:
            if platform is not None:
                platform.close()  # e.g. deletes the kind cluster this run created
        finally:
            registry.close()
            logging.getLogger("harness").removeHandler(handler)
            handler.close()
    if gate.got is not None and not exit_code:  # arrived while tearing down a finished run
        exit_code = exit_status(gate.got)
        if results is not None:
            results.update_run(status="interrupted")
    if req.render_report:
        gate.arm()
        try:
            from harness.report import render_run_dir

            paths = render_run_dir(run_dir)
            gate.raise_pending()
        except Interrupted as e:
            say(f"interrupted (signal {e.signum}) while writing the report; results kept in {results_path}")
            return exit_status(e.signum)
        finally:
            gate.hold()
        report = next((p for p in paths if p.name == "report.html"), paths[0] if paths else None)
        say(f"report: {report}")
        say(f"        {run_dir / 'report.md'}  (latest: {req.out / 'latest'})")
    return exit_code


def _refuse_inapplicable_operations(selected: list[Any], engines: list[str], modes: list[str], platform: str) -> None:
    """`harness run switchover --modes statefulset` asks for nothing that exists: one line, exit 2."""
    for sc in selected:
        if sc.fault is None or sc.fault.kind not in OPERATION_KINDS:
            continue
        reasons = [sc.not_applicable_reason(e, m, platform) for e in engines for m in modes]
        if reasons and all(reasons):
            raise HarnessError(f"{sc.name} does not apply to {','.join(engines)} x {','.join(modes)} on {platform}: "
                               f"{reasons[0]}")


def _print_plan(say: Callable[[str], None], cells: list[CellPlan], s: Settings, dry: bool) -> None:
    runnable = [c for c in cells if c.runnable()]
    total = planned_total_s(cells, s.cell_overhead_s)
    say(f"plan: profile {s.profile}, {len(cells)} cells ({len(runnable)} to run), seed {s.seed}, "
        f"planned {fmt_duration(total)} (incl. ~{s.cell_overhead_s:g} s per cell for deploy/seed/check/teardown)")
    if dry:
        for c in runnable:
            say(f"  {c.key}: " + " -> ".join(c.steps()))
    # cells that will not run, grouped by reason so the same sentence is not printed ten times
    grouped: dict[str, list[str]] = {}
    for c in cells:
        if not c.runnable():
            what = f"not applicable: {c.not_applicable}" if c.not_applicable else f"skipped: {c.unavailable}"
            grouped.setdefault(what, []).append(c.key)
    for what, keys in grouped.items():
        say(f"  {len(keys)} cell(s) {what}")
        say(f"      ({', '.join(keys)})")


def _run_cells(cells: list[CellPlan], platform: Platform, workload: Workload, run: RunContext,
               results: ResultsWriter) -> int:
    stream = run.out
    progress: Progress = make_progress(len(cells), planned_total_s(cells, run.settings.cell_overhead_s), stream)
    env = CellEnv(platform=platform, workload=workload, settings=run.settings, run_dir=run.run_dir,
                  on_phase=lambda p: progress.update(phase=p),
                  on_rates=lambda ok, failed: progress.update(ok_s=ok, failed_s=failed), clock=run.clock)
    exit_code = 0
    current: CellPlan | None = None
    try:  # signals: the caller's SignalGate raises Interrupted here
        for i, plan in enumerate(cells, 1):
            current = plan
            progress.cell_started(i, plan.key)
            log.info("cell %d/%d %s start", i, len(cells), plan.key)
            rec = run_cell(env, plan)
            log.info("cell %s: %s %s", plan.key, rec["status"], rec.get("reason") or "")
            results.add_cell(rec)
            progress.cell_finished(rec)
            current = None
            if run.gate is not None:
                run.gate.raise_pending()
    except Interrupted as e:
        exit_code = exit_status(e.signum)
        log.warning("interrupted by signal %d", e.signum)
        if current is not None:
            results.cells.append(cell_record(scenario=current.scenario.name, engine=current.engine,
                                             mode=current.mode, repeat=current.repeat, status="failed",
                                             reason="interrupted"))
        progress.print(f"interrupted (signal {e.signum}): stopping everything; results kept in {results.path}")
    finally:
        progress.close()
        results.update_run(finished_at=iso(time.time()), status="interrupted" if exit_code else "finished")
    line, invalid = summary_line(results.cells)
    print(line, file=stream, flush=True)
    log.info(line)
    return exit_code or (EXIT_INVALID if invalid else 0)


def summary_line(cells: list[dict[str, Any]]) -> tuple[str, int]:
    """`summary: 30 cells: 18 ok, 2 invalid, ...` and the number of invalid cells."""
    n = Counter(c["status"] for c in cells)
    parts = ", ".join(f"{n[s]} {s}" for s in ("ok", "invalid", "failed", "skipped", "not-applicable") if n[s])
    line = f"summary: {len(cells)} cells: {parts or 'none'}"
    if n["invalid"]:
        line += (f"; {n['invalid']} cell(s) invalid: the load generator could not keep its schedule, so their "
                 f"numbers are not vouched for (see the report's first section); exit status {EXIT_INVALID}")
    return line, n["invalid"]


def _setup_logging(path: Path) -> logging.Handler:
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("harness")
    root.setLevel(logging.INFO)
    root.addHandler(handler)
    root.propagate = False
    return handler
