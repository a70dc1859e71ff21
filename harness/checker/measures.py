"""One cell's measures: the results.json blocks, the composed verdict and the evidence lists."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from harness.checker.generator import GeneratorVerdict
from harness.checker.operation import OperationResult
from harness.checker.order import Duplicate, Regression
from harness.checker.timeline import TimelineRow
from harness.checker.verdict import Verdict
from harness.faults import FaultWindow

if TYPE_CHECKING:
    from harness.workload.readback import LostWrite


@dataclass
class CellMeasures:
    """Verdict + evidence for one cell. `to_results()` gives the results.json sub-dicts."""

    ops: dict[str, int]
    throughput_ops_s: dict[str, float | None]
    latency_ms: dict[str, float]
    latency_steady_ms: dict[str, float]
    write_gap_s: float | None
    rto_s: float | None
    recovered: bool | None
    gap_start_us: int | None
    gap_end_us: int | None
    acked_writes: int
    lost_writes: int | None
    duplicate_seqs: int
    seq_regressions: int
    load_start_us: int
    load_end_us: int
    fault: FaultWindow | None
    verdict: Verdict  # every checker's result by name
    response_time_ms: dict[str, float] = field(default_factory=dict)
    generator: GeneratorVerdict | None = None
    by_op: dict[str, dict[str, int]] = field(default_factory=dict)
    lost: list[LostWrite] = field(default_factory=list)
    duplicates: list[Duplicate] = field(default_factory=list)
    regressions: list[Regression] = field(default_factory=list)
    timeline: list[TimelineRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    operation: OperationResult | None = None  # a day-2 operation's cost, end state and restored copy

    @property
    def valid(self) -> bool:
        """Jepsen-style verdict: every checker valid (data safety, availability, the generator)."""
        return self.verdict.valid

    def to_results(self) -> dict[str, Any]:
        out = {
            "ops": dict(self.ops),
            "throughput_ops_s": dict(self.throughput_ops_s),
            "latency_ms": dict(self.latency_ms),
            "latency_steady_ms": dict(self.latency_steady_ms),
            "response_time_ms": dict(self.response_time_ms),
            "generator": self.generator.to_results() if self.generator is not None else None,
            "availability": {"write_gap_s": self.write_gap_s, "rto_s": self.rto_s, "recovered": self.recovered},
            "consistency": {"acked_writes": self.acked_writes, "lost_writes": self.lost_writes,
                            "duplicate_seqs": self.duplicate_seqs, "seq_regressions": self.seq_regressions},
        }
        if self.operation is not None:
            out["operation"] = self.operation.to_results()
        out["verdict"] = self.verdict.to_results()
        return out
