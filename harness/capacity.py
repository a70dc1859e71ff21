"""The capacity search: stepped offered load until the SLO, the error budget or the generator breaks.

Pure: the cell runs each step's load and hands its measures here; this module decides whether the
step was sustained and what bound the search hit. The order of the checks is the point: a step whose
generator flagged itself says nothing about the database, so "generator-bound at N" wins over any
latency or error finding at that step, and the answer is never a database number then.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.checker.generator import SATURATED_CPU

BOUNDS = ("slo", "errors", "saturated", "generator", "max-rate", "failed")

# generator reasons that are the load's own fault (harness/checker/generator.py); a delivered-rate
# shortfall alone is not: users busy with slow ops deliver less, and that is the database's doing
_GENERATOR_MARKERS = ("started late", "invoked nothing", "event loop was blocked")


@dataclass(frozen=True)
class CapacityLimits:
    """When a step counts as not sustained (settings `capacity`)."""

    slo_p99_ms: float  # the response time's p99 (from each op's due time: no coordinated omission)
    max_error_fraction: float  # failed + unknown among the step's ops
    min_delivered: float  # of the offered rate, as the generator checker's limit


def step_rates(start_ops_s: float, factor: float, max_ops_s: float) -> list[float]:
    """The offered rates, doubling (by default) from `start_ops_s` while <= `max_ops_s`."""
    out: list[float] = []
    r = float(start_ops_s)
    while r <= max_ops_s + 1e-9:
        out.append(round(r, 3))
        r *= factor
    return out


@dataclass(frozen=True)
class StepResult:
    offered_ops_s: float
    delivered_ops_s: float | None
    p50_ms: float | None  # response time (due -> done), steady window
    p99_ms: float | None
    service_p99_ms: float | None  # invoke -> done
    ops: int
    errors: int  # failed + unknown
    generator_valid: bool
    generator_reasons: tuple[str, ...]
    generator_cpu_share: float | None  # the load workers' CPU over the step, of all the machine's cores
    busiest_worker_cpu: float | None  # of one core
    sustained: bool
    bound: str | None  # why not sustained (one of BOUNDS), None when sustained
    why: str
    server_cpu_share: float | None = None  # the database pods' CPU over the step, of all cores (when measured)

    @property
    def error_fraction(self) -> float:
        return self.errors / self.ops if self.ops else 0.0

    def to_results(self) -> dict[str, Any]:
        return {"offered_ops_s": self.offered_ops_s, "delivered_ops_s": self.delivered_ops_s,
                "p50_ms": self.p50_ms, "p99_ms": self.p99_ms, "service_p99_ms": self.service_p99_ms,
                "ops": self.ops, "errors": self.errors, "error_fraction": round(self.error_fraction, 5),
                "generator_valid": self.generator_valid, "generator_reasons": list(self.generator_reasons),
                "generator_cpu_share": self.generator_cpu_share, "busiest_worker_cpu": self.busiest_worker_cpu,
                "server_cpu_share": self.server_cpu_share,
                "sustained": self.sustained, "bound": self.bound, "why": self.why}


def generator_cpu(load: Mapping[str, Any], cpus: int) -> tuple[float | None, float | None]:
    """(all workers' CPU / (their wall time x the machine's cores), the busiest worker's share of a core)."""
    wall = float(load.get("worker_wall_s") or 0.0)
    cpu_s = load.get("cpu_s")
    share = round(cpu_s / (wall * cpus), 4) if cpu_s is not None and wall > 0 and cpus > 0 else None
    busiest = load.get("worker_cpu_max")
    return share, (round(busiest, 4) if busiest is not None else None)


