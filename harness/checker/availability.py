"""Availability around the fault: the longest write gap, the RTO, and ok throughput per window.

Valid unless writes never resumed within the observation window (`recovered: false`). A long
gap that did end is a cost, measured as the RTO, not an anomaly.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from harness.faults import FaultWindow

Window = tuple[int, int]  # [start, end) in µs; (0, 0): the window does not exist


def rate(times: Sequence[int], start: int, end: int) -> float | None:
    """Events per second of [start, end) in sorted `times`; None for an empty window."""
    if end <= start:
        return None
    n = bisect_left(times, end) - bisect_left(times, start)
    return n / ((end - start) / 1e6)


def longest_gap(write_acks: Sequence[int], inj: int, end: int) -> tuple[float, int, int, bool]:
    """Longest write-free interval in [inj, end]: (seconds, start, stop, reaches_end)."""
    best = (0.0, inj, inj, False)
    prev = inj
    for t in write_acks[bisect_left(write_acks, inj):]:
        if t > end:
            break
        if (t - prev) / 1e6 > best[0]:
            best = ((t - prev) / 1e6, prev, t, False)
        prev = t
    if (end - prev) / 1e6 > best[0]:
        best = ((end - prev) / 1e6, prev, end, True)
    return best


@dataclass(frozen=True)
class AvailabilityResult:
    write_gap_s: float | None  # None: no fault
    rto_s: float | None
    recovered: bool | None
    gap_start_us: int | None
    gap_end_us: int | None
    throughput_ops_s: dict[str, float | None]
    windows: dict[str, Window]  # steady / during_fault / after_recovery, for the generator's delivered rate

    @property
    def valid(self) -> bool:
        return self.recovered is not False

    @property
    def reasons(self) -> tuple[str, ...]:
        if self.valid:
            return ()
        gap = "" if self.write_gap_s is None else f" (write gap >= {self.write_gap_s:.2f} s)"
        return (f"writes did not resume within the observation window{gap}",)

    @property
    def anomalies(self) -> tuple[str, ...]:
        return () if self.valid else ("not_recovered",)

    def to_results(self) -> dict[str, Any]:
        return {"valid": self.valid, "reasons": list(self.reasons), "write_gap_s": self.write_gap_s,
                "rto_s": self.rto_s, "recovered": self.recovered}


def judge_availability(ok_times: Sequence[int], write_acks: Sequence[int], *, load_start_us: int, load_end_us: int,
                       fault: FaultWindow | None, gap_floor_s: float) -> AvailabilityResult:
    """The window arithmetic over sorted ack times (see the package doc for the definitions)."""
    if fault is None:
        thr = {"steady": rate(ok_times, load_start_us, load_end_us), "during_fault": None, "after_recovery": None}
        windows = {"steady": (load_start_us, load_end_us), "during_fault": (0, 0), "after_recovery": (0, 0)}
        return AvailabilityResult(None, None, None, None, None, _rounded(thr), windows)
    inj = fault.injected_at_us
    g, gap_start, gap_end, to_end = longest_gap(write_acks, inj, load_end_us)
    if to_end:
        recovered, rto = False, None
    elif g < gap_floor_s:
        recovered, rto = True, 0.0
    else:
        recovered, rto = True, round((gap_end - inj) / 1e6, 6)
    if fault.held_until_us is not None:
        fault_end = fault.held_until_us
    elif rto:
        fault_end = inj + int(rto * 1e6)
    else:
        fault_end = inj
    thr = {"steady": rate(ok_times, load_start_us, inj),
           "during_fault": rate(ok_times, inj, fault_end),
           "after_recovery": rate(ok_times, fault_end, load_end_us) if recovered else None}
    windows = {"steady": (load_start_us, inj), "during_fault": (inj, fault_end), "after_recovery": (fault_end, load_end_us)}
    return AvailabilityResult(round(g, 6), rto, recovered, gap_start, gap_end, _rounded(thr), windows)


def _rounded(thr: dict[str, float | None]) -> dict[str, float | None]:
    return {k: (round(v, 3) if v is not None else None) for k, v in thr.items()}


class AvailabilityChecker:
    name = "availability"

    def __init__(self, *, load_start_us: int, load_end_us: int, fault: FaultWindow | None, gap_floor_s: float):
        self.load_start_us, self.load_end_us, self.fault, self.gap_floor_s = load_start_us, load_end_us, fault, gap_floor_s
        self.ok_times = array("q")
        self.write_acks = array("q")

    wants_invokes = False  # judged from completions only: the pass skips it for invokes

    def invoke(self, fi: int, r: dict[str, Any]) -> None:
        pass

    def complete(self, fi: int, r: dict[str, Any]) -> None:
        if r["type"] == "ok":
            self.ok_times.append(r["t_us"])
            if r["w"]:
                self.write_acks.append(r["t_us"])

    def result(self) -> AvailabilityResult:
        return judge_availability(sorted(self.ok_times), sorted(self.write_acks), load_start_us=self.load_start_us,
                                  load_end_us=self.load_end_us, fault=self.fault, gap_floor_s=self.gap_floor_s)
