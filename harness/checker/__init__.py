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

# The package: one streaming pass (core) feeding small checkers, each with one job and a frozen
# result with `valid`, `reasons` and its evidence: ops, latency, availability, lost (read-back),
# order (seqs), generator; composed into a `Verdict` (verdict) that results.json keeps per cell.

from harness.checker.availability import AvailabilityResult
from harness.checker.core import Checker, HistoryChecker, check, check_input, stream
from harness.checker.generator import (
    SATURATED_CPU,
    GeneratorVerdict,
    HubEvidence,
    judge_generator,
    longest_stall,
    read_hub_evidence,
)
from harness.checker.input import DEFAULT_GAP_FLOOR_S, CheckInput, ValidityLimits
from harness.checker.latency import HDR_MAX_US, LatencyResult
from harness.checker.lost import LostResult
from harness.checker.measures import CellMeasures
from harness.checker.ops import OpsResult
from harness.checker.order import MAX_EVIDENCE, Duplicate, OrderResult, Regression
from harness.checker.timeline import TIMELINE_COLUMNS, TimelineRow, write_timeline
from harness.checker.verdict import CHECKER_NAMES, Verdict
from harness.faults import FaultWindow

__all__ = [
    "CHECKER_NAMES", "DEFAULT_GAP_FLOOR_S", "HDR_MAX_US", "MAX_EVIDENCE", "SATURATED_CPU", "TIMELINE_COLUMNS",
    "AvailabilityResult", "CellMeasures", "CheckInput", "Checker", "Duplicate", "FaultWindow", "GeneratorVerdict",
    "HistoryChecker", "HubEvidence", "LatencyResult", "LostResult", "OpsResult", "OrderResult", "Regression",
    "TimelineRow", "ValidityLimits", "Verdict", "check", "check_input", "judge_generator",
    "longest_stall", "read_hub_evidence", "stream", "write_timeline",
]
