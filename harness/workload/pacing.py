"""Open-loop pacing for one simulated user, and the evidence that the schedule was kept.

Each user owns a fixed grid: slot k is due at `anchor + k * period`; the grid never moves, so
lateness stays visible (re-anchoring a late user would forgive exactly the stalls the evidence
must show). After an op ends:
- on time (before the next slot): wait for that slot;
- overrun (the op took longer than a period, e.g. a database timeout): the next op goes at once,
  on behalf of the first missed slot, and the other missed slots are skipped, never caught up,
  so an outage does not end in a burst of back-to-back ops (at most one overdue op per overrun).

Every op carries two times from this grid (wrk2 / HdrHistogram's coordinated-omission
correction): `due` = the slot it stands for (latency from `due` is the response time a user
with that schedule sees), and `ready` = max(due, previous op's end): from `ready` on, nothing but
the load generator itself kept the op from starting, so `invoke - ready` is the generator's own
schedule lag (a blocked hub, a saturated CPU), never the database's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Slot:
    """The next op of one user: the slot index it takes, when it is due and when it may start."""

    k: int
    due_s: float  # the slot this op stands for (the first missed one after an overrun)
    start_s: float  # when to start it: the slot itself, or at once after an overrun


def slot_time(k: int, anchor_s: float, period_s: float) -> float:
    return anchor_s + k * period_s


def first_slot(anchor_s: float) -> Slot:
    return Slot(0, anchor_s, anchor_s)


def next_slot(last_k: int, anchor_s: float, period_s: float, ended_s: float) -> Slot:
    """The op after the one of slot `last_k`, which ended at `ended_s`."""
    if period_s <= 0:
        raise ValueError(f"period must be > 0, got {period_s}")
    nxt = slot_time(last_k + 1, anchor_s, period_s)
    if ended_s <= nxt:
        return Slot(last_k + 1, nxt, nxt)
    # overrun: this op stands for the first missed slot and starts now; the slots up to now are
    # skipped (the op takes the last of them), so the one after it is in the future
    last_missed = max(last_k + 1, math.floor((ended_s - anchor_s) / period_s + 1e-9))
    return Slot(last_missed, nxt, ended_s)
