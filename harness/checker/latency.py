"""Latency summaries of `ok` ops: service time (invoke -> ok), the same over the steady window,
and response time from the op's schedule slot (the coordinated-omission correction).

Always valid: latency is a cost to compare, not an anomaly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hdrh.histogram import HdrHistogram

HDR_MAX_US = 120_000_000


def pcts(h: HdrHistogram) -> dict[str, float]:
    if h.get_total_count() == 0:
        return {"p50": 0.0, "p95": 0.0, "p99": 0.0, "max": 0.0}
    return {"p50": h.get_value_at_percentile(50) / 1000, "p95": h.get_value_at_percentile(95) / 1000,
            "p99": h.get_value_at_percentile(99) / 1000, "max": h.get_max_value() / 1000}


@dataclass(frozen=True)
class LatencyResult:
    latency_ms: dict[str, float]
    latency_steady_ms: dict[str, float]
    response_time_ms: dict[str, float]
    valid: bool = True
    reasons: tuple[str, ...] = ()
    anomalies: tuple[str, ...] = ()

    def to_results(self) -> dict[str, Any]:
        return {"valid": self.valid, "reasons": list(self.reasons), "latency_ms": dict(self.latency_ms),
                "latency_steady_ms": dict(self.latency_steady_ms), "response_time_ms": dict(self.response_time_ms)}


class LatencyChecker:
    """`steady_end_us`: ops completed before it count in the steady summary (the fault's injection)."""

    name = "latency"

    def __init__(self, steady_end_us: int):
        self.steady_end_us = steady_end_us
        self.all = HdrHistogram(1, HDR_MAX_US, 3)
        self.steady = HdrHistogram(1, HDR_MAX_US, 3)
        self.response = HdrHistogram(1, HDR_MAX_US, 3)

    wants_invokes = False  # judged from completions only: the pass skips it for invokes

    def invoke(self, fi: int, r: dict[str, Any]) -> None:
        pass

    def complete(self, fi: int, r: dict[str, Any]) -> None:
        if r["type"] != "ok":
            return
        t = r["t_us"]
        lat = min(max(1, t - r["inv_us"]), HDR_MAX_US)
        self.all.record_value(lat)
        if t < self.steady_end_us:
            self.steady.record_value(lat)
        due = r.get("due_us")
        if due is not None:
            self.response.record_value(min(max(1, t - due), HDR_MAX_US))

    def result(self) -> LatencyResult:
        return LatencyResult(pcts(self.all), pcts(self.steady), pcts(self.response))
