"""The checker's verdict as a results.json cell records it, for its readers (report, compare, notebook).

Cells written since the verdict is persisted carry `verdict` ({valid, anomaly_types, checkers: {name:
{valid, reasons, evidence...}}}, see harness.checker.verdict); older results.json files (the nightly
baseline, earlier runs) do not, and their verdict is derived here from the measure blocks by the rules
the checkers apply, so every reader judges both the same way. Reads the typed cell (harness.results_model;
a cell given as a dict is parsed into it). Pure functions, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.results_model import Cell, CheckerResult, as_cell

DATA_SAFETY = ("lost_writes", "duplicate_seqs", "seq_regressions")  # anomaly types of the read-back and order checkers


@dataclass(frozen=True)
class CheckerRecord:
    valid: bool
    reasons: tuple[str, ...] = ()
    evidence: Mapping[str, Any] = field(default_factory=dict)  # the checker's numbers, as persisted


@dataclass(frozen=True)
class RecordedVerdict:
    valid: bool
    anomaly_types: tuple[str, ...]
    checkers: Mapping[str, CheckerRecord]
    persisted: bool  # False: derived from the measure blocks (a results.json from before the verdict was kept)

    def evidence(self, checker: str, key: str) -> Any:
        c = self.checkers.get(checker)
        return None if c is None else c.evidence.get(key)

    def valid_of(self, checker: str) -> bool | None:
        c = self.checkers.get(checker)
        return None if c is None else c.valid

    @property
    def recovered(self) -> bool:
        """Writes resumed within the window (or there was no fault to resume from)."""
        return self.valid_of("availability") is not False

    @property
    def data_safety_anomalies(self) -> tuple[str, ...]:
        return tuple(a for a in DATA_SAFETY if a in self.anomaly_types)


def verdict_of(cell: Cell | Mapping[str, Any]) -> RecordedVerdict:
    """The cell's persisted verdict, or the one its measure blocks imply."""
    cell = as_cell(cell)
    v = cell.measures.verdict
    if v and v.checkers is not None:
        checkers = {name: _record(r) for name, r in v.checkers.items()}
        return RecordedVerdict(bool(v.valid), tuple(v.anomaly_types), checkers, True)
    return derived_verdict(cell)


def _record(r: CheckerResult) -> CheckerRecord:
    return CheckerRecord(bool(r.valid), tuple(r.reasons), r.evidence)


def derived_verdict(cell: Cell | Mapping[str, Any]) -> RecordedVerdict:
    """The checkers' own rules (their result types) over the measure blocks: availability valid unless
    `recovered` is false; lost valid unless lost_writes > 0 (null: unknown, valid); order valid without
    duplicate seqs or regressions; generator as its block's `valid`; ops and latency always valid."""
    from harness.checker.availability import AvailabilityResult
    from harness.checker.lost import LostResult
    from harness.checker.order import OrderResult

    m = as_cell(cell).measures
    checkers: dict[str, CheckerRecord] = {}
    anomalies: list[str] = []
    if m.ops:
        checkers["ops"] = CheckerRecord(True, (), m.ops.as_dict())
    if m.latency_ms:
        checkers["latency"] = CheckerRecord(True, (), {"latency_ms": m.latency_ms.as_dict()})
    if av := m.availability:
        a = AvailabilityResult(write_gap_s=av.write_gap_s, rto_s=av.rto_s, recovered=av.recovered, gap_start_us=None,
                               gap_end_us=None, throughput_ops_s={}, windows={})
        checkers["availability"] = CheckerRecord(a.valid, a.reasons, av.as_dict())
        anomalies += a.anomalies
    if cons := m.consistency:
        lost_n = None if cons.lost_writes is None else int(cons.lost_writes)  # counts: integers in results.json
        lost = LostResult(acked_writes=int(cons.acked_writes or 0), checked=None, lost_writes=lost_n)
        checkers["lost"] = CheckerRecord(lost.valid, lost.reasons,
                                         {"acked_writes": cons.acked_writes, "lost_writes": cons.lost_writes})
        anomalies += lost.anomalies
        order = OrderResult(streams=0, duplicate_seqs=int(cons.duplicate_seqs or 0),
                            seq_regressions=int(cons.seq_regressions or 0))
        checkers["order"] = CheckerRecord(order.valid, order.reasons,
                                          {"duplicate_seqs": cons.duplicate_seqs, "seq_regressions": cons.seq_regressions})
        anomalies += order.anomalies
    if gen := m.generator:
        checkers["generator"] = CheckerRecord(bool(gen.valid), tuple(gen.reasons or ()), gen.as_dict())
    return RecordedVerdict(all(c.valid for c in checkers.values()), tuple(anomalies), checkers, False)
