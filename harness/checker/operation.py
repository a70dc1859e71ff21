"""A day-2 operation: what it cost the traffic while it ran, whether it left the deployment healthy,
and, for a backup, whether the restored copy is a consistent cut of what was acknowledged.

Valid unless the operation left the deployment unhealthy (not exactly one primary, a replica not
replicating or behind: the engines' own status, polled after the load), did not finish before the
load ended, or its restored copy is not a consistent snapshot.

The restored copy (Jepsen's set checker against a snapshot instead of the live primary): a copy that
holds write B holds the database as of some instant after B was sent, so every write acknowledged
before B was sent must be there too. `consistent_point` = the latest send time of a write the copy
holds; a write acknowledged before it and missing is a *hole* (lost). Writes acknowledged after it
are simply younger than the backup. A copy whose point lies before the backup began (more than
`gap_floor_s`: the secondary's normal lag) is *stale*: acknowledged writes older than the backup are
missing from it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hdrh.histogram import HdrHistogram

from harness.checker.latency import HDR_MAX_US, pcts
from harness.faults import FaultWindow

if TYPE_CHECKING:
    from harness.contracts import OpOutcome
    from harness.history import AckedWrite
    from harness.operations import EndState

MAX_HOLES = 20  # holes listed as evidence; the count is always exact


@dataclass(frozen=True)
class RestoreResult:
    duration_s: float  # restore start -> the restored deployment takes writes
    checked: int
    found: int
    holes: int
    consistent_point_us: int | None  # None: the copy holds none of the checked writes
    backup_started_us: int
    load_start_us: int
    first_holes: tuple[AckedWrite, ...] = ()
    gap_floor_s: float = 1.0

    @property
    def missing(self) -> int:
        return self.checked - self.found

    @property
    def stale_s(self) -> float:
        """How far the copy's point lies before the backup began (0 when it is at or after it)."""
        point = self.consistent_point_us if self.consistent_point_us is not None else self.load_start_us
        return round(max(0, self.backup_started_us - point) / 1e6, 3)

    @property
    def valid(self) -> bool:
        return self.holes == 0 and self.stale_s <= self.gap_floor_s

    @property
    def reasons(self) -> tuple[str, ...]:
        out = []
        if self.holes:
            out.append(f"{self.holes} writes acknowledged before the backup's consistent point are not in the "
                       "restored copy")
        if self.stale_s > self.gap_floor_s:
            out.append(f"the restored copy is {self.stale_s:.2f} s older than the backup's start")
        return tuple(out)

    def to_results(self) -> dict[str, Any]:
        def rel(us: int) -> float:
            return round((us - self.load_start_us) / 1e6, 3)

        return {"valid": self.valid, "reasons": list(self.reasons), "duration_s": round(self.duration_s, 3),
                "checked": self.checked, "found": self.found, "missing": self.missing, "holes": self.holes,
                "consistent_point_s": None if self.consistent_point_us is None else rel(self.consistent_point_us),
                "stale_s": self.stale_s,
                "first_holes": [{"stream": w.stream, "id": w.id, "ack_s": rel(w.ack_us)} for w in self.first_holes]}


def judge_restore(read: Iterable[tuple[AckedWrite, bool]], *, backup_started_us: int, load_start_us: int,
                  duration_s: float, gap_floor_s: float = 1.0) -> RestoreResult:
    """Pure: (acknowledged write, found in the restored copy) pairs -> holes and the consistent point."""
    pairs = list(read)
    found = [w for w, ok in pairs if ok]
    point = max((w.invoke_us for w in found), default=None)
    holes = sorted((w for w, ok in pairs if not ok and point is not None and w.ack_us < point),
                   key=lambda w: w.ack_us)
    return RestoreResult(duration_s=duration_s, checked=len(pairs), found=len(found), holes=len(holes),
                         consistent_point_us=point, backup_started_us=backup_started_us, load_start_us=load_start_us,
                         first_holes=tuple(holes[:MAX_HOLES]), gap_floor_s=gap_floor_s)


@dataclass(frozen=True)
class OperationEvidence:
    """What the cell saw of the operation beyond the history: the platform's outcome, the engines'
    status afterwards, the primaries, the restored copy."""

    kind: str
    outcome: OpOutcome
    end_state: EndState
    primary_before: str | None
    primary_changes: int
    restore: RestoreResult | None = None