def judge_step(offered_ops_s: float, measures: Mapping[str, Any], load: Mapping[str, Any], limits: CapacityLimits,
               cpus: int, server_cpu_share: float | None = None) -> StepResult:
    """One step's verdict from the cell's measures (results.json shape) and the load summary."""
    gen = measures.get("generator") or {}
    reasons = tuple(gen.get("reasons") or ())
    own = tuple(r for r in reasons if any(m in r for m in _GENERATOR_MARKERS))
    delivered = (gen.get("delivered_ops_s") or {}).get("steady")
    frac = (gen.get("delivered_fraction") or {}).get("steady")
    ops = measures.get("ops") or {}
    total = int(ops.get("total") or 0)
    errors = int(ops.get("failed") or 0) + int(ops.get("unknown") or 0)
    rt = measures.get("response_time_ms") or {}
    p99 = rt.get("p99")
    share, busiest = generator_cpu(load, cpus)
    err_frac = errors / total if total else 0.0
    saturated_worker = busiest is not None and busiest >= SATURATED_CPU
    if own:
        bound, why = "generator", "the load generator flagged itself: " + "; ".join(own)
    elif saturated_worker and (not gen.get("valid", True) or err_frac > limits.max_error_fraction
                               or (p99 or 0.0) > limits.slo_p99_ms):
        # a worker at a full core delays its own ops' completions: its latencies and rate are its own
        bound, why = "generator", (f"the busiest load worker used {(busiest or 0.0) * 100:.0f} % of a core"
                                   + (": " + "; ".join(reasons) if reasons else ""))
    elif total == 0:
        bound, why = "errors", "no op completed"
    elif err_frac > limits.max_error_fraction:
        top = ((measures.get("verdict") or {}).get("checkers") or {}).get("ops", {}).get("top_errors") or []
        commonest = f"; commonest: {top[0]['error']} ({top[0]['count']})" if top else ""
        bound, why = "errors", (f"{err_frac * 100:.1f} % of {total} ops failed or timed out "
                                f"(limit {limits.max_error_fraction * 100:g} %){commonest}")
    elif frac is not None and frac < limits.min_delivered:
        bound, why = "saturated", (f"delivered {delivered:.0f} of {offered_ops_s:g} ops/s offered "
                                   f"({frac * 100:.0f} %) with the busiest load worker at "
                                   f"{(busiest or 0) * 100:.0f} % of a core: the users were waiting on the database")
    elif p99 is not None and p99 > limits.slo_p99_ms:
        bound, why = "slo", f"p99 response time {p99:.1f} ms > the SLO {limits.slo_p99_ms:g} ms"
    else:
        bound, why = None, (f"p99 {p99:.1f} ms within {limits.slo_p99_ms:g} ms, {err_frac * 100:.2f} % errors"
                            if p99 is not None else "sustained")
    return StepResult(
        offered_ops_s=offered_ops_s, delivered_ops_s=delivered, p50_ms=rt.get("p50"), p99_ms=p99,
        service_p99_ms=(measures.get("latency_steady_ms") or {}).get("p99"), ops=total, errors=errors,
        generator_valid=bool(gen.get("valid", True)), generator_reasons=reasons, generator_cpu_share=share,
        busiest_worker_cpu=busiest, sustained=bound is None, bound=bound, why=why, server_cpu_share=server_cpu_share)


@dataclass(frozen=True)
class CapacityResult:
    steps: tuple[StepResult, ...]
    max_sustained_ops_s: float | None  # the highest offered rate sustained (every step below it was too)
    bound: str  # what ended the search (BOUNDS)
    bound_at_ops_s: float | None
    summary: str  # one line for the report

    @property
    def generator_bound(self) -> bool:
        return self.bound == "generator"

    def to_results(self) -> dict[str, Any]:
        return {"steps": [s.to_results() for s in self.steps], "max_sustained_ops_s": self.max_sustained_ops_s,
                "bound": self.bound, "bound_at_ops_s": self.bound_at_ops_s, "summary": self.summary}


def conclude(steps: Sequence[StepResult], rates: Sequence[float], failure: str | None = None) -> CapacityResult:
    """The search's answer from the steps run so far (it stops at the first step not sustained)."""
    sustained = [s.offered_ops_s for s in steps if s.sustained]
    best = max(sustained) if sustained else None
    last = steps[-1] if steps else None
    if failure is not None:
        bound, at = "failed", (last.offered_ops_s if last else None)
        summary = f"the search failed: {failure}"
    elif last is not None and not last.sustained:
        bound, at = str(last.bound), last.offered_ops_s
        if bound == "generator":
            summary = (f"generator-bound at {at:g} ops/s: the load generator could not offer more on this machine "
                       f"({last.why}); the database's capacity is at least {best:g} ops/s" if best is not None
                       else f"generator-bound at {at:g} ops/s: no database number ({last.why})")
        else:
            summary = (f"{best:g} ops/s sustained; {at:g} ops/s was not ({last.why})" if best is not None
                       else f"not even {at:g} ops/s was sustained ({last.why})")
    else:
        bound, at = "max-rate", (rates[-1] if rates else None)
        summary = (f"every step up to {best:g} ops/s was sustained (the search's maximum): capacity is higher"
                   if best is not None else "no step ran")
    return CapacityResult(tuple(steps), best, bound, at, summary)
