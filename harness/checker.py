"""The design.md measures, from the history files and the read-back. Returns data; prints nothing.

Definitions (times are the history's monotonic µs; `inj` = fault injection, `end` = load end):
- ops: `total` = invokes; `ok`, `failed` (= fail); `unknown` = info + invokes never completed.
- latency_ms: exact p50/p95/p99/max of every `ok` op (HDR histogram, 3 significant digits,
  1 µs .. 120 s); `latency_steady_ms` the same over ops completed in the steady window.
- throughput_ops_s: `ok` ops completed per second of a window:
    steady         = [load_start, inj)          (no fault: [load_start, end))
    during_fault   = [inj, fault_end)           fault_end = the fault's recovery time when it has
                     one (freeze, partition, zone outage), else the end of the write gap if there
                     was an outage, else inj (then the window is empty: null)
    after_recovery = [fault_end, end)           null when writes did not recover
- write_gap_s: the longest interval in [inj, end] with no acknowledged write (intervals between
  successive write acks after inj, the first starting at inj, the last ending at end).
- rto_s: inj -> the ack that ends that gap; 0.0 when the longest gap is shorter than
  `gap_floor_s` (no outage: writes continued at their normal pace); null when the gap runs to
  `end` (`recovered: false`).
- response_time_ms: p50/p95/p99/max of `ok` ops measured from the slot of the open-loop schedule
  the op stood for (`due_us`), not from its invoke: the coordinated-omission correction of wrk2 /
  HdrHistogram. `latency_ms` is the service time (invoke -> ok); the two differ when ops queued.
- generator (is this cell's load trustworthy?), over the measured window:
    delivered_ops_s  = ops invoked per second of each window (offered: the settings' rate)
    schedule_lag_ms  = p50/p99/max of invoke - ready, ready = max(due, the user's previous op's
                       end): how late the load generator itself started ops (never the database)
    longest_stall_s  = the longest interval with no invoke at all while some op was ready
    hub_block_s      = the longest time the worker's gevent hub could not run (its ticker)
  `valid` is false, with the reasons, when the steady window delivered < min_delivered of the
  offered rate, or the p99 lag, the longest stall or a hub block passed their limits. Such a
  cell is `invalid`: its availability numbers describe the generator, not the database.
- consistency, per stream (conversation id; mysql: "user_login_records", "users"):
    acked_writes    = `ok` writes that name a stream (what the read-back checks)
    lost_writes     = acked writes the read-back did not find (or found overwritten)
    duplicate_seqs  = (stream, seq) pairs acknowledged for two or more different ids
    seq_regressions = acked writes B with seq_B <= seq_A for some acked write A of the same stream
                      that completed before B was invoked (real-time order; this includes "a seq
                      acknowledged after failover <= one acknowledged before it")
"""

from __future__ import annotations

import csv
import json
from array import array
from bisect import bisect_left
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hdrh.histogram import HdrHistogram

from harness.history import iter_records
from harness.workload.readback import LostWrite, ReadBackResult

HDR_MAX_US = 120_000_000
MAX_EVIDENCE = 1000
DEFAULT_GAP_FLOOR_S = 1.0  # shorter than any failover or restart; longer than a normal ack interval


@dataclass(frozen=True)
class FaultWindow:
    injected_at_mono_us: int
    recovered_at_mono_us: int | None  # None: not recovered by the nemesis, or nothing to recover (pod-kill)
    kind: str


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


@dataclass(frozen=True)
class Duplicate:
    stream: str
    seq: int
    ids: tuple[str, ...]


@dataclass(frozen=True)
class Regression:
    stream: str
    seq: int
    id: str
    prior_max_seq: int
    invoked_at_us: int