@dataclass(frozen=True)
class OperationResult:
    evidence: OperationEvidence
    window: FaultWindow
    load_start_us: int
    load_end_us: int
    latency_during_ms: dict[str, float] = field(default_factory=dict)

    @property
    def within_load(self) -> bool:
        return self.window.recovered_at_us is not None and self.window.recovered_at_us <= self.load_end_us

    @property
    def valid(self) -> bool:
        return not self.reasons

    @property
    def reasons(self) -> tuple[str, ...]:
        out = [f"end state: {r}" for r in self.evidence.end_state.reasons]
        if not self.within_load:
            out.append("the operation did not finish before the load ended: its cost was not measured whole")
        if self.evidence.restore is not None:
            out += [f"restore: {r}" for r in self.evidence.restore.reasons]
        return tuple(out)

    @property
    def anomalies(self) -> tuple[str, ...]:
        out = []
        if not self.evidence.end_state.healthy:
            out.append("unhealthy_end_state")
        if self.evidence.restore is not None and not self.evidence.restore.valid:
            out.append("restore_inconsistent")
        if not self.within_load:
            out.append("operation_outlasted_load")
        return tuple(out)

    def to_results(self) -> dict[str, Any]:
        w, ev, o = self.window, self.evidence, self.evidence.outcome
        start_wall = w.injected_at_wall

        def rel_us(us: int | None) -> float | None:
            return None if us is None else round((us - self.load_start_us) / 1e6, 3)

        def rel_wall(wall: float) -> float:  # a platform's wall time on the history's clock
            return round((w.injected_at_us - self.load_start_us) / 1e6 + (wall - start_wall), 3)

        after = [p.pod for p in ev.end_state.pods if p.role == "primary"]
        backup = None
        if o.backup is not None:
            b = o.backup
            step = next((s for s in o.steps if s.action == "backup"), None)
            backup = {"method": b.method, "source_pod": b.source_pod, "size_bytes": b.size_bytes,
                      "consistent_point": b.consistent_point,
                      "duration_s": round(step.done_wall - step.started_wall, 3) if step else w.duration_s}
        return {
            "valid": self.valid, "reasons": list(self.reasons), "kind": ev.kind, "source": o.source, "phase": o.phase,
            "started_at_s": rel_us(w.injected_at_us), "done_at_s": rel_us(w.recovered_at_us),
            "duration_s": w.duration_s, "within_load": self.within_load,
            "steps": [{"pod": s.pod, "action": s.action, "at_s": rel_wall(s.started_wall),
                       "done_s": rel_wall(s.done_wall), "ok": s.ok, "detail": s.detail} for s in o.steps],
            "primary_before": ev.primary_before, "primary_after": after[0] if len(after) == 1 else None,
            "primary_changes": ev.primary_changes, "latency_during_ms": dict(self.latency_during_ms),
            "end_state": ev.end_state.to_results(), "new_pods": list(o.new_pods), "backup": backup,
            "restore": ev.restore.to_results() if ev.restore is not None else None,
        }


class OperationChecker:
    """Fed by the pass: the latency of `ok` ops completed while the operation ran."""

    name = "operation"
    wants_invokes = False

    def __init__(self, *, evidence: OperationEvidence, window: FaultWindow, load_start_us: int, load_end_us: int):
        self.evidence, self.window = evidence, window
        self.load_start_us, self.load_end_us = load_start_us, load_end_us
        self.end_us = window.recovered_at_us if window.recovered_at_us is not None else load_end_us
        self.during = HdrHistogram(1, HDR_MAX_US, 3)

    def invoke(self, fi: int, r: dict[str, Any]) -> None:
        pass

    def complete(self, fi: int, r: dict[str, Any]) -> None:
        if r["type"] == "ok" and self.window.injected_at_us <= r["t_us"] <= self.end_us:
            self.during.record_value(min(max(1, r["t_us"] - r["inv_us"]), HDR_MAX_US))

    def result(self) -> OperationResult:
        # no op completed while it ran (a 0.1 s restart): no latency to show, not a latency of 0
        during = pcts(self.during) if self.during.get_total_count() else {}
        return OperationResult(self.evidence, self.window, self.load_start_us, self.load_end_us, during)
