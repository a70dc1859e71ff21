"""Figures (matplotlib, Agg): per-cell timelines and a write-gap summary, from the run's own files.

Timelines read each cell's `timeline.csv` (written by the checker); the fault window, write gap
and role changes come from the cell's record in results.json, and for a day-2 operation its window
and steps (its `operation` block). Nothing is recomputed.
"""

from __future__ import annotations

import csv
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import FuncFormatter, NullFormatter, ScalarFormatter  # noqa: E402

from harness.report.day2 import operation_window, step_marks  # noqa: E402
from harness.report.tables import cells_for  # noqa: E402
from harness.results_model import Cell, Results, as_results, operation_verdict  # noqa: E402
from harness.verdict_record import verdict_of  # noqa: E402

MODE_COLORS = {"kubeblocks": "#1f77b4", "statefulset": "#ff7f0e"}
DPI = 110
NO_FAULT_SCENARIOS = ("steady", "capacity", "connection-limits")  # no write gap to draw


def read_timeline(path: Path) -> dict[str, list[float]]:
    """The per-second CSV as columns; empty p99 cells (no ok op that second) become NaN."""
    cols: dict[str, list[float]] = {}
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            for k, v in row.items():
                cols.setdefault(k, []).append(float(v) if v not in ("", None) else float("nan"))
    return cols


OP_COLOR = "#17becf"
STEP_COLORS = {"restart": "#8c564b", "switchover": "#9467bd", "join": "#2ca02c", "backup": "#1f77b4",
               "restore": "#e377c2", "upgrade": "#bcbd22"}


def _shade(ax: Any, cell: Cell, first: bool) -> None:
    fault = cell.fault
    inj = fault.injected_at_s
    window = operation_window(cell)
    if inj is None and window is None:
        return
    rec = fault.recovered_at_s
    dur = fault.duration_s or 0
    if window is not None:  # a day-2 operation: its own window and steps instead of a fault's band
        _operation_marks(ax, cell, window, first)
    elif inj is not None:
        if dur and rec is not None:
            ax.axvspan(inj, rec, color="#d62728", alpha=0.12, lw=0, label="fault in force" if first else None)
        ax.axvline(inj, color="black", lw=1.3, ls="-", label="fault injected" if first else None)
    gw = cell.measures.availability.write_gap_window_s
    if gw and (cell.measures.availability.rto_s or 0) > 0 or (gw and not verdict_of(cell).recovered):
        ax.axvspan(gw[0], gw[1], facecolor="none", edgecolor="#7f7f7f", hatch="///", lw=0,
                   label="longest write gap" if first else None)
    for rc in cell.role_changes:
        at = rc.at_s
        if isinstance(at, int | float):
            ax.axvline(at, color="#9467bd", ls="--", lw=1.1, label="primary change (server log)" if first else None)
            first = False


def _operation_marks(ax: Any, cell: Cell, window: tuple[float, float], labels: bool) -> None:
    """The operation in progress as a band, each step as a dotted line; on the top panel (`labels`)
    each step is named with its pod, staggered so close steps stay readable."""
    ax.axvspan(*window, color=OP_COLOR, alpha=0.15, lw=0, label="operation in progress" if labels else None)
    seen: set[str] = set()
    for i, m in enumerate(step_marks(cell)):
        color = STEP_COLORS.get(m.action, "#7f7f7f") if m.ok else "#d62728"
        legend = f"step: {m.action}" if labels and m.action not in seen else None
        seen.add(m.action)
        ax.axvline(m.at_s, color=color, ls=":", lw=1.4, label=legend)
        if labels:
            ax.text(m.at_s, 0.96 - 0.09 * (i % 4), f" {m.label}", transform=ax.get_xaxis_transform(), fontsize=7,
                    color=color, ha="left", va="top", bbox={"facecolor": "white", "alpha": 0.7, "lw": 0, "pad": 0.5})


def _subtitle(cell: Cell) -> str:
    m = cell.measures
    if cell.fault:
        rto = m.availability.rto_s
        rto_t = "not recovered" if not verdict_of(cell).recovered else f"RTO {rto:.1f} s" if rto is not None else ""
        sub = f"write gap {m.availability.write_gap_s or 0:.1f} s, {rto_t}, lost {m.consistency.lost_writes}"
    else:
        sub = f"{m.throughput_ops_s.steady or 0:.0f} ok ops/s, p99 {m.latency_ms.p99 or 0:.1f} ms"
    op = cell.operation
    valid, reasons = operation_verdict(cell)
    if valid is False:
        why = textwrap.shorten(reasons[0] if reasons else "see the report", 110, placeholder=" ...")
        sub = "\n".join(textwrap.wrap(f"OPERATION FAILED: {why}", 62)) + "\n" + sub
    elif op and isinstance(op.duration_s, int | float):
        sub = f"{op.kind} done in {op.duration_s:.1f} s, " + sub
    if cell.status == "invalid":
        sub = "INVALID: the load generator fell behind (see the report's first section)\n" + sub
    return sub


