"""The load generator's own evidence: did it deliver the offered rate and start ops when due?

Not valid, with one reason per broken limit, when the steady window delivered less than
`min_delivered` of the offered rate, or the p99 schedule lag, the longest stall or a hub block
passed their limits. Such a cell is `invalid`: its numbers describe the generator, not the database.
"""

from __future__ import annotations

import json
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.checker.availability import Window, rate
from harness.checker.input import ValidityLimits

SATURATED_CPU = 0.8  # a worker above this share of one core is the likely cause of its own lag


@dataclass(frozen=True)
class HubEvidence:
    """What the workers' hub watches saw inside the measured window (harness.workload.hubwatch)."""

    max_block_s: float | None  # None: no watch file
    blocks: int  # hub lags >= the watch's report threshold
    stacks: int  # gevent monitor reports (with the blocking stack) in the window
    report_s: float | None


@dataclass(frozen=True)
class GeneratorVerdict:
    """Did the load generator keep its schedule? The evidence that the cell was measured properly."""

    valid: bool
    reasons: tuple[str, ...]
    offered_ops_s: float | None
    delivered_ops_s: dict[str, float | None]
    delivered_fraction: dict[str, float | None]
    schedule_lag_ms: dict[str, float]
    scheduled_ops: int  # ops with a schedule slot (all of them for the Locust load)
    longest_stall_s: float
    longest_stall_at_s: float | None  # since load start
    hub: HubEvidence
    start_late_s: float

    @property
    def anomalies(self) -> tuple[str, ...]:
        return ()  # the load's fault, not the database's: `valid` and the reasons say it

    def to_results(self) -> dict[str, Any]:
        return {"valid": self.valid, "reasons": list(self.reasons), "offered_ops_s": self.offered_ops_s,
                "delivered_ops_s": dict(self.delivered_ops_s), "delivered_fraction": dict(self.delivered_fraction),
                "schedule_lag_ms": dict(self.schedule_lag_ms), "scheduled_ops": self.scheduled_ops,
                "longest_stall_s": self.longest_stall_s, "longest_stall_at_s": self.longest_stall_at_s,
                "hub_block_s": self.hub.max_block_s, "hub_blocks": self.hub.blocks,
                "hub_block_stacks": self.hub.stacks, "start_late_s": self.start_late_s}


