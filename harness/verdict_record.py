"""The checker's verdict as a results.json cell records it, for its readers (report, compare, notebook).

Cells written since the verdict is persisted carry `verdict` ({valid, anomaly_types, checkers: {name:
{valid, reasons, evidence...}}}, see harness.checker.verdict); older results.json files (the nightly
baseline, earlier runs) do not, and their verdict is derived here from the measure blocks by the rules
the checkers apply, so every reader judges both the same way. Pure functions, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

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


def verdict_of(cell: Mapping[str, Any]) -> RecordedVerdict:
    """The cell's persisted verdict, or the one its measure blocks imply."""
    v = cell.get("verdict")
    if isinstance(v, Mapping) and isinstance(v.get("checkers"), Mapping):
        checkers = {name: _record(r) for name, r in v["checkers"].items() if isinstance(r, Mapping)}
        return RecordedVerdict(bool(v.get("valid")), tuple(v.get("anomaly_types") or ()), checkers, True)
    return derived_verdict(cell)


def _record(r: Mapping[str, Any]) -> CheckerRecord:
    evidence = {k: x for k, x in r.items() if k not in ("valid", "reasons")}
    return CheckerRecord(bool(r.get("valid")), tuple(r.get("reasons") or ()), evidence)


def derived_verdict(cell: Mapping[str, Any]) -> RecordedVerdict:
    """The checkers' rules over the measure blocks: availability valid unless `recovered` is false;
    lost valid unless lost_writes > 0 (null: unknown, valid); order valid without duplicate seqs or
    regressions; generator as its block's `valid`; ops and latency always valid."""
    checkers: dict[str, CheckerRecord] = {}
    anomalies: list[str] = []
    if isinstance(ops := cell.get("ops"), Mapping):
        checkers["ops"] = CheckerRecord(True, (), dict(ops))
    if isinstance(lat := cell.get("latency_ms"), Mapping):
        checkers["latency"] = CheckerRecord(True, (), {"latency_ms": dict(lat)})
    if isinstance(av := cell.get("availability"), Mapping):
        ok = av.get("recovered") is not False
        checkers["availability"] = CheckerRecord(ok, () if ok else ("writes did not resume within the observation window",),
                                                 dict(av))
        anomalies += [] if ok else ["not_recovered"]
    if isinstance(cons := cell.get("consistency"), Mapping):
        lost = cons.get("lost_writes")
        checkers["lost"] = CheckerRecord(not lost, (), {"acked_writes": cons.get("acked_writes"), "lost_writes": lost})
        anomalies += ["lost_writes"] if lost else []
        order = {k: cons.get(k) for k in ("duplicate_seqs", "seq_regressions")}
        checkers["order"] = CheckerRecord(not any(order.values()), (), order)
        anomalies += [k for k, n in order.items() if n]
    if isinstance(gen := cell.get("generator"), Mapping):
        checkers["generator"] = CheckerRecord(bool(gen.get("valid")), tuple(gen.get("reasons") or ()), dict(gen))
    return RecordedVerdict(all(c.valid for c in checkers.values()), tuple(anomalies), checkers, False)
