"""The report's tables, computed only from results.json (pure functions, no I/O).

Repeated cells (profile `full`) are summarised by their median; every number shown is one the
checker wrote into results.json, never recomputed differently here; what counts as an anomaly
(lost writes, seq anomalies, no recovery, an untrustworthy generator) is the checker's persisted
verdict (harness.verdict_record; derived from the blocks for runs from before it was kept).

Every function reads the typed results model (harness.results_model); a results document given as a
plain dict (a parsed results.json, a test's hand-made cells) is parsed into it first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from statistics import median
from typing import Any

from harness.compare import Thresholds
from harness.config import ValiditySettings
from harness.contracts import ENGINES
from harness.results_model import (
    Cell,
    Results,
    Run,
    as_cells,
    as_results,
    operation_verdict,
    p99_ms,
    rto_s,
    steady_throughput_ops_s,
)
from harness.verdict_record import verdict_of

ResultsLike = Results | Mapping[str, Any]  # a parsed results.json is accepted too
CellsLike = Iterable[Cell | Mapping[str, Any]]
Getter = Callable[[Cell], Any]
MODES = ("kubeblocks", "statefulset")

# A verdict needs a difference beyond noise: at least this many seconds and this ratio.
GAP_MARGIN_S = 1.0
GAP_RATIO = 0.8


def fmt(v: Any, unit: str = "", digits: int = 1) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v}{unit}"
    if isinstance(v, float):
        return f"{v:.{digits}f}{unit}"
    return str(v)


def fmt_delta(a: Any, b: Any, unit: str = "", digits: int = 1, pct: bool = True) -> str:
    """kubeblocks minus statefulset, with the relative change when it means something."""
    if not isinstance(a, int | float) or not isinstance(b, int | float) or isinstance(a, bool):
        return "–"
    d = a - b
    text = f"{d:+.{digits}f}{unit}"
    if pct and b:
        text += f" ({d / b * 100:+.0f} %)"
    return text


def ordered_scenarios(results: ResultsLike) -> list[str]:
    """The scenarios with a load behind them, in run order (a connection-limits cell runs none: its own
    section shows it)."""
    cells = as_results(results).cells
    no_load = {c.scenario for c in cells if c.connections is not None}
    seen: list[str] = []
    for c in cells:
        if c.scenario not in no_load and c.scenario not in seen:
            seen.append(c.scenario)
    return seen


def engines_in(cells: Iterable[Cell]) -> list[str]:
    """The engines these cells ran, in the registry's order."""
    present = {c.engine for c in cells}
    return [e for e in ENGINES if e in present]


def engines_of(results: ResultsLike) -> list[str]:
    return engines_in(as_results(results).cells)


def cells_for(results: ResultsLike, scenario: str, engine: str, mode: str, ok_only: bool = True) -> list[Cell]:
    return [c for c in as_results(results).cells if c.scenario == scenario and c.engine == engine
            and c.mode == mode and (c.status == "ok" or not ok_only)]


def med(cells: CellsLike, getter: Getter) -> Any:
    vals = [getter(c) for c in as_cells(cells)]
    nums = [v for v in vals if isinstance(v, int | float) and not isinstance(v, bool)]
    if not nums:
        bools = [v for v in vals if isinstance(v, bool)]
        return all(bools) if bools else None
    m = median(nums)
    return int(m) if all(isinstance(v, int) for v in nums) and float(m).is_integer() else float(m)


def status_of(results: ResultsLike, scenario: str, engine: str, mode: str) -> str:
    cs = cells_for(results, scenario, engine, mode, ok_only=False)
    if not cs:
        return "not run"
    statuses = sorted({c.status for c in cs})
    return "/".join(statuses)


# -- availability ------------------------------------------------------------------------------
def _gap(c: Cell) -> Any:
    return c.measures.availability.write_gap_s