def timeline_figure(run_dir: Path, results: Results | Mapping[str, Any], scenario: str, engine: str, repeat: int,
                    out: Path) -> Path | None:
    """ok/s + failed/s (top) and p99 per second (bottom), one column per mode, shared axes."""
    results = as_results(results)
    cols = []
    for mode in ("kubeblocks", "statefulset"):
        cs = [c for c in cells_for(results, scenario, engine, mode, ok_only=False)
              if c.repeat == repeat and c.status in ("ok", "invalid")]
        rel = cs[0].artifacts.timeline if cs else None
        if cs and rel and (run_dir / rel).exists():
            cols.append((mode, cs[0], read_timeline(run_dir / rel)))
    if not cols:
        return None
    fig, axes = plt.subplots(2, len(cols), figsize=(6.2 * len(cols), 5.6), sharex=True, sharey="row",
                             squeeze=False, gridspec_kw={"height_ratios": [3, 2]})
    # one y scale for the whole latency row (shared axis): log only when a spike dwarfs the steady values
    p99_all = [v for _, _, tl in cols for v in tl["p99_ms"] if v == v and v > 0]
    log_p99 = bool(p99_all) and max(p99_all) / min(p99_all) > 30
    for j, (mode, cell, tl) in enumerate(cols):
        top, bot = axes[0][j], axes[1][j]
        # each row counts the ops completed in [t, t+1): drawn as stairs over that second
        t = tl["t_s"]
        edges = [*t, (t[-1] + 1) if t else 1]
        top.stairs(tl["ok"], edges, color="#2ca02c", lw=1.6, label="ok/s", baseline=None)
        top.stairs(tl["failed"], edges, color="#d62728", lw=1.6, label="failed/s", baseline=None)
        if tl.get("invoked"):
            top.stairs(tl["invoked"], edges, color="#7f7f7f", lw=0.9, label="invoked/s", baseline=None)
        offered = cell.measures.generator.offered_ops_s
        if isinstance(offered, int | float):
            top.axhline(offered, color="#7f7f7f", ls=":", lw=1.0, label="offered rate")
        if any(v > 0 for v in tl.get("unknown", [])):
            top.stairs(tl["unknown"], edges, color="#e377c2", lw=1.2, label="unknown/s (info)", baseline=None)
        bot.stairs(tl["p99_ms"], edges, color=MODE_COLORS[mode], lw=1.6, label="p99 of the second", baseline=None)
        _shade(top, cell, first=True)
        _shade(bot, cell, first=False)
        top.set_title(f"{engine} / {mode}\n{_subtitle(cell)}", fontsize=10)
        top.grid(alpha=0.3)
        bot.grid(alpha=0.3, which="both")
        if log_p99:
            bot.set_yscale("log")
            bot.yaxis.set_major_formatter(ScalarFormatter())
            bot.yaxis.set_minor_formatter(NullFormatter())
        else:
            bot.set_ylim(bottom=0)
        bot.set_xlabel("seconds since load start")
        if j == 0:
            top.set_ylabel("ops per second")
            bot.set_ylabel("p99 latency (ms)")
        top.set_ylim(bottom=0)
    legend: dict[str, Any] = {}  # every column's entries once (a day-2 step may appear in one mode only)
    for ax in axes[0]:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            legend.setdefault(lab, h)
    handles, labels = list(legend.values()), list(legend)
    # a day-2 operation outlasting the load: the axis ends with the load's data (and its last step), not the band
    ends = [tl["t_s"][-1] + 1 for _, _, tl in cols if tl.get("t_s")]
    marks = [m.at_s + 1 for _, c, _ in cols for m in step_marks(c)]
    op_ends = [w[1] for _, c, _ in cols if (w := operation_window(c))]
    if ends and op_ends and max(op_ends) > max(ends + marks):
        first = min(tl["t_s"][0] for _, _, tl in cols if tl.get("t_s"))
        right = max(ends + marks)
        pad = 0.03 * (right - first)
        axes[0][0].set_xlim(first - pad, right + pad)
    ncol = min(6, len(labels), 3 * len(cols))
    rows = -(-len(labels) // ncol) if labels else 1
    fig.legend(handles, labels, loc="lower center", ncol=ncol, fontsize=8.5, frameon=False)
    rep = f" (repeat {repeat})" if repeat else ""
    fig.suptitle(f"{scenario}{rep}", fontsize=12, fontweight="bold")
    fig.tight_layout(rect=(0, 0.05 + 0.035 * (rows - 1), 1, 1))
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=DPI)
    plt.close(fig)
    return out


