"""The report's "performance without tuning" and "resources" sections: the configs each mode ran with,
the capacity search, each pod's footprint, the connection limits, and replica divergence.

Pure functions over the typed results, no I/O. A number appears only where the cell measured it; a
cell that did not is named with its status, so an empty table never reads as "no cost".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.report.tables import MODES, engines_in, fmt
from harness.results_model import Cell, Results, as_results

ResultsLike = Results | Mapping[str, Any]

CONFIG_HEADER = ("parameter", "kubeblocks", "statefulset", "note")
CAPACITY_HEADER = ("mode", "highest sustained ops/s", "what ended the search")
STEP_HEADER = ("offered ops/s", "delivered ops/s", "p50 ms", "p99 ms", "errors", "generator CPU (all cores)",
               "busiest worker (one core)", "database CPU (all cores)", "sustained", "why")
FOOTPRINT_HEADER = ("engine", "mode", "pods", "CPU s (cores)", "peak RSS", "volume", "limits", "source")
HA_COST_HEADER = ("engine", "CPU", "memory (peak RSS)", "disk (volumes)")
CONNECTIONS_HEADER = ("engine", "mode", "OpenIM processes x pool", "opened", "refused", "server limit",
                      "what OpenIM would see")
DIVERGENCE_HEADER = ("scenario", "engine", "replica", "compared", "differing", "method")

CAPACITY_NOTE = ("Each step offers a fixed rate (open loop) for the scenario's measured window after a warm-up, on the "
                 "same deployment, and is sustained when the p99 response time (from each op's due time, so queueing "
                 "counts) stays within the SLO, at most the error budget of its ops fail, the load delivered the "
                 "offered rate and the load generator vouches for its own schedule. The search stops at the first "
                 "step that is not. When the generator was the limit (it flagged itself, or its busiest worker used "
                 "a full core), the answer is \"generator-bound at N\": a floor for the database, never its "
                 "capacity. The CPU shares say whose ceiling it is on this machine.")
FOOTPRINT_NOTE = ("CPU seconds and peak RSS of every pod (data pods and Sentinels; on kind/k8s also KubeBlocks' "
                  "control plane) over the cell's steady window, its volume's bytes at the end. `cores` is CPU "
                  "seconds over the window's length. Limits: whether the pods ran under the CPU/memory limits the "
                  "configs were rendered from.")


def _first(results: Results, engine: str, mode: str, pred: Any) -> Cell | None:
    return next((c for c in results.cells if c.engine == engine and c.mode == mode and pred(c)), None)


def _bytes(n: Any) -> str:
    if not isinstance(n, int | float) or isinstance(n, bool):
        return "–"
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{int(n)} B"


# -- configs ---------------------------------------------------------------------------------------
def config_engines(results: ResultsLike) -> list[str]:
    r = as_results(results)
    return engines_in([c for c in r.cells if c.config])


def config_rows(results: ResultsLike, engine: str) -> tuple[list[tuple[str, ...]], list[str]]:
    """The parameters that differ between the modes (rendered values), and the sources in words."""
    r = as_results(results)
    side = {m: _first(r, engine, m, lambda c: bool(c.config)) for m in MODES}
    params = {m: (c.config.params if c else {}) for m, c in side.items()}
    notes = {k: v for c in side.values() if c for k, v in c.config.notes.items()}
    rows: list[tuple[str, ...]] = []
    for name in sorted(set(params["kubeblocks"]) | set(params["statefulset"])):
        kb, sts = params["kubeblocks"].get(name), params["statefulset"].get(name)
        if kb == sts:
            continue
        rows.append((f"`{name}`", kb if kb is not None else "(server default)",
                     sts if sts is not None else "(server default)", notes.get(name, "")))
    sources = []
    for m, c in side.items():
        if c is None:
            sources.append(f"{m}: no config recorded")
            continue
        limits = f" for {c.config.cpu} CPU / {c.config.memory}" if c.config.cpu else ""
        sources.append(f"{m}: {c.config.source or 'source unknown'}{limits}")
        if c.config.mismatches:
            sources.append(f"{m}: **running values differ from the rendered ones**: " + "; ".join(c.config.mismatches))
        elif c.config.applied:
            sources.append(f"{m}: every rendered value read back from the running server(s) "
                           f"({', '.join(sorted(c.config.applied))})")
    return rows, sources


# -- capacity --------------------------------------------------------------------------------------
def capacity_cells(results: ResultsLike) -> list[Cell]:
    return [c for c in as_results(results).cells if c.capacity or c.scenario == "capacity"]


def capacity_rows(results: ResultsLike, engine: str) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for m in MODES:
        for c in capacity_cells(results):
            if c.engine != engine or c.mode != m:
                continue
            if not c.capacity:
                rows.append((m, "–", f"{c.status}: {c.reason or 'no reason recorded'}"))
                continue
            cap = c.capacity
            best = "generator-bound" if cap.bound == "generator" and cap.max_sustained_ops_s is None else fmt(
                cap.max_sustained_ops_s, "", 0)
            if cap.bound == "generator":
                best += f" (generator-bound at {fmt(cap.bound_at_ops_s, '', 0)})"
            rows.append((m, best, cap.summary or ""))
    return rows


def _pct(x: Any) -> str:
    return f"{x * 100:.0f} %" if isinstance(x, int | float) and not isinstance(x, bool) else "–"


def step_rows(cell: Cell) -> list[tuple[str, ...]]:
    return [(fmt(s.offered_ops_s, "", 0), fmt(s.delivered_ops_s, "", 1), fmt(s.p50_ms, "", 2), fmt(s.p99_ms, "", 2),
             f"{s.errors} ({s.error_fraction * 100:.2f} %)", _pct(s.generator_cpu_share), _pct(s.busiest_worker_cpu),
             _pct(s.server_cpu_share), "yes" if s.sustained else f"**no** ({s.bound})", s.why)
            for s in cell.capacity.steps]


# -- footprint -------------------------------------------------------------------------------------
def _footprint_cell(r: Results, engine: str, mode: str) -> Cell | None:
    """The steady scenario's footprint when it ran (its whole window is steady), else the first."""
    return (_first(r, engine, mode, lambda c: bool(c.footprint) and c.scenario == "steady")
            or _first(r, engine, mode, lambda c: bool(c.footprint)))