def availability_text(cells: CellsLike) -> str:
    cells = as_cells(cells)
    if not cells:
        return "–"
    failed = [r for c in cells for valid, rs in [operation_verdict(c)] if valid is False for r in rs or ("",)]
    if failed:  # a day-2 operation that did not do its job: its reasons, not a gap that reads as fine
        return "**operation failed**: " + "; ".join(dict.fromkeys(r or "no reason recorded" for r in failed))
    gap = med(cells, _gap)
    rto = med(cells, rto_s)
    recovered = all(verdict_of(c).recovered for c in cells)
    if not recovered:
        return f"**not recovered** in the window (write gap ≥ {fmt(gap, ' s')})"
    if rto == 0:
        return f"no outage (longest write gap {fmt(gap, ' s')})"
    return f"writes stopped {fmt(gap, ' s')} (RTO {fmt(rto, ' s')})"


def gap_verdict(kb: CellsLike, sts: CellsLike) -> str:
    kb, sts = as_cells(kb), as_cells(sts)
    if not kb or not sts:
        return "–"
    g_kb = _effective_gap(kb)
    g_sts = _effective_gap(sts)
    if g_kb is None or g_sts is None:
        return "–"
    p = two_sided_p([_effective_gap([c]) or 0.0 for c in kb], [_effective_gap([c]) or 0.0 for c in sts])
    if p is not None:
        basis = f" (medians of {len(kb)}/{len(sts)} runs, Mann-Whitney p = {p:.3f})"
        if p >= ALPHA:
            return "no significant difference" + basis
    else:
        basis = " (single run)" if len(kb) == 1 and len(sts) == 1 else f" ({len(kb)} vs {len(sts)} runs, no test)"
    if g_kb + GAP_MARGIN_S <= g_sts and g_kb <= GAP_RATIO * g_sts:
        return f"**kubeblocks** better ({g_sts - g_kb:.1f} s less downtime){basis}"
    if g_sts + GAP_MARGIN_S <= g_kb and g_sts <= GAP_RATIO * g_kb:
        return f"**statefulset** better ({g_kb - g_sts:.1f} s less downtime){basis}"
    return "similar" + basis


def _effective_gap(cells: list[Cell]) -> float | None:
    """The write gap, or 0 when the checker found no outage (RTO 0: a normal ack interval)."""
    rto = med(cells, rto_s)
    gap = med(cells, _gap)
    if rto == 0:
        return 0.0
    return gap


# -- safety ------------------------------------------------------------------------------------
def safety_counts(cells: CellsLike) -> dict[str, int | None]:
    """The read-back and order checkers' counts, summed (lost: None once any cell was not read back)."""
    out: dict[str, int | None] = {"acked": 0, "lost": 0, "dups": 0, "regs": 0}
    for c in as_cells(cells):
        v = verdict_of(c)
        out["acked"] = (out["acked"] or 0) + (v.evidence("lost", "acked_writes") or 0)
        lost = v.evidence("lost", "lost_writes")
        out["lost"] = None if lost is None or out["lost"] is None else out["lost"] + lost
        out["dups"] = (out["dups"] or 0) + (v.evidence("order", "duplicate_seqs") or 0)
        out["regs"] = (out["regs"] or 0) + (v.evidence("order", "seq_regressions") or 0)
    return out


def safety_text(cells: CellsLike) -> str:
    cells = as_cells(cells)
    if not cells:
        return "–"
    s = safety_counts(cells)
    lost = "unknown" if s["lost"] is None else s["lost"]
    text = f"{lost} lost / {s['acked']} acked, {s['dups']} duplicate seqs, {s['regs']} seq regressions"
    return text + divergence_text(cells)


def divergence_text(cells: list[Cell]) -> str:
    """The replica comparison beside the lost writes: a replica that differs from its primary is data
    the next failover would lose or serve wrong, though every write was acknowledged."""
    checked = [c for c in cells if c.divergence and c.divergence.checked]
    unchecked = sum(1 for c in cells if c.divergence and not c.divergence.checked)
    if not checked and not unchecked:
        return ""
    diverged = sum(1 for c in checked if c.divergence.diverged)
    text = f"; replicas compared in {len(checked)} cell(s): " + (
        f"**diverged in {diverged}**" if diverged else "all matched the primary")
    return text + (f", {unchecked} not compared" if unchecked else "")


