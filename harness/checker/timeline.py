"""The per-second timeline for the plots: ok / failed / unknown / ok writes and p99 by completion
second, invokes and the largest schedule lag by invoke second. A summary, not a checker: it
judges nothing and is not part of the verdict.
"""

from __future__ import annotations

import csv
from array import array
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.checker.generator import nearest_rank


@dataclass(frozen=True)
class TimelineRow:
    t_s: int  # seconds since load start (completion time)
    ok: int
    failed: int
    unknown: int
    ok_writes: int
    p99_ms: float | None
    invoked: int = 0  # ops invoked in this second (the load actually offered)
    lag_max_ms: float | None = None  # the generator's largest schedule lag among them


def exact_p99_ms(values: array) -> float | None:
    if not values:
        return None
    return nearest_rank(sorted(values), 99) / 1000


class TimelineCollector:
    def __init__(self, load_start_us: int):
        self.load_start_us = load_start_us
        self.per_sec: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # ok, failed, unknown, ok_writes
        self.per_sec_lat: dict[int, array] = defaultdict(lambda: array("l"))
        self.per_sec_inv: Counter[int] = Counter()
        self.per_sec_lag: dict[int, int] = {}

    def invoke(self, fi: int, r: dict[str, Any]) -> None:
        self.per_sec_inv[(r["t_us"] - self.load_start_us) // 1_000_000] += 1

    def complete(self, fi: int, r: dict[str, Any]) -> None:
        if r.get("due_us") is not None:
            isec = (r["inv_us"] - self.load_start_us) // 1_000_000
            self.per_sec_lag[isec] = max(self.per_sec_lag.get(isec, 0), r["lag_us"])
        t = r["t_us"]
        sec = (t - self.load_start_us) // 1_000_000
        typ = r["type"]
        if typ == "ok":
            self.per_sec[sec][0] += 1
            self.per_sec_lat[sec].append(max(1, t - r["inv_us"]))
            if r["w"]:
                self.per_sec[sec][3] += 1
        elif typ == "fail":
            self.per_sec[sec][1] += 1
        else:
            self.per_sec[sec][2] += 1

    def rows(self) -> list[TimelineRow]:
        lag = self.per_sec_lag
        return [
            TimelineRow(int(s), c[0], c[1], c[2], c[3], exact_p99_ms(self.per_sec_lat.get(s, array("l"))),
                        self.per_sec_inv.get(s, 0), lag[s] / 1000 if s in lag else None)
            for s in sorted(set(self.per_sec) | set(self.per_sec_inv))
            for c in [self.per_sec.get(s, [0, 0, 0, 0])]
        ]


TIMELINE_COLUMNS = ("t_s", "ok", "failed", "unknown", "ok_writes", "p99_ms", "invoked", "lag_max_ms")


def write_timeline(measures: Any, path: Path) -> None:
    """Per-second CSV for plots: t_s (since load start), ok, failed, unknown, ok_writes, p99_ms (by
    completion time), invoked, lag_max_ms (by invoke time). Seconds without any op are written as
    zero rows so gaps show in plots."""
    rows = {r.t_s: r for r in measures.timeline}
    last = max(rows, default=-1)
    last = max(last, (measures.load_end_us - measures.load_start_us) // 1_000_000 - 1)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(TIMELINE_COLUMNS)
        for s in range(min(0, min(rows, default=0)), last + 1):
            r = rows.get(s)
            if r is None:
                w.writerow([s, 0, 0, 0, 0, "", 0, ""])
            else:
                w.writerow([s, r.ok, r.failed, r.unknown, r.ok_writes, "" if r.p99_ms is None else f"{r.p99_ms:.3f}",
                            r.invoked, "" if r.lag_max_ms is None else f"{r.lag_max_ms:.3f}"])
