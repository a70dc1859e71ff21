"""The report's tables, computed only from results.json (pure functions, no I/O).

Repeated cells (profile `full`) are summarised by their median; every number shown is one the
checker wrote into results.json, never recomputed differently here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from statistics import median
from typing import Any

Cell = dict[str, Any]
MODES = ("kubeblocks", "statefulset")

# A verdict needs a difference beyond noise: at least this many seconds and this ratio.
GAP_MARGIN_S = 1.0
GAP_RATIO = 0.8
COST_MARGIN = 0.10  # latency/throughput differences under 10 % are "similar"


def get(cell: Cell, *path: str) -> Any:
    cur: Any = cell
    for p in path:
        if not isinstance(cur, dict):
            return None
        cur = cur.get(p)
    return cur


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


def ordered_scenarios(results: dict[str, Any]) -> list[str]:
    seen: list[str] = []
    for c in results["cells"]:
        if c["scenario"] not in seen:
            seen.append(c["scenario"])
    return seen


def engines_of(results: dict[str, Any]) -> list[str]:
    order = ("mysql", "redis", "mongodb")
    present = {c["engine"] for c in results["cells"]}
    return [e for e in order if e in present]


def cells_for(results: dict[str, Any], scenario: str, engine: str, mode: str, ok_only: bool = True) -> list[Cell]:
    return [c for c in results["cells"] if c["scenario"] == scenario and c["engine"] == engine
            and c["mode"] == mode and (c["status"] == "ok" or not ok_only)]


def med(cells: Iterable[Cell], getter: Callable[[Cell], Any]) -> Any:
    vals = [getter(c) for c in cells]
    nums = [v for v in vals if isinstance(v, int | float) and not isinstance(v, bool)]
    if not nums:
        bools = [v for v in vals if isinstance(v, bool)]
        return all(bools) if bools else None
    m = median(nums)
    return int(m) if all(isinstance(v, int) for v in nums) and float(m).is_integer() else float(m)


def status_of(results: dict[str, Any], scenario: str, engine: str, mode: str) -> str:
    cs = cells_for(results, scenario, engine, mode, ok_only=False)
    if not cs:
        return "not run"
    statuses = sorted({c["status"] for c in cs})
    return "/".join(statuses)


# -- availability ------------------------------------------------------------------------------
def availability_text(cells: list[Cell]) -> str:
    if not cells:
        return "–"
    gap = med(cells, lambda c: get(c, "availability", "write_gap_s"))
    rto = med(cells, lambda c: get(c, "availability", "rto_s"))
    recovered = all(get(c, "availability", "recovered") is not False for c in cells)
    if not recovered:
        return f"**not recovered** in the window (write gap ≥ {fmt(gap, ' s')})"
    if rto == 0:
        return f"no outage (longest write gap {fmt(gap, ' s')})"
    return f"writes stopped {fmt(gap, ' s')} (RTO {fmt(rto, ' s')})"


def gap_verdict(kb: list[Cell], sts: list[Cell]) -> str:
    if not kb or not sts:
        return "–"
    g_kb = _effective_gap(kb)
    g_sts = _effective_gap(sts)
    if g_kb is None or g_sts is None:
        return "–"
    if g_kb + GAP_MARGIN_S <= g_sts and g_kb <= GAP_RATIO * g_sts:
        return f"**kubeblocks** better ({g_sts - g_kb:.1f} s less downtime)"
    if g_sts + GAP_MARGIN_S <= g_kb and g_sts <= GAP_RATIO * g_kb:
        return f"**statefulset** better ({g_kb - g_sts:.1f} s less downtime)"
    return "similar"


def _effective_gap(cells: list[Cell]) -> float | None:
    """The write gap, or 0 when the checker found no outage (RTO 0: a normal ack interval)."""
    rto = med(cells, lambda c: get(c, "availability", "rto_s"))
    gap = med(cells, lambda c: get(c, "availability", "write_gap_s"))
    if rto == 0:
        return 0.0
    return gap


# -- safety ------------------------------------------------------------------------------------
def safety_counts(cells: list[Cell]) -> dict[str, int | None]:
    out: dict[str, int | None] = {"acked": 0, "lost": 0, "dups": 0, "regs": 0}
    for c in cells:
        cons = c.get("consistency") or {}
        out["acked"] = (out["acked"] or 0) + (cons.get("acked_writes") or 0)
        lost = cons.get("lost_writes")
        out["lost"] = None if lost is None or out["lost"] is None else out["lost"] + lost
        out["dups"] = (out["dups"] or 0) + (cons.get("duplicate_seqs") or 0)
        out["regs"] = (out["regs"] or 0) + (cons.get("seq_regressions") or 0)
    return out


def safety_text(cells: list[Cell]) -> str:
    if not cells:
        return "–"
    s = safety_counts(cells)
    lost = "unknown" if s["lost"] is None else s["lost"]
    return f"{lost} lost / {s['acked']} acked, {s['dups']} duplicate seqs, {s['regs']} seq regressions"


def safety_verdict(kb: list[Cell], sts: list[Cell]) -> str:
    a, b = safety_counts(kb), safety_counts(sts)

    def bad(s: dict[str, int | None]) -> int:
        return (s["lost"] or 0) + (s["dups"] or 0) + (s["regs"] or 0)

    if not kb or not sts:
        return "–"
    if bad(a) == 0 and bad(b) == 0:
        return "both kept every acknowledged write"
    if bad(a) < bad(b):
        return f"**kubeblocks** safer ({bad(b)} vs {bad(a)} anomalies)"
    if bad(b) < bad(a):
        return f"**statefulset** safer ({bad(a)} vs {bad(b)} anomalies)"
    return f"both lost data ({bad(a)} anomalies each)"


def cost_verdict(kb: Any, sts: Any, higher_is_worse: bool, what: str) -> str:
    if not isinstance(kb, int | float) or not isinstance(sts, int | float) or not sts:
        return "–"
    rel = (kb - sts) / sts
    if abs(rel) < COST_MARGIN:
        return f"similar ({rel * 100:+.0f} %)"
    worse = rel > 0 if higher_is_worse else rel < 0
    return f"HA costs {abs(rel) * 100:.0f} % {what}" if worse else f"kubeblocks {abs(rel) * 100:.0f} % better"


# -- the tables --------------------------------------------------------------------------------
def verdict_rows(results: dict[str, Any], engine: str) -> list[tuple[str, ...]]:
    """criterion | kubeblocks | statefulset | verdict, for one engine."""
    rows: list[tuple[str, ...]] = []
    scenarios = ordered_scenarios(results)
    for sc in scenarios:
        if sc == "steady":
            continue
        kb = cells_for(results, sc, engine, "kubeblocks")
        sts = cells_for(results, sc, engine, "statefulset")
        if not kb and not sts:
            kb_s, sts_s = status_of(results, sc, engine, "kubeblocks"), status_of(results, sc, engine, "statefulset")
            rows.append((f"availability: {sc}", kb_s, sts_s, "not measured"))
            continue
        kb_t = availability_text(kb) if kb else status_of(results, sc, engine, "kubeblocks")
        sts_t = availability_text(sts) if sts else status_of(results, sc, engine, "statefulset")
        verdict = gap_verdict(kb, sts) if kb and sts else ("kubeblocks only" if kb else "statefulset only")
        rows.append((f"availability: {sc}", kb_t, sts_t, verdict))
    all_kb = [c for sc in scenarios for c in cells_for(results, sc, engine, "kubeblocks")]
    all_sts = [c for sc in scenarios for c in cells_for(results, sc, engine, "statefulset")]
    rows.append(("data safety (all scenarios)", safety_text(all_kb), safety_text(all_sts),
                 safety_verdict(all_kb, all_sts)))
    kb = cells_for(results, "steady", engine, "kubeblocks")
    sts = cells_for(results, "steady", engine, "statefulset")
    if kb or sts:
        p99 = (med(kb, lambda c: get(c, "latency_ms", "p99")), med(sts, lambda c: get(c, "latency_ms", "p99")))
        p50 = (med(kb, lambda c: get(c, "latency_ms", "p50")), med(sts, lambda c: get(c, "latency_ms", "p50")))
        thr = (med(kb, lambda c: get(c, "throughput_ops_s", "steady")),
               med(sts, lambda c: get(c, "throughput_ops_s", "steady")))
        rows.append(("steady latency p50 / p99", f"{fmt(p50[0], ' ms', 2)} / {fmt(p99[0], ' ms', 2)}",
                     f"{fmt(p50[1], ' ms', 2)} / {fmt(p99[1], ' ms', 2)}",
                     cost_verdict(p99[0], p99[1], True, "p99 latency")))
        rows.append(("steady throughput (ok ops/s)", fmt(thr[0]), fmt(thr[1]),
                     cost_verdict(thr[0], thr[1], False, "throughput")))
    return rows


SIDE_METRICS: tuple[tuple[str, tuple[str, ...], str, int], ...] = (
    ("throughput steady (ops/s)", ("throughput_ops_s", "steady"), "", 1),
    ("throughput during fault (ops/s)", ("throughput_ops_s", "during_fault"), "", 1),
    ("throughput after recovery (ops/s)", ("throughput_ops_s", "after_recovery"), "", 1),
    ("latency p50 (ms)", ("latency_ms", "p50"), "", 2),
    ("latency p95 (ms)", ("latency_ms", "p95"), "", 2),
    ("latency p99 (ms)", ("latency_ms", "p99"), "", 2),
    ("latency max (ms)", ("latency_ms", "max"), "", 1),
    ("write gap (s)", ("availability", "write_gap_s"), "", 2),
    ("RTO (s)", ("availability", "rto_s"), "", 2),
    ("recovered", ("availability", "recovered"), "", 0),
    ("ops total", ("ops", "total"), "", 0),
    ("ops ok", ("ops", "ok"), "", 0),
    ("ops failed", ("ops", "failed"), "", 0),
    ("ops unknown (info)", ("ops", "unknown"), "", 0),
    ("acknowledged writes", ("consistency", "acked_writes"), "", 0),
    ("lost writes", ("consistency", "lost_writes"), "", 0),
    ("duplicate seqs", ("consistency", "duplicate_seqs"), "", 0),
    ("seq regressions", ("consistency", "seq_regressions"), "", 0),
)


def side_by_side_rows(results: dict[str, Any], scenario: str, engine: str) -> list[tuple[str, ...]]:
    """metric | kubeblocks | statefulset | Δ (kubeblocks − statefulset)."""
    kb = cells_for(results, scenario, engine, "kubeblocks")
    sts = cells_for(results, scenario, engine, "statefulset")
    rows: list[tuple[str, ...]] = [("status", status_of(results, scenario, engine, "kubeblocks"),
                                    status_of(results, scenario, engine, "statefulset"), "")]
    for label, path, unit, digits in SIDE_METRICS:
        a = med(kb, lambda c, p=path: get(c, *p)) if kb else None
        b = med(sts, lambda c, p=path: get(c, *p)) if sts else None
        if a is None and b is None:
            continue
        delta = "" if isinstance(a, bool) or isinstance(b, bool) else fmt_delta(a, b, unit, digits, pct=digits > 0)
        rows.append((label, fmt(a, unit, digits), fmt(b, unit, digits), delta))
    rows.append(("server-recorded primary changes", role_text(kb), role_text(sts), ""))
    return rows


def role_text(cells: list[Cell]) -> str:
    if not cells:
        return "–"
    parts = []
    for c in cells:
        rcs = c.get("role_changes") or []
        inj = get(c, "fault", "injected_at_s")
        if not rcs:
            parts.append("none")
            continue
        for rc in rcs:
            at = rc.get("at_s")
            rel = f" at {at - inj:+.1f} s from injection" if isinstance(at, int | float) and isinstance(inj, int | float) else ""
            parts.append(f"{rc['new_primary']} ({rc['source']}){rel}")
    return "; ".join(parts)


def not_ok_rows(results: dict[str, Any]) -> list[tuple[str, ...]]:
    return [(c["scenario"], c["engine"], c["mode"], c["status"], c.get("reason") or "")
            for c in results["cells"] if c["status"] != "ok"]


def headline_rows(results: dict[str, Any]) -> list[tuple[str, ...]]:
    """One line per cell: scenario | engine | mode | status | write gap | RTO | lost | steady ops/s | p99."""
    rows = []
    for c in results["cells"]:
        rep = f" #{c['repeat']}" if c.get("repeat") else ""
        if c["status"] != "ok":
            rows.append((c["scenario"] + rep, c["engine"], c["mode"], c["status"], "", "", "", "", ""))
            continue
        rows.append((c["scenario"] + rep, c["engine"], c["mode"], "ok",
                     fmt(get(c, "availability", "write_gap_s"), " s", 2) if c.get("fault") else "–",
                     (fmt(get(c, "availability", "rto_s"), " s", 2) if get(c, "availability", "recovered") is not False
                      else "not recovered") if c.get("fault") else "–",
                     fmt(get(c, "consistency", "lost_writes")),
                     fmt(get(c, "throughput_ops_s", "steady"), "", 0),
                     fmt(get(c, "latency_ms", "p99"), " ms", 1)))
    return rows


HEADLINE_HEADER = ("scenario", "engine", "mode", "status", "write gap", "RTO", "lost writes", "steady ops/s",
                   "p99")


def header_rows(run: dict[str, Any]) -> list[tuple[str, str]]:
    """The run header (platform, servers, client libraries, profile, dates, status, harness, host): report and
    notebook. A run from before client libraries were recorded shows "not recorded" for them."""
    from harness.software import CLIENT_DISTRIBUTIONS

    software = run.get("software") or {}
    sw = ", ".join(f"{k} {v}" for k, v in software.items() if v and k not in CLIENT_DISTRIBUTIONS) or "unknown"
    clients = ", ".join(f"{k} {software[k]}" for k in CLIENT_DISTRIBUTIONS if software.get(k)) or "not recorded"
    host = run.get("host") or {}
    return [
        ("platform", f"{run['platform']}" + (f" ({run['platform_reason']})" if run.get("platform_reason") else "")),
        ("software", sw),
        ("client libraries", clients),
        ("profile / seed", f"{run['profile']} / {run['seed']}"),
        ("started / finished", f"{run['started_at']} / {run.get('finished_at') or '(unfinished)'}"),
        ("run status", run.get("status", "finished")),
        ("harness", f"{run['harness_version']} (git {(run.get('git_sha') or 'unknown')[:12]})"),
        ("host", f"{host.get('cpus')} CPUs, {host.get('memory_gb')} GB"),
    ]


CONSISTENCY_HEADER = ("scenario", "engine", "mode", "acknowledged writes", "lost writes", "duplicate seqs",
                      "seq regressions", "verdict")


def consistency_rows(results: dict[str, Any]) -> list[tuple[str, ...]]:
    """One line per measured cell: what the read-back found missing or out of order."""
    rows = []
    for c in results["cells"]:
        if c["status"] != "ok":
            continue
        cons = c.get("consistency") or {}
        bad = [k for k in ("lost_writes", "duplicate_seqs", "seq_regressions") if cons.get(k)]
        verdict = ("unknown (no read-back)" if cons.get("lost_writes") is None
                   else "anomalies: " + ", ".join(bad).replace("_", " ") if bad else "every acknowledged write kept")
        rep = f" #{c['repeat']}" if c.get("repeat") else ""
        rows.append((c["scenario"] + rep, c["engine"], c["mode"], fmt(cons.get("acked_writes")),
                     fmt(cons.get("lost_writes")), fmt(cons.get("duplicate_seqs")), fmt(cons.get("seq_regressions")),
                     verdict))
    return rows