def safety_verdict(kb: CellsLike, sts: CellsLike) -> str:
    kb, sts = as_cells(kb), as_cells(sts)
    a, b = safety_counts(kb), safety_counts(sts)

    def bad(s: dict[str, int | None]) -> int:
        return (s["lost"] or 0) + (s["dups"] or 0) + (s["regs"] or 0)

    if not kb or not sts:
        return "–"
    diverged = sum(1 for c in kb if c.divergence and c.divergence.diverged)
    if diverged and bad(a) == 0:
        return f"**kubeblocks replicas diverged** from their primary in {diverged} cell(s), though no acknowledged write was lost"
    if bad(a) == 0 and bad(b) == 0:
        return "both kept every acknowledged write"
    if bad(a) < bad(b):
        return f"**kubeblocks** safer ({bad(b)} vs {bad(a)} anomalies)"
    if bad(b) < bad(a):
        return f"**statefulset** safer ({bad(a)} vs {bad(b)} anomalies)"
    return f"both lost data ({bad(a)} anomalies each)"


RANK_TEST = Thresholds()  # as harness compare: a difference is called only with a test behind it
MIN_SAMPLES_FOR_TEST = RANK_TEST.mann_whitney_min_samples
ALPHA = RANK_TEST.mann_whitney_alpha
DELIVERED = ValiditySettings().min_delivered  # "delivered the offered rate": the validity default


def two_sided_p(a: list[float], b: list[float]) -> float | None:
    """Mann-Whitney U p-value (two-sided), or None when a side has too few runs for a test."""
    if len(a) < MIN_SAMPLES_FOR_TEST or len(b) < MIN_SAMPLES_FOR_TEST:
        return None
    from scipy.stats import mannwhitneyu

    return float(mannwhitneyu(a, b, alternative="two-sided").pvalue)


def samples(cells: CellsLike, getter: Getter) -> list[float]:
    """The numbers `getter` reads from the cells (a missing one, or a bool, is not a sample)."""
    return [float(v) for c in as_cells(cells) if isinstance(v := getter(c), int | float) and not isinstance(v, bool)]


def _offered(c: Cell) -> Any:
    return c.measures.generator.offered_ops_s


def _delivered_frac(c: Cell) -> Any:
    return c.measures.generator.delivered_fraction.steady


def _p50(c: Cell) -> Any:
    return c.measures.latency_ms.p50


def spread_text(vals: list[float], unit: str, digits: int) -> str:
    """One run: the value; repeats: median [min–max] (n)."""
    if not vals:
        return "–"
    if len(vals) == 1:
        return f"{vals[0]:.{digits}f}{unit}"
    return f"{median(vals):.{digits}f}{unit} [{min(vals):.{digits}f}–{max(vals):.{digits}f}] (n={len(vals)})"


def difference_verdict(kb: list[float], sts: list[float], higher_is_worse: bool, what: str) -> str:
    """A cost of HA, called only when the samples allow it: one run per mode is a single sample (said
    so, with its size); with >= 3 runs a side, a two-sided Mann-Whitney U test (alpha 0.05) decides."""
    if not kb or not sts:
        return "–"
    a, b = median(kb), median(sts)
    rel = (a - b) / b if b else None
    size = f"{rel * 100:+.0f} %" if rel is not None else f"{a - b:+.2f}"
    p = two_sided_p(kb, sts)
    if p is None:
        runs = "single run" if len(kb) == 1 and len(sts) == 1 else f"{len(kb)} vs {len(sts)} runs"
        return f"{runs}, no significance test: kubeblocks {size} {what} vs statefulset"
    if p >= ALPHA:
        return f"no significant difference ({size}, Mann-Whitney p = {p:.2f}, n = {len(kb)}/{len(sts)})"
    worse = (a > b) == higher_is_worse
    lead = f"HA costs {abs(rel or 0) * 100:.0f} % {what}" if worse else f"kubeblocks {abs(rel or 0) * 100:.0f} % better {what}"
    return f"{lead} (Mann-Whitney p = {p:.3f}, n = {len(kb)}/{len(sts)})"