def _sums(c: Cell, kinds: tuple[str, ...] = ("data", "sentinel")) -> tuple[float | None, int | None, int | None]:
    pods = [p for p in c.footprint.pods if p.kind in kinds]

    def total(vals: list[Any]) -> Any:
        known = [v for v in vals if isinstance(v, int | float)]
        return sum(known) if known and len(known) == len(vals) else None

    return (total([p.cpu_s for p in pods]), total([p.peak_rss_bytes for p in pods]),
            total([p.volume_bytes for p in pods]))


def footprint_rows(results: ResultsLike) -> list[tuple[str, ...]]:
    r = as_results(results)
    rows: list[tuple[str, ...]] = []
    for e in engines_in([c for c in r.cells if c.footprint]):
        for m in MODES:
            c = _footprint_cell(r, e, m)
            if c is None:
                continue
            fp = c.footprint
            cpu, rss, vol = _sums(c)
            cores = f" ({cpu / fp.window_s:.2f})" if isinstance(cpu, int | float) and fp.window_s else ""
            lim = fp.limits
            limits = (f"{lim.cpu} CPU / {lim.memory} " + ("enforced" if lim.enforced else "**nominal**")
                      + (f" ({_method(lim.how)})" if lim.how else "")) if lim else "–"
            pods = ", ".join(p.pod for p in fp.pods if p.kind != "control-plane")
            sources = _sources(fp.pods)
            rows.append((e, m, pods, fmt(cpu, "", 2) + cores, _bytes(rss), _bytes(vol), limits, sources))
            cp = [p for p in fp.pods if p.kind == "control-plane"]
            if cp:
                cpu_cp, rss_cp, _ = _sums(c, ("control-plane",))
                rows.append((e, f"{m} (KubeBlocks control plane)", ", ".join(p.pod for p in cp), fmt(cpu_cp, "", 2),
                             _bytes(rss_cp), "–", "", _sources(cp)))
    return rows


def _method(how: str) -> str:
    """The limits' mechanism without the per-pod paths (those stay in results.json)."""
    return how.split(" on each of ")[0].split(":")[0]


def _sources(pods: list[Any]) -> str:
    """How the figures were read, once per distinct method (per-pod detail stays in results.json)."""
    parts = [part for p in pods if p.source for part in p.source.split("; ")
             if not part.startswith("memory cgroup peak")]
    return "; ".join(dict.fromkeys(parts))


def _ratio(a: Any, b: Any, unit: str) -> str:
    if not isinstance(a, int | float) or not isinstance(b, int | float):
        return "not measured in both modes"
    if b <= 0:
        return f"{a:.2f}{unit} vs 0"
    return f"×{a / b:.1f} ({a:.2f}{unit} vs {b:.2f}{unit})" if unit else f"×{a / b:.1f} ({_bytes(a)} vs {_bytes(b)})"


def ha_cost_rows(results: ResultsLike) -> list[tuple[str, ...]]:
    """What HA costs: kubeblocks over statefulset, per resource, from the same scenario's windows."""
    r = as_results(results)
    rows: list[tuple[str, ...]] = []
    for e in engines_in([c for c in r.cells if c.footprint]):
        kb, sts = _footprint_cell(r, e, "kubeblocks"), _footprint_cell(r, e, "statefulset")
        if kb is None or sts is None:
            continue
        (kc, kr, kv), (sc, sr, sv) = _sums(kb), _sums(sts)
        rows.append((e, _ratio(kc, sc, " CPU s"), _ratio(kr, sr, ""), _ratio(kv, sv, "")))
    return rows


# -- connections -----------------------------------------------------------------------------------
def connections_rows(results: ResultsLike) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for c in as_results(results).cells:
        if c.scenario != "connection-limits":
            continue
        x = c.connections or {}
        if not x:
            rows.append((c.engine, c.mode, "–", "–", "–", "–", f"{c.status}: {c.reason or 'no reason recorded'}"))
            continue
        lim = x.get("server_limit") or {}
        refused = x.get("refused")
        rows.append((c.engine, c.mode, f"{x.get('processes')} x {x.get('pool')} = {x.get('wanted')}",
                     fmt(x.get("opened")), f"**{refused}**" if refused else fmt(refused),
                     f"{lim.get('name', '?')} = {lim.get('value', '?')}", str(x.get("openim_sees") or "")))
    return rows


# -- divergence ------------------------------------------------------------------------------------
def divergence_rows(results: ResultsLike) -> tuple[list[tuple[str, ...]], int, int]:
    """(one row per diverged replica, cells checked, cells not checked but replicated)."""
    rows: list[tuple[str, ...]] = []
    checked = unchecked = 0
    for c in as_results(results).cells:
        d = c.divergence
        if not d:
            continue
        if not d.checked:
            unchecked += 1
            continue
        checked += 1
        for rep in d.replicas:
            if rep.differing:
                shown = ", ".join(rep.differing[:5]) + (" …" if len(rep.differing) > 5 else "")
                rows.append((c.label, c.engine, f"{rep.replica} vs {rep.primary}", fmt(rep.compared),
                             f"**{shown}**" + (f" ({rep.detail})" if rep.detail else ""), rep.method))
    return rows, checked, unchecked