def summary_figure(results: Results | Mapping[str, Any], engines: list[str], out: Path) -> Path | None:
    """Longest write gap per fault scenario, kubeblocks vs statefulset, one panel per engine."""
    results = as_results(results)
    scenarios = [s for s in dict.fromkeys(c.scenario for c in results.cells) if s not in NO_FAULT_SCENARIOS]
    panels = [e for e in engines if any(cells_for(results, s, e, m) for s in scenarios for m in MODE_COLORS)]
    if not scenarios or not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(5.6 * len(panels), 4.2), squeeze=False, sharey=True)
    width = 0.38
    for j, engine in enumerate(panels):
        ax = axes[0][j]
        for k, mode in enumerate(MODE_COLORS):
            for i, sc in enumerate(scenarios):
                cs = cells_for(results, sc, engine, mode)
                if not cs:
                    continue
                gaps = [c.measures.availability.write_gap_s or 0.0 for c in cs]
                rto0 = all(c.measures.availability.rto_s == 0 for c in cs)
                gap = 0.0 if rto0 else sorted(gaps)[len(gaps) // 2]
                not_rec = any(not verdict_of(c).recovered for c in cs)
                x = i + (k - 0.5) * width
                ax.bar(x, gap, width, color=MODE_COLORS[mode], hatch="xx" if not_rec else None,
                       edgecolor="black" if not_rec else MODE_COLORS[mode])
                ax.text(x, gap, f"{gap:.1f}" + ("*" if not_rec else ""), ha="center", va="bottom", fontsize=8)
        ax.set_xticks(range(len(scenarios)))
        ax.set_xticklabels(scenarios, rotation=15, fontsize=9)
        ax.set_title(engine)
        ax.grid(axis="y", alpha=0.3)
        if j == 0:
            ax.set_ylabel("longest write gap after injection (s)")
    handles = [Patch(color=c, label=m) for m, c in MODE_COLORS.items()]
    handles.append(Patch(facecolor="white", edgecolor="black", hatch="xx", label="* not recovered in window"))
    fig.legend(handles=handles, loc="lower center", ncol=3, fontsize=9, frameon=False)
    fig.suptitle("Write unavailability per fault (0 = writes never paused ≥ 1 s)", fontsize=11, fontweight="bold")
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=DPI)
    plt.close(fig)
    return out


def capacity_figure(results: Results | Mapping[str, Any], engines: list[str], slo_ms: float | None,
                    out: Path) -> Path | None:
    """Throughput vs p99 response time per capacity step, one panel per engine, both modes."""
    results = as_results(results)
    cells = [c for c in results.cells if c.capacity and c.capacity.steps]
    panels = [e for e in engines if any(c.engine == e for c in cells)]
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(5.6 * len(panels), 4.2), squeeze=False)
    for j, engine in enumerate(panels):
        ax = axes[0][j]
        for c in (c for c in cells if c.engine == engine):
            steps = [s for s in c.capacity.steps if s.delivered_ops_s and s.p99_ms]
            color = MODE_COLORS.get(c.mode, "grey")
            ax.plot([s.delivered_ops_s for s in steps], [s.p99_ms for s in steps], "-", color=color, lw=1.4,
                    label=c.mode + (f" #{c.repeat}" if c.repeat else ""))
            for s in steps:
                gen = s.bound == "generator"
                ax.plot(s.delivered_ops_s, s.p99_ms, "x" if gen else ("o" if s.sustained else "s"), color=color,
                        mfc=color if s.sustained else "white", ms=7)
                ax.annotate(f"{s.offered_ops_s:g}", (s.delivered_ops_s, s.p99_ms), textcoords="offset points",
                            xytext=(4, 4), fontsize=7, color=color)
        if slo_ms:
            ax.axhline(slo_ms, color="red", ls="--", lw=1, label=f"SLO p99 {slo_ms:g} ms")
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
        ax.set_yscale("log")
        ax.set_xlabel("delivered ops/s (label: offered)")
        ax.set_title(engine)
        ax.grid(alpha=0.3, which="both")
        if j == 0:
            ax.set_ylabel("p99 response time (ms, from due time)")
        ax.legend(fontsize=8)
    fig.suptitle("Capacity: delivered rate vs p99 per step", fontsize=11, fontweight="bold")
    fig.tight_layout(rect=(0, 0, 1, 0.94))
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=DPI)
    plt.close(fig)
    return out


POD_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22")
ALERT_COLOR = "#d62728"