def delivered_text(cells: CellsLike) -> str:
    """At a fixed offered rate, throughput only says whether that rate was delivered."""
    cells = as_cells(cells)
    if not cells:
        return "–"
    offered = med(cells, _offered)
    thr = samples(cells, steady_throughput_ops_s)
    frac = samples(cells, _delivered_frac)
    if offered is None or not frac:
        return f"{spread_text(thr, ' ok ops/s', 1)} (offered rate not recorded)"
    ok = all(f >= DELIVERED for f in frac)
    return (f"{'yes' if ok else '**no**'}: {spread_text(thr, '', 1)} of {offered:g} ops/s offered "
            f"({min(frac) * 100:.0f} %{'' if len(frac) == 1 else ' at worst'})")


def delivered_verdict(kb: CellsLike, sts: CellsLike) -> str:
    kb, sts = as_cells(kb), as_cells(sts)
    if not kb or not sts:
        return "–"
    k, s_ = (all(f >= DELIVERED for f in samples(x, _delivered_frac)) for x in (kb, sts))
    if k and s_:
        return "both delivered the offered rate (a fixed offered rate: no throughput ranking)"
    return "only " + ("kubeblocks" if k else "statefulset") + " delivered the offered rate" if k != s_ else "neither delivered"


def _capacity_side(cells: list[Cell]) -> tuple[str, float | None, bool]:
    """(text, highest sustained rate, whether that rate is only a floor: the generator ended the search)."""
    if not cells or not cells[0].capacity:
        return "–", None, False
    cap = cells[0].capacity
    best = cap.max_sustained_ops_s
    text = f"{fmt(best, ' ops/s', 0)} sustained" if best is not None else "nothing sustained"
    if cap.bound == "generator":
        return text + f"; **generator-bound** at {fmt(cap.bound_at_ops_s, '', 0)} (a floor, not the database's)", best, True
    return text + f"; {cap.bound} at {fmt(cap.bound_at_ops_s, '', 0)}", best, False


def capacity_row(results: Results, scenario: str, engine: str) -> tuple[str, ...] | None:
    """The capacity search's answer per mode. A generator-bound side's rate is a floor: it ranks only
    above a side that reached its own limit below that floor."""
    (kb_t, kb, kb_floor), (sts_t, sts, sts_floor) = (_capacity_side(cells_for(results, scenario, engine, m))
                                                    for m in MODES)
    if kb_t == "–" and sts_t == "–":
        return None
    if kb is None or sts is None:
        verdict = "not comparable (a side sustained nothing or was not measured)"
    elif kb == sts:
        verdict = "same highest sustained step" + (" (a floor on one side)" if kb_floor or sts_floor else "")
    else:
        hi, lo = ("kubeblocks", "statefulset") if kb > sts else ("statefulset", "kubeblocks")
        if (kb_floor if lo == "kubeblocks" else sts_floor):
            verdict = "not comparable (the lower side is generator-bound: its database may go higher)"
        else:
            verdict = f"**{hi}** sustains more ({max(kb, sts):g} vs {min(kb, sts):g} ops/s)"
    return ("capacity: highest sustained offered rate", kb_t, sts_t, verdict)