def nearest_rank(sorted_values: Sequence[int], pct: int) -> int:
    return sorted_values[max(0, -(-pct * len(sorted_values) // 100) - 1)]


def lag_pcts(lags: array) -> dict[str, float]:
    """Exact (nearest-rank) p50/p99/max in ms: lags are few and their tail is the evidence."""
    if not lags:
        return {"p50": 0.0, "p99": 0.0, "max": 0.0}
    s = sorted(lags)
    return {"p50": nearest_rank(s, 50) / 1000, "p99": nearest_rank(s, 99) / 1000, "max": s[-1] / 1000}


def longest_stall(invokes: Sequence[int], readies: Sequence[int], start: int, end: int) -> tuple[float, int | None]:
    """The longest interval in [start, end] with no invoke while some op was ready (due and its
    user free) but not yet invoked: (seconds, interval start). `invokes[i]` pairs with `readies[i]`."""
    order = sorted(range(len(invokes)), key=invokes.__getitem__)
    inv = [invokes[i] for i in order]
    rdy = [readies[i] for i in order]
    best, at = 0.0, None
    suffix_min = list(rdy)
    for i in range(len(inv) - 2, -1, -1):
        suffix_min[i] = min(suffix_min[i], suffix_min[i + 1])
    prev = start
    for i, t in enumerate(inv):
        if t < start:
            continue
        if t > end:
            break
        # the ops invoked at t or later: the earliest of them was ready at suffix_min[i]
        stalled_from = max(prev, suffix_min[i])
        if t - stalled_from > best * 1e6:
            best, at = (t - stalled_from) / 1e6, stalled_from
        prev = t
    return round(best, 6), at


def read_hub_evidence(paths: Iterable[Path], start: int, end: int) -> HubEvidence:
    """The longest hub block inside [start, end] from the workers' hub watch files."""
    worst: float | None = None
    blocks = stacks = 0
    report_s = None
    for p in paths:
        try:
            data = json.loads(Path(p).read_text())
        except (OSError, ValueError):
            continue
        report_s = data.get("report_s")
        worst = worst or 0.0
        for t_wake, lag in data.get("stalls", []):
            if t_wake >= start and t_wake - lag <= end:
                blocks += 1
                worst = max(worst, lag / 1e6)
        stacks += sum(1 for b in data.get("blocked", []) if start <= b.get("t_us", 0) <= end)
    return HubEvidence(None if worst is None else round(worst, 6), blocks, stacks, report_s)


def judge_generator(
    *, offered_ops_s: float | None, delivered: dict[str, float | None], lag: dict[str, float], scheduled: int,
    stall: tuple[float, int | None], hub: HubEvidence, start_late_s: float, load_start_us: int,
    limits: ValidityLimits, worker_cpu: float | None = None,
) -> GeneratorVerdict:
    """The verdict on the load itself; each broken limit becomes one reason naming its evidence."""
    frac = {k: (round(v / offered_ops_s, 4) if v is not None and offered_ops_s else None) for k, v in delivered.items()}
    reasons: list[str] = []
    steady = frac.get("steady")
    if steady is not None and steady < limits.min_delivered:
        reasons.append(f"the load delivered {delivered['steady']:.1f} of the {offered_ops_s:g} ops/s offered in the "
                       f"steady window ({steady * 100:.0f} % < {limits.min_delivered * 100:.0f} %)")
    if scheduled and lag["p99"] > limits.max_lag_p99_s * 1000:
        reasons.append(f"ops started late: schedule lag p99 {lag['p99']:.0f} ms, max {lag['max']:.0f} ms "
                       f"(limit p99 {limits.max_lag_p99_s * 1000:.0f} ms)")
    stall_s, stall_at = stall
    if stall_s > limits.max_stall_s:
        at = "" if stall_at is None else f" from +{(stall_at - load_start_us) / 1e6:.1f} s"
        reasons.append(f"the load invoked nothing for {stall_s:.2f} s{at} while ops were due (a generator stall, "
                       f"not a database outage; limit {limits.max_stall_s:g} s)")
    if hub.max_block_s is not None and hub.max_block_s > limits.max_hub_block_s:
        reasons.append(f"the load worker's event loop was blocked for {hub.max_block_s:.2f} s "
                       f"({hub.blocks} blocks >= {hub.report_s or 0:g} s, {hub.stacks} with a stack; limit "
                       f"{limits.max_hub_block_s:g} s)")
    if reasons and worker_cpu is not None and worker_cpu >= SATURATED_CPU:
        reasons.append(f"the busiest load worker used {worker_cpu * 100:.0f} % of a core: spread the users over "
                       "more processes (setting load.workers)")
    return GeneratorVerdict(
        valid=not reasons, reasons=tuple(reasons), offered_ops_s=offered_ops_s,
        delivered_ops_s={k: (round(v, 3) if v is not None else None) for k, v in delivered.items()},
        delivered_fraction=frac, schedule_lag_ms=lag, scheduled_ops=scheduled, longest_stall_s=stall_s,
        longest_stall_at_s=None if stall_at is None else round((stall_at - load_start_us) / 1e6, 3),
        hub=hub, start_late_s=round(start_late_s, 3))


class GeneratorChecker:
    """Collects invoke times and the schedule slots of the ops; judged once the windows are known."""

    name = "generator"

    def __init__(self, *, load_start_us: int, load_end_us: int, offered_ops_s: float | None,
                 hub_paths: Iterable[Path], start_late_us: int, limits: ValidityLimits, worker_cpu: float | None):
        self.load_start_us, self.load_end_us = load_start_us, load_end_us
        self.offered_ops_s, self.hub_paths, self.start_late_us = offered_ops_s, hub_paths, start_late_us
        self.limits, self.worker_cpu = limits, worker_cpu
        self.invokes = array("q")
        self.sched_inv = array("q")  # invoke and ready times of the ops that had a schedule slot
        self.sched_ready = array("q")
        self.lags = array("q")

    def invoke(self, fi: int, r: dict[str, Any]) -> None:
        self.invokes.append(r["t_us"])

    def complete(self, fi: int, r: dict[str, Any]) -> None:
        if r.get("due_us") is not None:
            lag = r["lag_us"]
            self.sched_inv.append(r["inv_us"])
            self.sched_ready.append(r["inv_us"] - lag)
            self.lags.append(lag)

    def result(self, windows: dict[str, Window]) -> GeneratorVerdict:
        """`windows`: the availability checker's steady / during_fault / after_recovery windows."""
        inv_sorted = sorted(self.invokes)
        delivered = {k: rate(inv_sorted, a, b) for k, (a, b) in windows.items()}
        a, b = self.load_start_us, self.load_end_us
        return judge_generator(
            offered_ops_s=self.offered_ops_s, delivered=delivered, lag=lag_pcts(self.lags), scheduled=len(self.lags),
            stall=longest_stall(self.sched_inv, self.sched_ready, a, b),
            hub=read_hub_evidence(self.hub_paths, a, b), start_late_s=self.start_late_us / 1e6,
            load_start_us=a, limits=self.limits, worker_cpu=self.worker_cpu)