def server_figure_name(cell: Cell) -> str:
    """`<scenario>-<engine>-<mode>[-rN]-server.png`, beside the cell's timeline figure's name."""
    return f"{cell.scenario}-{cell.engine}-{cell.mode}" + (f"-r{cell.repeat}" if cell.repeat else "") + "-server.png"


def server_figure(run_dir: Path, cell: Cell, out: Path) -> Path | None:
    """One cell as the client and the servers saw it, on one time axis: the client's ok/s and failed/s
    (timeline.csv), then from the Prometheus series commands/s, connected clients, role (1 primary,
    0 replica, gap: not seen) and replication lag per pod; the fault as in the timelines, each alert's
    firing as a labelled vertical line. None: no observability block, or neither file readable."""
    from harness.observe.serverview import read_series, server_view

    obs = cell.observability
    if not obs or not obs.observed:
        return None
    tl_rel = cell.artifacts.timeline
    tl = read_timeline(run_dir / tl_rel) if tl_rel and (run_dir / tl_rel).exists() else None
    view = None
    if obs.series_file and (run_dir / obs.series_file).exists():
        view = server_view(read_series(run_dir / obs.series_file), cell.engine, obs.scrape_interval_s)
    if tl is None and not view:
        return None
    panels = [("ops per second (client)", None), ("commands/s (server)", "commands_s"),
              ("connected clients", "clients"), ("role (1 primary)", "role"), ("replication lag (s)", "lag")]
    fig, axes = plt.subplots(len(panels), 1, figsize=(9.5, 10.5), sharex=True,
                             gridspec_kw={"height_ratios": [3, 2, 2, 1.4, 2]})
    pods = view.pods if view else []
    color = {p: POD_COLORS[i % len(POD_COLORS)] for i, p in enumerate(pods)}
    for i, (ax, (ylabel, attr)) in enumerate(zip(axes, panels, strict=True)):
        if attr is None:
            if tl is not None and tl.get("t_s"):
                t = tl["t_s"]
                edges = [*t, t[-1] + 1]
                ax.stairs(tl["ok"], edges, color="#2ca02c", lw=1.6, label="ok/s", baseline=None)
                ax.stairs(tl["failed"], edges, color="#d62728", lw=1.6, label="failed/s", baseline=None)
            else:
                ax.text(0.5, 0.5, "no client timeline", transform=ax.transAxes, ha="center", color="#7f7f7f")
            ax.set_ylim(bottom=0)
        elif view:
            data = getattr(view, attr)
            for k, pod in enumerate(pods):
                if pod not in data:
                    continue
                ts, vs = data[pod]
                if attr == "role":  # offset so two pods' steps never hide each other
                    ax.step(ts, [v + 0.04 * k for v in vs], where="post", color=color[pod], lw=1.6, label=pod)
                else:
                    ax.plot(ts, vs, "-", color=color[pod], lw=1.3, label=pod)
            if attr == "role":
                ax.set_yticks([0, 1])
                ax.set_yticklabels(["replica", "primary"])
                ax.set_ylim(-0.3, 1.4)
            else:
                ax.set_ylim(bottom=0)
        else:
            ax.text(0.5, 0.5, "no series file", transform=ax.transAxes, ha="center", color="#7f7f7f")
        _shade(ax, cell, first=i == 0)
        for a in obs.alerts:  # the critical ones (the info/warning ones are in the section's list)
            if isinstance(a.firing_from_s, int | float) and a.severity == "critical":
                ax.axvline(a.firing_from_s, color=ALERT_COLOR, ls="-.", lw=1.1)
                if i == 0:
                    ax.text(a.firing_from_s, 0.98, f" {a.alert}" + (f" ({a.pod})" if a.pod else ""), fontsize=7,
                            transform=ax.get_xaxis_transform(), rotation=90, ha="right", va="top", color=ALERT_COLOR)
        ax.set_ylabel(ylabel, fontsize=8.5)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7.5, loc="lower left", ncol=4)
    if pods:  # every pod once, whichever panels it has data in
        from matplotlib.lines import Line2D

        axes[1].legend(handles=[Line2D([], [], color=color[p], lw=1.6, label=p) for p in pods], fontsize=7.5,
                       loc="upper right", ncol=len(pods))
    axes[-1].set_xlabel("seconds since load start")
    tta = obs.time_to_alert
    sub = (f"first alert {tta.alert} {tta.s:.1f} s after injection" if tta and isinstance(tta.s, int | float)
           else "no alert fired" if cell.fault else "no fault")
    rep = f" (repeat {cell.repeat})" if cell.repeat else ""
    fig.suptitle(f"{cell.scenario}{rep}: {cell.engine} / {cell.mode}, client vs Prometheus\n{sub}",
                 fontsize=11, fontweight="bold")
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=DPI)
    plt.close(fig)
    return out