# -- the tables --------------------------------------------------------------------------------
def verdict_rows(results: ResultsLike, engine: str) -> list[tuple[str, ...]]:
    """criterion | kubeblocks | statefulset | verdict, for one engine."""
    results = as_results(results)
    rows: list[tuple[str, ...]] = []
    scenarios = ordered_scenarios(results)
    searches = {c.scenario for c in results.cells if c.capacity}  # no fault: their own row below
    for sc in scenarios:
        if sc == "steady" or sc in searches:
            continue
        kb = cells_for(results, sc, engine, "kubeblocks")
        sts = cells_for(results, sc, engine, "statefulset")
        if not kb and not sts:
            kb_s, sts_s = status_of(results, sc, engine, "kubeblocks"), status_of(results, sc, engine, "statefulset")
            rows.append((f"availability: {sc}", kb_s, sts_s, "not measured"))
            continue
        kb_t = availability_text(kb) if kb else status_of(results, sc, engine, "kubeblocks")
        sts_t = availability_text(sts) if sts else status_of(results, sc, engine, "statefulset")
        failed = [m for m, cs in (("kubeblocks", kb), ("statefulset", sts))
                  if any(operation_verdict(c)[0] is False for c in cs)]
        verdict = (" and ".join(failed) + ": operation failed" if failed else gap_verdict(kb, sts) if kb and sts
                   else ("kubeblocks only" if kb else "statefulset only"))
        rows.append((f"availability: {sc}", kb_t, sts_t, verdict))
    all_kb = [c for sc in scenarios for c in cells_for(results, sc, engine, "kubeblocks")]
    all_sts = [c for sc in scenarios for c in cells_for(results, sc, engine, "statefulset")]
    rows.append(("data safety (all scenarios)", safety_text(all_kb), safety_text(all_sts),
                 safety_verdict(all_kb, all_sts)))
    for sc in sorted(searches):
        if (row := capacity_row(results, sc, engine)) is not None:
            rows.append(row)
    kb = cells_for(results, "steady", engine, "kubeblocks")
    sts = cells_for(results, "steady", engine, "statefulset")
    if kb or sts:
        p50 = [spread_text(samples(x, _p50), " ms", 2) for x in (kb, sts)]
        p99 = [spread_text(samples(x, p99_ms), " ms", 2) for x in (kb, sts)]
        rows.append(("steady latency p50 / p99", f"{p50[0]} / {p99[0]}", f"{p50[1]} / {p99[1]}",
                     difference_verdict(samples(kb, p99_ms), samples(sts, p99_ms), True, "p99 latency")))
        rows.append(("steady: offered rate delivered", delivered_text(kb), delivered_text(sts),
                     delivered_verdict(kb, sts)))
    return rows


SIDE_METRICS: tuple[tuple[str, Getter, str, int], ...] = (
    ("throughput steady (ops/s)", lambda c: c.measures.throughput_ops_s.steady, "", 1),
    ("throughput during fault (ops/s)", lambda c: c.measures.throughput_ops_s.during_fault, "", 1),
    ("throughput after recovery (ops/s)", lambda c: c.measures.throughput_ops_s.after_recovery, "", 1),
    ("latency p50 (ms)", lambda c: c.measures.latency_ms.p50, "", 2),
    ("latency p95 (ms)", lambda c: c.measures.latency_ms.p95, "", 2),
    ("latency p99 (ms)", lambda c: c.measures.latency_ms.p99, "", 2),
    ("latency max (ms)", lambda c: c.measures.latency_ms.max, "", 1),
    ("response time p99 from schedule (ms)", lambda c: c.measures.response_time_ms.p99, "", 2),
    ("offered (ops/s)", lambda c: c.measures.generator.offered_ops_s, "", 1),
    ("delivered steady (invoked ops/s)", lambda c: c.measures.generator.delivered_ops_s.steady, "", 1),
    ("schedule lag p99 (ms)", lambda c: c.measures.generator.schedule_lag_ms.p99, "", 1),
    ("longest generator stall (s)", lambda c: c.measures.generator.longest_stall_s, "", 2),
    ("write gap (s)", lambda c: c.measures.availability.write_gap_s, "", 2),
    ("RTO (s)", lambda c: c.measures.availability.rto_s, "", 2),
    ("recovered", lambda c: c.measures.availability.recovered, "", 0),
    ("ops total", lambda c: c.measures.ops.total, "", 0),
    ("ops ok", lambda c: c.measures.ops.ok, "", 0),
    ("ops failed", lambda c: c.measures.ops.failed, "", 0),
    ("ops unknown (info)", lambda c: c.measures.ops.unknown, "", 0),
    ("acknowledged writes", lambda c: c.measures.consistency.acked_writes, "", 0),
    ("lost writes", lambda c: c.measures.consistency.lost_writes, "", 0),
    ("duplicate seqs", lambda c: c.measures.consistency.duplicate_seqs, "", 0),
    ("seq regressions", lambda c: c.measures.consistency.seq_regressions, "", 0),
)


