"""What notebooks/review.ipynb needs beyond the report's tables and figures.

The notebook holds no measurement logic: it calls these functions (and `tables` / `figures`), so
what a review meeting sees is computed by the same code as report.md. Nothing here imports Locust.
"""

from __future__ import annotations

import glob
from array import array
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.faults import NEMESIS_FILE, read_windows
from harness.history import iter_completions
from harness.report import tables as T
from harness.results_model import Cell, Results, as_cell, as_results, load_results

CellLike = Cell | Mapping[str, Any]
ResultsLike = Results | Mapping[str, Any]


def locate_run_dir(run_dir: str | Path, start: Path | None = None) -> Path:
    """The run directory as given, or relative to the repository root when the notebook runs from
    notebooks/ (Jupyter's working directory is the notebook's folder)."""
    p = Path(run_dir).expanduser()
    candidates = [p] if p.is_absolute() else [(start or Path.cwd()) / p, (start or Path.cwd()).parent / p]
    for c in candidates:
        if (c / "results.json").is_file():
            return c.resolve()
    raise HarnessError(f"{run_dir}: no results.json there (is this a run directory? try reports/latest)")


def load_run(run_dir: str | Path) -> tuple[Path, Results]:
    """(absolute run directory, its results.json: schema-validated, typed)."""
    d = locate_run_dir(run_dir)
    return d, load_results(d)


def plain(text: str) -> str:
    """Table text without the report's Markdown bold (notebook tables are HTML)."""
    return str(text).replace("**", "")


def pick_cell(results: ResultsLike, scenario: str, engine: str) -> tuple[str, str, str]:
    """(scenario, engine, note) for the drill-down: the requested one when it was measured, else the
    first fault scenario with a measured cell, else any measured cell. The note says what happened."""
    ok = [c for c in as_results(results).cells if c.status == "ok"]
    if any(c.scenario == scenario and c.engine == engine for c in ok):
        return scenario, engine, f"drill-down: {scenario} on {engine}"
    if not ok:
        raise HarnessError("no cell of this run was measured (all skipped, not applicable or failed)")
    pick = next((c for c in ok if c.fault), ok[0])
    return (pick.scenario, pick.engine,
            f"drill-down: {scenario} on {engine} was not measured in this run; showing {pick.scenario} on "
            f"{pick.engine} instead")


def history_files(run_dir: Path, cell: CellLike) -> list[Path]:
    """The cell's history files: `artifacts.history` is a directory of history*.jsonl (or one file)."""
    rel = as_cell(cell).artifacts.history
    if not rel:
        return []
    p = Path(run_dir) / rel
    if p.is_file():
        return [p]
    return [Path(f) for f in sorted(glob.glob(str(p / "history*.jsonl")))]


def steady_latencies_ms(run_dir: Path, cell: CellLike) -> array:
    """Latency (ms) of every `ok` op completed in the cell's steady window, read from its history.

    Same window as the checker's `latency_steady_ms`: completion before the fault's injection
    (no fault: before the end of the load), so the two agree up to the HDR histogram's rounding.
    """
    cell = as_cell(cell)
    start = cell.load.load_start_us
    inj = cell.fault.injected_at_s
    injected_us = _injected_at_us(run_dir, cell)
    if injected_us is not None:
        end: float = injected_us  # exact: results.json rounds `injected_at_s` to the millisecond
    elif inj is not None and start is not None:
        end = start + inj * 1e6
    elif inj is None and cell.load.load_end_us is not None:
        end = cell.load.load_end_us
    else:
        end = float("inf")  # an old or partial record: the whole history
    out = array("d")
    for c in iter_completions(history_files(run_dir, cell)):
        if c.outcome == "ok" and c.complete_us < end:
            out.append(max(1, c.latency_us) / 1000.0)
    return out


def _injected_at_us(run_dir: Path, cell: Cell) -> int | None:
    """The injection's clock reading as the nemesis recorded it (the checker's steady-window end)."""
    rel = cell.artifacts.history
    if not rel or not cell.fault.kind:
        return None
    windows = read_windows(Path(run_dir) / rel / NEMESIS_FILE)
    return windows[0].injected_at_us if windows else None


def steady_cells(results: ResultsLike, engine: str) -> dict[str, Cell]:
    """Per mode, the cell whose steady window best shows the cost of HA: the `steady` scenario's
    when it ran, else the first measured cell (its pre-fault window is steady too)."""
    results = as_results(results)
    out: dict[str, Cell] = {}
    for mode in T.MODES:
        cs = T.cells_for(results, "steady", engine, mode) or [
            c for sc in T.ordered_scenarios(results) for c in T.cells_for(results, sc, engine, mode)][:1]
        if cs:
            out[mode] = cs[0]
    return out


def percentile(sorted_xs: list[float] | array, q: float) -> float | None:
    """Percentile of already sorted values, ranked as hdrh's `get_value_at_percentile` does
    (the value at rank round(q% x n)), so it matches results.json's HDR numbers."""
    if not sorted_xs:
        return None
    k = max(0, min(len(sorted_xs) - 1, int(q / 100.0 * len(sorted_xs) + 0.5) - 1))
    return float(sorted_xs[k])


LATENCY_HEADER = ("engine", "mode", "scenario (steady window)", "ok ops", "p50 ms", "p95 ms", "p99 ms", "max ms",
                  "p99 in results.json")


def latency_distribution_figure(run_dir: Path, results: ResultsLike, engine: str,
                                out: Path) -> tuple[Path | None, list[tuple[str, ...]]]:
    """A latency CDF (log x) kubeblocks vs statefulset in steady state, and its summary rows.

    The rows repeat results.json's `latency_steady_ms.p99` next to the value from the history, so a
    reader can see both come from the same ops.
    """
    from harness.report.figures import DPI, MODE_COLORS, plt

    cells = steady_cells(results, engine)
    samples = {m: sorted(steady_latencies_ms(run_dir, c)) for m, c in cells.items()}
    samples = {m: s for m, s in samples.items() if s}
    rows: list[tuple[str, ...]] = []
    for mode, xs in samples.items():
        c = cells[mode]
        rows.append((engine, mode, c.scenario, str(len(xs)),
                     *(T.fmt(percentile(xs, q), "", 3) for q in (50, 95, 99, 100)),
                     T.fmt(c.measures.latency_steady_ms.p99, "", 3)))
    if not samples:
        return None, rows
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    for mode, xs in samples.items():
        n = len(xs)
        ys = [(i + 1) / n * 100 for i in range(n)]
        ax.step(xs, ys, where="post", color=MODE_COLORS[mode], lw=1.6, label=f"{mode} ({n} ok ops)")
        p99 = percentile(xs, 99)
        if p99 is not None:
            ax.axvline(p99, color=MODE_COLORS[mode], ls=":", lw=1.1)
    ax.set_xscale("log")
    ax.set_xlabel("latency of one op (ms, log scale); dotted: p99")
    ax.set_ylabel("% of ok ops at most this slow")
    ax.set_ylim(0, 100.5)
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="lower right", fontsize=9)
    ax.set_title(f"{engine}: steady-state latency, kubeblocks vs statefulset", fontsize=11, fontweight="bold")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=DPI)
    plt.close(fig)
    return out, rows
