"""One streaming pass over a cell's histories, feeding every checker, then their composition.

The pass reads each record once and hands it to each checker (`invoke` / `complete`); the
checkers keep only what their own judgement needs. The generator's delivered rate needs the
availability checker's windows, so it is judged after it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from harness.checker.availability import AvailabilityChecker
from harness.checker.generator import GeneratorChecker
from harness.checker.input import DEFAULT_GAP_FLOOR_S, CheckInput, ValidityLimits
from harness.checker.latency import LatencyChecker
from harness.checker.lost import LostChecker
from harness.checker.measures import CellMeasures
from harness.checker.operation import OperationChecker
from harness.checker.ops import OpsChecker
from harness.checker.order import OrderChecker
from harness.checker.timeline import TimelineCollector
from harness.checker.verdict import Verdict
from harness.faults import FaultWindow
from harness.history import iter_records

if TYPE_CHECKING:
    from harness.workload.readback import ReadBackResult


class Collector(Protocol):
    def invoke(self, fi: int, r: dict[str, Any]) -> None: ...

    def complete(self, fi: int, r: dict[str, Any]) -> None: ...


class Checker(Protocol):
    """The cell's checker seam: a whole cell's input in, its measures and verdict out."""

    def check(self, inp: CheckInput) -> CellMeasures: ...


def stream(paths: Sequence[Path], collectors: Sequence[Collector]) -> None:
    """Every record of every history, once, to every collector (`fi`: the file's index, as op ids
    are per worker file). Collectors with `wants_invokes = False` are not called for invokes."""
    on_invoke = [c.invoke for c in collectors if getattr(c, "wants_invokes", True)]
    on_complete = [c.complete for c in collectors]
    for fi, path in enumerate(paths):
        for r in iter_records([path]):
            for f in on_invoke if r["type"] == "invoke" else on_complete:
                f(fi, r)


def check_input(inp: CheckInput) -> CellMeasures:
    """The checkers over one pass, composed into the verdict. See the package doc for the definitions."""
    fault = inp.fault
    ops = OpsChecker()
    latency = LatencyChecker(fault.injected_at_us if fault else inp.load_end_us)
    avail = AvailabilityChecker(load_start_us=inp.load_start_us, load_end_us=inp.load_end_us, fault=fault,
                                gap_floor_s=inp.gap_floor_s)
    lost = LostChecker(inp.readback)
    order = OrderChecker()
    gen = GeneratorChecker(load_start_us=inp.load_start_us, load_end_us=inp.load_end_us,
                           offered_ops_s=inp.offered_ops_s, hub_paths=inp.hub_paths, start_late_us=inp.start_late_us,
                           limits=inp.limits, worker_cpu=inp.worker_cpu)
    timeline = TimelineCollector(inp.load_start_us)
    operation = None
    if inp.operation is not None and fault is not None:
        operation = OperationChecker(evidence=inp.operation, window=fault, load_start_us=inp.load_start_us,
                                     load_end_us=inp.load_end_us)
    stream(inp.history_paths, (ops, latency, avail, lost, order, gen, timeline) + ((operation,) if operation else ()))

    o, lat, av, lo, od = ops.result(), latency.result(), avail.result(), lost.result(), order.result()
    g = gen.result(av.windows)
    op = operation.result() if operation else None
    verdict = Verdict({"ops": o, "latency": lat, "availability": av, "lost": lo, "order": od, "generator": g,
                       **({"operation": op} if op else {})})
    return CellMeasures(
        ops=o.counts, throughput_ops_s=av.throughput_ops_s, latency_ms=lat.latency_ms,
        latency_steady_ms=lat.latency_steady_ms, write_gap_s=av.write_gap_s, rto_s=av.rto_s, recovered=av.recovered,
        gap_start_us=av.gap_start_us, gap_end_us=av.gap_end_us, acked_writes=lo.acked_writes,
        lost_writes=lo.lost_writes, duplicate_seqs=od.duplicate_seqs, seq_regressions=od.seq_regressions,
        load_start_us=inp.load_start_us, load_end_us=inp.load_end_us, fault=fault,
        response_time_ms=lat.response_time_ms, generator=g, by_op=o.by_op, lost=list(lo.lost),
        duplicates=list(od.duplicates), regressions=list(od.regressions), timeline=timeline.rows(),
        notes=o.notes + lo.notes, verdict=verdict, operation=op)


class HistoryChecker:
    """The default `Checker`: every checker of this package over one pass."""

    def check(self, inp: CheckInput) -> CellMeasures:
        return check_input(inp)


def check(
    history_paths: Iterable[Path],
    *,
    load_start_us: int,
    load_end_us: int,
    fault: FaultWindow | None,
    readback: ReadBackResult | None,
    gap_floor_s: float = DEFAULT_GAP_FLOOR_S,
    offered_ops_s: float | None = None,
    hub_paths: Iterable[Path] = (),
    start_late_us: int = 0,
    limits: ValidityLimits | None = None,
    worker_cpu: float | None = None,
) -> CellMeasures:
    """The keyword form of `check_input` (tests, benchmarks and the failover checks use it)."""
    return check_input(CheckInput(
        history_paths=tuple(Path(p) for p in history_paths), load_start_us=load_start_us, load_end_us=load_end_us,
        fault=fault, readback=readback, offered_ops_s=offered_ops_s, hub_paths=tuple(hub_paths),
        start_late_us=start_late_us, worker_cpu=worker_cpu, limits=limits or ValidityLimits(), gap_floor_s=gap_floor_s))