def side_by_side_rows(results: ResultsLike, scenario: str, engine: str) -> list[tuple[str, ...]]:
    """metric | kubeblocks | statefulset | Δ (kubeblocks − statefulset)."""
    results = as_results(results)
    kb = cells_for(results, scenario, engine, "kubeblocks")
    sts = cells_for(results, scenario, engine, "statefulset")
    rows: list[tuple[str, ...]] = [("status", status_of(results, scenario, engine, "kubeblocks"),
                                    status_of(results, scenario, engine, "statefulset"), "")]
    if any(c.operation or operation_verdict(c)[0] is not None for c in (*kb, *sts)):
        rows.append(("day-2 operation", operation_check_text(kb), operation_check_text(sts), ""))
    for label, getter, unit, digits in SIDE_METRICS:
        a = med(kb, getter) if kb else None
        b = med(sts, getter) if sts else None
        if a is None and b is None:
            continue
        delta = "" if isinstance(a, bool) or isinstance(b, bool) else fmt_delta(a, b, unit, digits, pct=digits > 0)
        rows.append((label, fmt(a, unit, digits), fmt(b, unit, digits), delta))
    rows.append(("server-recorded primary changes", role_text(kb), role_text(sts), ""))
    return rows


def operation_check_text(cells: CellsLike) -> str:
    """The operation checker's word on a day-2 cell: the numbers beside it hold only when it is valid."""
    out = []
    for c in as_cells(cells):
        valid, reasons = operation_verdict(c)
        out.append("valid" if valid else "not judged" if valid is None
                   else "**failed**: " + ("; ".join(reasons) or "no reason recorded"))
    return "; ".join(out) or "–"


def role_text(cells: CellsLike) -> str:
    cells = as_cells(cells)
    if not cells:
        return "–"
    parts = []
    for c in cells:
        inj = c.fault.injected_at_s
        if not c.role_changes:
            parts.append("none")
            continue
        for rc in c.role_changes:
            at = rc.at_s
            rel = f" at {at - inj:+.1f} s from injection" if isinstance(at, int | float) and isinstance(inj, int | float) else ""
            parts.append(f"{rc.new_primary} ({rc.source}){rel}")
    return "; ".join(parts)


def not_ok_rows(results: ResultsLike) -> list[tuple[str, ...]]:
    return [(c.scenario, c.engine, c.mode, c.status, c.reason or "")
            for c in as_results(results).cells if c.status not in ("ok", "invalid")]


def invalid_rows(results: ResultsLike) -> list[tuple[str, ...]]:
    """The cells the harness measured but cannot vouch for, with the evidence that says why."""
    return [(c.label, c.engine, c.mode, (c.reason or "").removeprefix("the harness could not measure this cell: "))
            for c in as_results(results).cells if c.status == "invalid"]


GENERATOR_HEADER = ("scenario", "engine", "mode", "offered ops/s", "delivered steady", "lag p50 / p99 / max ms",
                    "longest stall s", "hub block s", "vouched for")


