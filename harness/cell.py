"""One cell: deploy -> seed -> warm up -> load with the fault schedule -> observe recovery ->
read back and check -> write timeline + history artifacts -> tear down (always).

The cell only composes the parts: a `Platform`, a `Workload` (load + checker, see
`harness/workload_parts.py`) and the nemesis. A cell's own exception becomes status `failed`
with the error as reason; `CellSkipped` becomes `skipped`; a load generator that could not keep
its schedule makes the cell `invalid` (measured, but not vouched for). `Interrupted` (a signal) propagates
after teardown so the run loop can stop.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from harness import engines
from harness.capacity import CapacityLimits, StepResult, conclude, judge_step, step_rates
from harness.cell_evidence import FootprintWindow, config_block, divergence_block, observability_block
from harness.checker import CheckInput
from harness.checker.operation import OperationEvidence, RestoreResult, judge_restore
from harness.clock import Clock, RealClock
from harness.config import Settings
from harness.contracts import (
    OPERATION_KINDS,
    BackupArtifact,
    Deployment,
    Endpoint,
    Fault,
    Platform,
)
from harness.errors import CellNotApplicable, CellSkipped
from harness.faults import NEMESIS_FILE, FaultWindow, Nemesis, Observer, Schedule, iso
from harness.noop import NoopNemesis
from harness.operations import EndState, deploy_spec_for, operations_of
from harness.plan import CellPlan
from harness.results import cell_record
from harness.signals import Interrupted
from harness.targeting import sole_primary

log = logging.getLogger("harness.cell")

POLL_S = 0.5
END_STATE_WAIT_S = 60.0  # after a day-2 operation: how long the engines may take to report healthy


class LoadHandle(Protocol):
    history_paths: list[Path]
    load_start_us: int  # when the measured window starts (after the warm-up; the history's clock)

    def rates(self) -> tuple[float, float]:
        """(ok/s, failed/s) over the last second, for the progress line."""
        ...

    def done(self) -> bool: ...

    def finish(self, timeout_s: float) -> dict[str, Any]:
        """Waits for the load to end; returns offered vs achieved (for the results' `load` block)."""
        ...

    def stop(self) -> None: ...


class Workload(Protocol):
    """The load generator and the checker, as the cell needs them (adapter over harness.workload)."""

    def seed(self, endpoint: Endpoint, engine: str, settings: Settings) -> Any: ...

    def start(self, endpoint: Endpoint, engine: str, mix: dict[str, float], duration_s: float,
              settings: Settings, seed_info: Any, out_dir: Path, log_path: Path, *,
              warmup_s: float = 0.0) -> LoadHandle:
        """Starts users that warm up for `warmup_s` (not in `out_dir`'s history), then run the
        measured window of `duration_s` from `load_start_us`, without reconnecting in between."""
        ...

    def measure(self, endpoint: Endpoint, engine: str, inp: CheckInput, timeline_path: Path) -> dict[str, Any]:
        """Reads back, checks `inp` (a `harness.checker.Checker`), writes the per-second timeline CSV;
        returns the results sub-dicts, the persisted `verdict` among them."""
        ...

    def read_restored(self, endpoint: Endpoint, engine: str, history_paths: list[Path]) -> list[tuple[Any, bool]]:
        """(acknowledged write, found) for every acknowledged write, read from a restored copy."""
        ...

    def open_pools(self, endpoint: Endpoint, engine: str, processes: int | None, pool: int | None) -> dict[str, Any]:
        """OpenIM's connection pools opened against the server and closed again (harness.connections):
        the results' `connections` block."""
        ...


@dataclass
class CellEnv:
    platform: Platform
    workload: Workload
    settings: Settings
    run_dir: Path
    on_phase: Callable[[str], None] = lambda phase: None
    on_rates: Callable[[float, float], None] = lambda ok, failed: None
    clock: Clock = field(default_factory=RealClock)
    observe: Observer | None = None  # hears the nemesis's actions (the dry run prints them)


def _rel(run_dir: Path, p: Path) -> str:
    return str(Path(p).relative_to(run_dir))


def run_cell(env: CellEnv, plan: CellPlan) -> dict[str, Any]:
    """Runs one cell and returns its results record. Never raises except `Interrupted`."""
    base: dict[str, Any] = {"scenario": plan.scenario.name, "engine": plan.engine, "mode": plan.mode, "repeat": plan.repeat}
    timings = plan.timings.model_dump()
    if plan.not_applicable:
        return cell_record(**base, status="not-applicable", reason=plan.not_applicable, timings=timings)
    if plan.unavailable:
        return cell_record(**base, status="skipped", reason=plan.unavailable, timings=timings)
    cell_dir = env.run_dir / "cells" / plan.dir_name
    cell_dir.mkdir(parents=True, exist_ok=True)
    started_wall = time.time()
    started = time.monotonic()
    state: dict[str, Any] = {}
    try:
        measured = _run_deployed(env, plan, cell_dir, state)
        status, reason = _status_of(measured.get("measures") or {})
    except CellSkipped as e:
        measured, status, reason = {}, "skipped", e.reason
    except CellNotApplicable as e:
        measured, status, reason = {}, "not-applicable", e.reason
    except Interrupted:
        raise
    except Exception as e:  # noqa: BLE001 - a cell's failure is a result, the run goes on
        log.exception("cell %s failed", plan.key)
        measured, status, reason = {}, "failed", f"{type(e).__name__}: {e}"[:500]
    rec = cell_record(
        **base,
        status=status,
        reason=reason,
        topology=state.get("topology"),
        fault=measured.get("fault"),
        measures=measured.get("measures"),
        artifacts=_artifacts(env.run_dir, cell_dir, measured, state.get("dep_id")),
        timings=timings,
        started_at=iso(started_wall),
        wall_s=round(time.monotonic() - started, 1),
        server_version=state.get("version"),
        role_changes=state.get("role_changes", []),
        service_endpoints=state.get("service_endpoints"),
        load=measured.get("load"),
        config=state.get("config"),
        footprint=state.get("footprint"),
        divergence=state.get("divergence"),
        observability=state.get("observability"),
    )
    return rec


def _status_of(measures: dict[str, Any]) -> tuple[str, str | None]:
    """`invalid` when the load generator could not keep its schedule: then the cell's availability
    numbers describe the generator, not the database, and no verdict may be drawn from them.
    Read from the persisted verdict's generator checker (the `generator` block without one)."""
    gen = ((measures.get("verdict") or {}).get("checkers") or {}).get("generator") or measures.get("generator") or {}
    if gen.get("valid") is False:
        return "invalid", "the harness could not measure this cell: " + "; ".join(gen.get("reasons") or ["?"])
    return "ok", None


def _artifacts(run_dir: Path, cell_dir: Path, measured: dict[str, Any], dep_id: str | None) -> dict[str, Any]:
    hist = measured.get("history_dir")
    tl = measured.get("timeline")
    logs = run_dir / "logs" / dep_id if dep_id else run_dir / "logs"
    return {
        "history": _rel(run_dir, hist) if hist else None,
        "timeline": _rel(run_dir, tl) if tl and Path(tl).exists() else None,
        "logs": _rel(run_dir, logs) if logs.exists() else None,
        "cell_log": _rel(run_dir, cell_dir / "load.log") if (cell_dir / "load.log").exists() else None,
    }


def _run_deployed(env: CellEnv, plan: CellPlan, cell_dir: Path, state: dict[str, Any]) -> dict[str, Any]:
    s = env.settings
    t = plan.timings
    env.on_phase("deploy")
    spec = deploy_spec_for(plan.fault, plan.engine, s.deploy_spec())
    deployed_wall = env.clock.wall()
    dep: Deployment = env.platform.deploy(plan.engine, plan.mode, spec)
    state["dep_id"] = dep.id
    state["config"] = config_block(env.platform, dep, spec)
    state["topology"] = dep.topology.to_json()
    state["version"] = dep.version
    nemesis: Schedule = NoopNemesis()
    load: LoadHandle | None = None
    try:
        endpoint = env.platform.endpoint(dep)
        log.info("%s deployed: %s", plan.key, endpoint.describe())
        if plan.scenario.measure == "connections":
            return _connection_limits(env, plan, endpoint)
        env.on_phase("seed")
        seed_info = env.workload.seed(endpoint, plan.engine, s)
        mix = dict(plan.scenario.mix[plan.engine])
        if plan.scenario.measure == "capacity":
            return _capacity_search(env, plan, dep, endpoint, seed_info, mix, cell_dir)
        if plan.fault is not None and plan.fault.kind in OPERATION_KINDS:
            pod = sole_primary(env.platform.pods(dep))
            state["primary_before"] = pod.name if pod else None

        # one load run: the users connect, warm up, and go on into the measured window without
        # reconnecting; `load_start_us` (the checker's window) begins after the warm-up
        env.on_phase("warm up")
        hist_dir = cell_dir / "history"
        load = env.workload.start(endpoint, plan.engine, mix, t.load_s, s, seed_info, hist_dir,
                                  cell_dir / "load.log", warmup_s=t.warmup_s)
        load_start_us = load.load_start_us
        state["load_start_us"] = load_start_us
        clock = env.clock
        state["load_start_wall"] = clock.wall() + (load_start_us - clock.now_us()) / 1e6
        steady_end_us = load_start_us + int(t.before_fault_s * 1e6)
        fault = plan.fault
        if fault is not None:
            nemesis = Nemesis(env.platform, dep, fault, at_us=steady_end_us, clock=clock,
                              history=hist_dir / NEMESIS_FILE, observe=env.observe).start()
        footprint = FootprintWindow(env.platform, dep, load_start_us, steady_end_us, clock)
        summary = _follow(env, load, t.load_s + max(0.0, (load_start_us - clock.now_us()) / 1e6), s.cell_timeout_s,
                          nemesis=nemesis, recover_at_us=steady_end_us + int(t.fault_s * 1e6),
                          measured_from_us=load_start_us, tick=footprint.tick)
        footprint.finish()
        state["footprint"] = footprint.block
        load_end_us = int(summary.get("load_end_us") or clock.now_us())
        load = None
        window: FaultWindow | None = None
        if fault is not None:
            nemesis.stop()
            _raise_nemesis_error(nemesis)
            window = nemesis.window()
            if window is None:
                raise RuntimeError(f"the {fault.kind} fault was never injected")
        operation = None
        if window is not None and window.operation:
            operation = _operation_evidence(env, plan, dep, nemesis, window, _history_paths(hist_dir), state)

        env.on_phase("read back + check")
        timeline = cell_dir / "timeline.csv"
        inp = CheckInput.for_cell(history_paths=_history_paths(hist_dir), load_start_us=load_start_us,
                                  load_end_us=load_end_us, fault=window, settings=s, load=summary, operation=operation)
        measures = env.workload.measure(endpoint, plan.engine, inp, timeline)
        env.on_phase("compare replicas")
        state["divergence"] = divergence_block(env.platform, dep)
        state["role_changes"] = _role_changes(env.platform, dep, state["load_start_wall"])
        env.on_phase("server view")
        state["observability"] = observability_block(env.platform, dep, _span(
            env, plan, dep, deployed_wall, state, load_end_us, window, _history_paths(hist_dir), measures), cell_dir, env.run_dir)
        state["service_endpoints"] = endpoint_evidence(env.platform, dep)
        return {
            "measures": measures,
            "fault": window.to_results(load_start_us) if window else None,
            "history_dir": hist_dir,
            "timeline": timeline,
            "load": summary,
        }
    finally:
        env.on_phase("tear down")
        if load is not None:
            _quietly(load.stop, "stopping the load")
        _quietly(nemesis.stop, "recovering the fault")
        if "role_changes" not in state:
            state["role_changes"] = _role_changes(env.platform, dep, state.get("load_start_wall"))
            state["service_endpoints"] = endpoint_evidence(env.platform, dep)
        env.platform.teardown(dep)


def _span(env: CellEnv, plan: CellPlan, dep: Deployment, deployed_wall: float, state: dict[str, Any], load_end_us: int,
          window: FaultWindow | None, history_paths: list[Path], measures: dict[str, Any]) -> Any:
    from harness.observe.collect import CellSpan

    avail = measures.get("availability") or {}
    try:
        changes = env.platform.role_changes(dep)
    except Exception:  # noqa: BLE001 - the cross-check then has no role evidence, and says so
        changes = []
    return CellSpan(engine=plan.engine, deployed_wall=deployed_wall, load_start_us=state["load_start_us"],
                    load_start_wall=state["load_start_wall"], load_end_us=load_end_us,
                    injected_us=window.injected_at_us if window else None, history_paths=history_paths,
                    client_commands=engines.get(plan.engine).client_commands, role_changes=changes,
                    write_gap_s=avail.get("write_gap_s"), rto_s=avail.get("rto_s"))


def _capacity_search(env: CellEnv, plan: CellPlan, dep: Deployment, endpoint: Endpoint, seed_info: Any,
                     mix: dict[str, float], cell_dir: Path) -> dict[str, Any]:
    """Steps of offered load on one deployment, each its own load run (warm-up, then the measured
    window) and its own check, until a step is not sustained. The cell's measures are those of the
    highest sustained step (else of the last one run), its `capacity` block holds every step."""
    s, t = env.settings, plan.timings
    c = s.capacity
    limits = CapacityLimits(slo_p99_ms=c.slo_p99_ms, max_error_fraction=c.max_error_fraction,
                            min_delivered=s.validity.min_delivered)
    rates = step_rates(c.start_ops_s, c.factor, c.max_ops_s)
    cpus = os.cpu_count() or 1
    steps: list[StepResult] = []
    kept: dict[str, Any] = {}
    for i, rate in enumerate(rates):
        step_dir = cell_dir / "steps" / f"{i:02d}-{rate:g}"
        step_s = s.model_copy(update={"load": s.load.model_copy(update={"rate_ops_s": rate})})
        env.on_phase(f"step {i + 1}/{len(rates)}: {rate:g} ops/s")
        load = env.workload.start(endpoint, plan.engine, mix, t.before_fault_s, step_s, seed_info, step_dir / "history",
                                  step_dir / "load.log", warmup_s=t.warmup_s)
        footprint = FootprintWindow(env.platform, dep, load.load_start_us,
                                    load.load_start_us + int(t.before_fault_s * 1e6), env.clock)
        try:
            summary = _follow(env, load, t.before_fault_s + max(0.0, (load.load_start_us - env.clock.now_us()) / 1e6),
                              s.cell_timeout_s, measured_from_us=load.load_start_us, tick=footprint.tick)
            footprint.finish()
        finally:
            load.stop()
        server_share = _server_cpu_share(footprint.block, cpus)
        inp = CheckInput.for_cell(history_paths=_history_paths(step_dir / "history"), load_start_us=load.load_start_us,
                                  load_end_us=int(summary.get("load_end_us") or env.clock.now_us()), fault=None,
                                  settings=step_s, load=summary)
        measures = env.workload.measure(endpoint, plan.engine, inp, step_dir / "timeline.csv")
        step = judge_step(rate, measures, summary, limits, cpus, server_share)
        steps.append(step)
        log.info("%s step %g ops/s: %s", plan.key, rate, step.why)
        if step.sustained or not kept:
            kept = {"measures": measures, "history_dir": step_dir / "history", "timeline": step_dir / "timeline.csv",
                    "load": summary}
        if not step.sustained:
            break
    result = conclude(steps, rates)
    kept["measures"] = {**kept["measures"], "capacity": result.to_results()}
    return kept


def _connection_limits(env: CellEnv, plan: CellPlan, endpoint: Endpoint) -> dict[str, Any]:
    """OpenIM's pools, process by process, against the server's own limit (no load runs meanwhile)."""
    c = env.settings.connections
    env.on_phase("open OpenIM's connection pools")
    return {"measures": {"connections": env.workload.open_pools(endpoint, plan.engine, c.processes, c.pool)}}


def _server_cpu_share(footprint: dict[str, Any] | None, cpus: int) -> float | None:
    """The database pods' CPU seconds in the step's measured window over its length and the machine's cores."""
    if not footprint:
        return None
    cpu = [p["cpu_s"] for p in footprint["pods"] if p["kind"] != "control-plane" and p["cpu_s"] is not None]
    wall = float(footprint.get("window_s") or 0.0)
    return round(sum(cpu) / (wall * cpus), 4) if cpu and wall > 0 else None


def _operation_evidence(env: CellEnv, plan: CellPlan, dep: Deployment, nemesis: Schedule, window: FaultWindow,
                        history_paths: list[Path], state: dict[str, Any]) -> OperationEvidence:
    """After the load: the engines' own status until healthy, the primary changes since the
    operation began, and for a backup its restore into a new deployment, read back."""
    outcome = nemesis.outcome
    if outcome is None:
        raise RuntimeError(f"the {window.kind} operation reported no outcome")
    env.on_phase("end state")
    end_state = _settle(env, dep)
    changes = [c for c in env.platform.role_changes(dep) if c.at_wall >= window.injected_at_wall]
    restore = None
    if outcome.backup is not None:
        env.on_phase("restore + read back")
        restore = _restore_and_read(env, plan, dep, outcome.backup, window, history_paths,
                                    int(state.get("load_start_us") or window.injected_at_us))
    return OperationEvidence(kind=window.kind, outcome=outcome, end_state=end_state,
                             primary_before=state.get("primary_before"), primary_changes=len(changes), restore=restore)


def _settle(env: CellEnv, dep: Deployment) -> EndState:
    """Polls the engines' replication status, once the load is over, until healthy (or the wait
    ends: then as last seen); `settled_s` counts from the first poll."""
    ops = operations_of(env.platform)
    clock = env.clock
    started_us = clock.now_us()
    deadline_us = started_us + int(END_STATE_WAIT_S * 1e6)
    while True:
        end = EndState(tuple(ops.replication_state(dep)), None)
        if end.healthy:
            return replace(end, settled_s=round((clock.now_us() - started_us) / 1e6, 3))
        if clock.now_us() > deadline_us:
            return end
        clock.sleep(POLL_S)


def _restore_and_read(env: CellEnv, plan: CellPlan, dep: Deployment, backup: BackupArtifact, window: FaultWindow,
                      history_paths: list[Path], load_start_us: int) -> RestoreResult:
    """KubeBlocks never restores in place: a new deployment from the backup, read back, torn down."""
    ops = operations_of(env.platform)
    t0 = env.clock.now_us()
    restored = ops.restore(dep, backup)
    try:
        duration_s = (env.clock.now_us() - t0) / 1e6
        read = env.workload.read_restored(env.platform.endpoint(restored), plan.engine, history_paths)
    finally:
        env.platform.teardown(restored)
    return judge_restore(read, backup_started_us=window.injected_at_us, load_start_us=load_start_us,
                         duration_s=duration_s)


def _history_paths(hist_dir: Path) -> list[Path]:
    """The load workers' op histories (the nemesis's own file beside them is read as fault windows)."""
    return sorted(hist_dir.glob("history-*.jsonl"))


def _raise_nemesis_error(nemesis: Schedule) -> None:
    """A fault the platform cannot do makes the cell not applicable; any other nemesis error fails it."""
    e = nemesis.error
    if e is None:
        return
    if isinstance(e, CellNotApplicable):
        raise e
    raise RuntimeError(f"fault injection failed: {type(e).__name__}: {e}")


def _follow(env: CellEnv, load: LoadHandle, duration_s: float, slack_s: float,
            nemesis: Schedule | None = None, recover_at_us: int | None = None,
            measured_from_us: int | None = None, tick: Callable[[], None] | None = None) -> dict[str, Any]:
    """Polls a running load for the progress line until it ends; a hung load fails the cell.
    `tick` runs at every poll (the footprint window follows the load's clock through it)."""
    clock = env.clock
    deadline_us = clock.now_us() + int((duration_s + slack_s) * 1e6)
    while not load.done():
        if tick is not None:
            tick()
        if clock.now_us() > deadline_us:
            load.stop()
            raise TimeoutError(f"the load did not finish within {duration_s + slack_s:.0f} s")
        if nemesis is not None and nemesis.error is not None:
            load.stop()
            _raise_nemesis_error(nemesis)
        ok, failed = load.rates()
        env.on_rates(ok, failed)
        if measured_from_us is not None and clock.now_us() < measured_from_us:
            pass  # still warming up: the phase stays "warm up"
        elif nemesis is not None and nemesis.fault is not None:
            env.on_phase(_fault_phase(nemesis, nemesis.fault, recover_at_us, clock.now_us()))
        elif measured_from_us is not None:
            env.on_phase("load")
        clock.sleep(POLL_S)
    return load.finish(timeout_s=30)


def _fault_phase(nemesis: Schedule, fault: Fault, recover_at_us: int | None, now: int) -> str:
    if not nemesis.injected:
        return f"load, {fault.kind} in {max(0.0, (nemesis.at_us - now) / 1e6):.0f} s"
    if fault.duration_s and recover_at_us and now < recover_at_us:
        return f"{fault.kind} in force, recover in {(recover_at_us - now) / 1e6:.0f} s"
    return "observing recovery"


def _role_changes(platform: Platform, dep: Deployment, load_start_wall: float | None) -> list[dict[str, Any]]:
    """The servers' own record of primary changes: the independent evidence for the RTO."""
    try:
        changes = platform.role_changes(dep)
    except Exception as e:  # noqa: BLE001 - evidence is best effort; the cell's measures stand
        log.warning("role changes unavailable: %s", e)
        return []
    return [{"at": iso(c.at_wall), "new_primary": c.new_primary, "source": c.source,
             "at_s": None if load_start_wall is None else round(c.at_wall - load_start_wall, 3)}
            for c in changes]


def endpoint_evidence(platform: Platform, dep: Deployment) -> dict[str, Any] | None:
    """The platform's optional endpoint evidence for results.json (`service_endpoints`); best effort."""
    fn = getattr(platform, "endpoint_evidence", None)
    if fn is None:
        return None
    try:
        return fn(dep)
    except Exception as e:  # noqa: BLE001 - evidence is best effort; the cell's measures stand
        log.warning("endpoint evidence unavailable: %s", e)
        return None


def _quietly(fn: Callable[[], None], what: str) -> None:
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - teardown continues
        log.error("%s: %s", what, e)