@dataclass(frozen=True)
class ValidityLimits:
    """When a cell's load cannot be vouched for (the settings' `validity` block)."""

    min_delivered: float = 0.95  # of the offered rate, in the steady window
    max_lag_p99_s: float = 0.5
    max_stall_s: float = 0.5
    max_hub_block_s: float = 0.5


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

    def to_results(self) -> dict[str, Any]:
        return {"valid": self.valid, "reasons": list(self.reasons), "offered_ops_s": self.offered_ops_s,
                "delivered_ops_s": dict(self.delivered_ops_s), "delivered_fraction": dict(self.delivered_fraction),
                "schedule_lag_ms": dict(self.schedule_lag_ms), "scheduled_ops": self.scheduled_ops,
                "longest_stall_s": self.longest_stall_s, "longest_stall_at_s": self.longest_stall_at_s,
                "hub_block_s": self.hub.max_block_s, "hub_blocks": self.hub.blocks,
                "hub_block_stacks": self.hub.stacks, "start_late_s": self.start_late_s}


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
    response_time_ms: dict[str, float] = field(default_factory=dict)
    generator: GeneratorVerdict | None = None
    by_op: dict[str, dict[str, int]] = field(default_factory=dict)
    lost: list[LostWrite] = field(default_factory=list)
    duplicates: list[Duplicate] = field(default_factory=list)
    regressions: list[Regression] = field(default_factory=list)
    timeline: list[TimelineRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        """Jepsen-style verdict on data safety and availability."""
        return (not self.lost_writes) and self.duplicate_seqs == 0 and self.seq_regressions == 0 and self.recovered is not False

    def to_results(self) -> dict[str, Any]:
        return {
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


def _pcts(h: HdrHistogram) -> dict[str, float]:
    if h.get_total_count() == 0:
        return {"p50": 0.0, "p95": 0.0, "p99": 0.0, "max": 0.0}
    return {"p50": h.get_value_at_percentile(50) / 1000, "p95": h.get_value_at_percentile(95) / 1000,
            "p99": h.get_value_at_percentile(99) / 1000, "max": h.get_max_value() / 1000}


def _nearest_rank(sorted_values: Sequence[int], pct: int) -> int:
    return sorted_values[max(0, -(-pct * len(sorted_values) // 100) - 1)]


def _exact_p99_ms(values: array) -> float | None:
    if not values:
        return None
    return _nearest_rank(sorted(values), 99) / 1000


def _rate(times: Sequence[int], start: int, end: int) -> float | None:
    if end <= start:
        return None
    n = bisect_left(times, end) - bisect_left(times, start)
    return n / ((end - start) / 1e6)


def _gap(write_acks: Sequence[int], inj: int, end: int) -> tuple[float, int, int, bool]:
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


def _regressions(ops: list[tuple[int, int, int, str]], stream: str) -> list[Regression]:
    """ops = (invoke_us, complete_us, seq, id) of acked writes of one stream."""
    by_complete = sorted(ops, key=lambda o: o[1])
    out: list[Regression] = []
    j, prior_max = 0, None
    for inv, _c, seq, oid in sorted(ops):
        while j < len(by_complete) and by_complete[j][1] < inv:
            s = by_complete[j][2]
            prior_max = s if prior_max is None else max(prior_max, s)
            j += 1
        if prior_max is not None and seq <= prior_max:
            out.append(Regression(stream, seq, oid, prior_max, inv))
    return out


def _lag_pcts(lags: array) -> dict[str, float]:
    """Exact (nearest-rank) p50/p99/max in ms: lags are few and their tail is the evidence."""
    if not lags:
        return {"p50": 0.0, "p99": 0.0, "max": 0.0}
    s = sorted(lags)
    return {"p50": _nearest_rank(s, 50) / 1000, "p99": _nearest_rank(s, 99) / 1000, "max": s[-1] / 1000}


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


def check(
    history_paths: Iterable[Path],
    *,
    load_start_us: int,
    load_end_us: int,
    fault: FaultWindow | None,
    readback: ReadBackResult | None,
    gap_floor_s: float = DEFAULT_GAP_FLOOR_S,
    offered_ops_s: float | None = None,
    hub_paths: Iterable[Path] = (),
    start_late_us: int = 0,
    limits: ValidityLimits | None = None,
    worker_cpu: float | None = None,
) -> CellMeasures:
    """One streaming pass over the histories, then the window arithmetic. See the module doc."""
    paths = [Path(p) for p in history_paths]
    hist = HdrHistogram(1, HDR_MAX_US, 3)
    steady_hist = HdrHistogram(1, HDR_MAX_US, 3)
    resp_hist = HdrHistogram(1, HDR_MAX_US, 3)
    invoke_times = array("q")
    sched_inv = array("q")  # invoke and ready times of the ops that had a schedule slot
    sched_ready = array("q")
    lags = array("q")
    steady_end = fault.injected_at_mono_us if fault else load_end_us
    counts: Counter[str] = Counter()
    by_op: dict[str, Counter[str]] = defaultdict(Counter)
    ok_times = array("q")
    write_acks = array("q")
    per_sec: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # ok, failed, unknown, ok_writes
    per_sec_lat: dict[int, array] = defaultdict(lambda: array("l"))
    per_sec_inv: Counter[int] = Counter()
    per_sec_lag: dict[int, int] = {}
    streams: dict[str, list[tuple[int, int, int, str]]] = defaultdict(list)
    acked = 0
    open_ops: set[tuple[int, int]] = set()
    for fi, path in enumerate(paths):
        for r in iter_records([path]):
            typ = r["type"]
            if typ == "invoke":
                counts["total"] += 1
                by_op[r["f"]]["total"] += 1
                open_ops.add((fi, r["op"]))
                invoke_times.append(r["t_us"])
                per_sec_inv[(r["t_us"] - load_start_us) // 1_000_000] += 1
                continue
            open_ops.discard((fi, r["op"]))
            t = r["t_us"]
            due = r.get("due_us")
            if due is not None:
                lag = r["lag_us"]
                sched_inv.append(r["inv_us"])
                sched_ready.append(r["inv_us"] - lag)
                lags.append(lag)
                isec = (r["inv_us"] - load_start_us) // 1_000_000
                per_sec_lag[isec] = max(per_sec_lag.get(isec, 0), lag)
            sec = (t - load_start_us) // 1_000_000
            by_op[r["f"]][typ] += 1
            if typ == "ok":
                counts["ok"] += 1
                lat = max(1, t - r["inv_us"])
                hist.record_value(min(lat, HDR_MAX_US))
                if t < steady_end:
                    steady_hist.record_value(min(lat, HDR_MAX_US))
                if due is not None:
                    resp_hist.record_value(min(max(1, t - due), HDR_MAX_US))
                ok_times.append(t)
                per_sec[sec][0] += 1
                per_sec_lat[sec].append(lat)
                if r["w"]:
                    write_acks.append(t)
                    per_sec[sec][3] += 1
                    v = r.get("value") or {}
                    if "stream" in v:
                        acked += 1
                        if v.get("seq") is not None:
                            streams[v["stream"]].append((r["inv_us"], t, int(v["seq"]), str(v["id"])))
            elif typ == "fail":
                counts["failed"] += 1
                per_sec[sec][1] += 1
            else:
                counts["unknown"] += 1
                per_sec[sec][2] += 1
    counts["unknown"] += len(open_ops)
    ok_sorted = sorted(ok_times)
    acks_sorted = sorted(write_acks)
    notes: list[str] = []
    if open_ops:
        notes.append(f"{len(open_ops)} ops were invoked but never completed (worker stopped): counted unknown")

    # availability
    gap_s = rto = None
    recovered: bool | None = None
    gap_start = gap_end = None
    if fault:
        inj = fault.injected_at_mono_us
        g, gap_start, gap_end, to_end = _gap(acks_sorted, inj, load_end_us)
        gap_s = round(g, 6)
        if to_end:
            recovered, rto = False, None
        elif g < gap_floor_s:
            recovered, rto = True, 0.0
        else:
            recovered, rto = True, round((gap_end - inj) / 1e6, 6)

    # throughput windows
    if fault:
        inj = fault.injected_at_mono_us
        if fault.recovered_at_mono_us is not None:
            fault_end = fault.recovered_at_mono_us
        elif rto:
            fault_end = inj + int(rto * 1e6)
        else:
            fault_end = inj
        thr = {"steady": _rate(ok_sorted, load_start_us, inj),
               "during_fault": _rate(ok_sorted, inj, fault_end),
               "after_recovery": _rate(ok_sorted, fault_end, load_end_us) if recovered else None}
    else:
        thr = {"steady": _rate(ok_sorted, load_start_us, load_end_us), "during_fault": None, "after_recovery": None}
    thr = {k: (round(v, 3) if v is not None else None) for k, v in thr.items()}

    # the generator: did it deliver the offered rate, and start ops when they were due?
    inv_sorted = sorted(invoke_times)
    if fault:
        wins = {"steady": (load_start_us, inj), "during_fault": (inj, fault_end), "after_recovery": (fault_end, load_end_us)}
    else:
        wins = {"steady": (load_start_us, load_end_us), "during_fault": (0, 0), "after_recovery": (0, 0)}
    delivered = {k: _rate(inv_sorted, a, b) for k, (a, b) in wins.items()}
    generator = judge_generator(
        offered_ops_s=offered_ops_s, delivered=delivered, lag=_lag_pcts(lags), scheduled=len(lags),
        stall=longest_stall(sched_inv, sched_ready, load_start_us, load_end_us),
        hub=read_hub_evidence(hub_paths, load_start_us, load_end_us), start_late_s=start_late_us / 1e6,
        load_start_us=load_start_us, limits=limits or ValidityLimits(), worker_cpu=worker_cpu)

    # consistency
    dups: list[Duplicate] = []
    regs: list[Regression] = []
    n_dups = n_regs = 0
    for stream, ops in streams.items():
        ids_by_seq: dict[int, set[str]] = defaultdict(set)
        for _i, _c, seq, oid in ops:
            ids_by_seq[seq].add(oid)
        for seq, ids in ids_by_seq.items():
            if len(ids) > 1:
                n_dups += 1
                if len(dups) < MAX_EVIDENCE:
                    dups.append(Duplicate(stream, seq, tuple(sorted(ids))))
        r = _regressions(ops, stream)
        n_regs += len(r)
        regs.extend(r[: max(0, MAX_EVIDENCE - len(regs))])
    if readback is None:
        notes.append("no read-back: lost_writes unknown")
    elif readback.checked != acked:
        notes.append(f"read-back checked {readback.checked} writes, history has {acked} acknowledged")

    timeline = [
        TimelineRow(int(s), c[0], c[1], c[2], c[3], _exact_p99_ms(per_sec_lat.get(s, array("l"))),
                    per_sec_inv.get(s, 0), per_sec_lag[s] / 1000 if s in per_sec_lag else None)
        for s in sorted(set(per_sec) | set(per_sec_inv))
        for c in [per_sec.get(s, [0, 0, 0, 0])]
    ]
    return CellMeasures(
        ops={"total": counts["total"], "ok": counts["ok"], "failed": counts["failed"], "unknown": counts["unknown"]},
        throughput_ops_s=thr,
        latency_ms=_pcts(hist),
        latency_steady_ms=_pcts(steady_hist),
        write_gap_s=gap_s,
        rto_s=rto,
        recovered=recovered,
        gap_start_us=gap_start,
        gap_end_us=gap_end,
        acked_writes=acked,
        lost_writes=readback.lost_count if readback is not None else None,
        duplicate_seqs=n_dups,
        seq_regressions=n_regs,
        load_start_us=load_start_us,
        load_end_us=load_end_us,
        fault=fault,
        response_time_ms=_pcts(resp_hist),
        generator=generator,
        by_op={k: dict(v) for k, v in by_op.items()},
        lost=list(readback.lost) if readback is not None else [],
        duplicates=dups,
        regressions=regs,
        timeline=timeline,
        notes=notes,
    )


TIMELINE_COLUMNS = ("t_s", "ok", "failed", "unknown", "ok_writes", "p99_ms", "invoked", "lag_max_ms")


def write_timeline(measures: CellMeasures, path: Path) -> None:
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
