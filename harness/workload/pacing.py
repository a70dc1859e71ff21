"""Open-loop pacing for one simulated user: op k is due at `anchor + k * period`.

Locust's `constant_throughput` starts every user with a zero wait (its first "run time" is
measured from 0), so each user fires two ops back to back at start: a burst at twice the offered
rate. Here the schedule is a fixed grid; a slot missed while an op was still running is skipped,
never caught up, and a user whose op started more than half a period late (it connected late, or
the hub was busy) moves its grid to that start, so it does not squeeze the next op in right after.
The ops a user starts in any window of n periods are therefore at most n + 1, and over a measured
window that is a whole number of periods, at most the offered count (achieved <= offered).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

LATE_FRACTION = 0.5  # an op that started this much of a period after its slot re-anchors the grid


@dataclass(frozen=True)
class Pace:
    anchor_s: float  # slot 0
    k: int  # the slot the last op ran in


def slot_time(k: int, first_s: float, period_s: float) -> float:
    return first_s + k * period_s


def after_op(pace: Pace, started_s: float, now_s: float, period_s: float) -> Pace:
    """The slot for the next op, given that the op of `pace.k` started at `started_s` and ended
    at `now_s`. Late starts re-anchor the grid; slots already in the past are dropped."""
    if period_s <= 0:
        raise ValueError(f"period must be > 0, got {period_s}")
    anchor = pace.anchor_s
    late = started_s - slot_time(pace.k, anchor, period_s)
    if late > LATE_FRACTION * period_s:
        anchor += late  # slot k is now where the op really started
    behind = math.ceil((now_s - anchor) / period_s - 1e-9)  # first slot not earlier than now
    return Pace(anchor, max(pace.k + 1, behind))