def generator_rows(results: ResultsLike) -> list[tuple[str, ...]]:
    """Per measured cell: did the load generator keep its schedule (the evidence behind every number)."""
    rows: list[tuple[str, ...]] = []
    for c in as_results(results).cells:
        g = c.measures.generator
        if not g:
            continue
        lag = g.schedule_lag_ms
        frac = g.delivered_fraction.steady
        rows.append((c.label, c.engine, c.mode,
                     fmt(g.offered_ops_s, "", 0),
                     f"{fmt(g.delivered_ops_s.steady)}" + (f" ({frac * 100:.0f} %)" if frac is not None else ""),
                     " / ".join(fmt(v, "", 1) for v in (lag.p50, lag.p99, lag.max)),
                     fmt(g.longest_stall_s, "", 2), fmt(g.hub_block_s, "", 2),
                     "yes" if verdict_of(c).valid_of("generator") else "**no**"))
    return rows


def headline_rows(results: ResultsLike) -> list[tuple[str, ...]]:
    """One line per cell: scenario | engine | mode | status | write gap | RTO | lost | steady ops/s | p99."""
    rows: list[tuple[str, ...]] = []
    for c in as_results(results).cells:
        if c.status != "ok":
            rows.append((c.label, c.engine, c.mode, c.status, "", "", "", "", ""))
            continue
        m = c.measures
        rows.append((c.label, c.engine, c.mode, "ok",
                     fmt(m.availability.write_gap_s, " s", 2) if c.fault else "–",
                     (fmt(m.availability.rto_s, " s", 2) if verdict_of(c).recovered
                      else "not recovered") if c.fault else "–",
                     fmt(m.consistency.lost_writes),
                     fmt(m.throughput_ops_s.steady, "", 0),
                     fmt(m.latency_ms.p99, " ms", 1)))
    return rows


HEADLINE_HEADER = ("scenario", "engine", "mode", "status", "write gap", "RTO", "lost writes", "steady ops/s",
                   "p99")


def header_rows(run: Run | Mapping[str, Any]) -> list[tuple[str, str]]:
    """The run header (platform, servers, client libraries, profile, dates, status, harness, host): report and
    notebook. A run from before client libraries were recorded shows "not recorded" for them."""
    from harness.software import CLIENT_DISTRIBUTIONS

    run = run if isinstance(run, Run) else Run.model_validate(run)
    software = run.software
    sw = ", ".join(f"{k} {v}" for k, v in software.items() if v and k not in CLIENT_DISTRIBUTIONS) or "unknown"
    clients = ", ".join(f"{k} {software[k]}" for k in CLIENT_DISTRIBUTIONS if software.get(k)) or "not recorded"
    return [
        ("platform", f"{run.platform}" + (f" ({run.platform_reason})" if run.platform_reason else "")),
        ("software", sw),
        ("client libraries", clients),
        ("profile / seed", f"{run.profile} / {run.seed}"),
        ("started / finished", f"{run.started_at} / {run.finished_at or '(unfinished)'}"),
        ("run status", str(run.status)),  # None only where the file says null: rendered "None" as before
        ("harness", f"{run.harness_version} (git {(run.git_sha or 'unknown')[:12]})"),
        ("host", f"{run.host.cpus} CPUs, {run.host.memory_gb} GB"),
    ]


CONSISTENCY_HEADER = ("scenario", "engine", "mode", "acknowledged writes", "lost writes", "duplicate seqs",
                      "seq regressions", "verdict")


def consistency_rows(results: ResultsLike) -> list[tuple[str, ...]]:
    """One line per measured cell: what the read-back found missing or out of order."""
    rows: list[tuple[str, ...]] = []
    for c in as_results(results).cells:
        if c.status != "ok":
            continue
        cons = c.measures.consistency
        v = verdict_of(c)
        bad = v.data_safety_anomalies
        verdict = ("unknown (no read-back)" if v.evidence("lost", "lost_writes") is None
                   else "anomalies: " + ", ".join(bad).replace("_", " ") if bad else "every acknowledged write kept")
        rows.append((c.label, c.engine, c.mode, fmt(cons.acked_writes),
                     fmt(cons.lost_writes), fmt(cons.duplicate_seqs), fmt(cons.seq_regressions),
                     verdict))
    return rows
