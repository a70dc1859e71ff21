"""Regression comparison of two runs, for the nightly job: a table per cell and a verdict.

Pure comparison (`compare`) is separate from reading files and printing (`compare_main`), so
the notebook and tests can use the data without the side effects.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness.errors import HarnessError
from harness.results_model import (
    Cell,
    Results,
    as_results,
    load_results,
    p99_ms,
    rto_s,
    steady_throughput_ops_s,
)

CellKey = tuple[str, str, str]  # scenario, engine, mode


class Thresholds(BaseModel):
    """The checked-in defaults are harness/thresholds.yaml (design.md's numbers)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    steady_throughput_drop_pct: float = Field(15.0, ge=0, le=100)
    p99_increase_pct: float = Field(30.0, ge=0, le=10000)
    rto_increase_pct: float = Field(30.0, ge=0, le=10000)
    rto_increase_abs_s: float = Field(2.0, ge=0, le=3600)
    new_lost_writes: int = Field(0, ge=0)
    mann_whitney_alpha: float = Field(0.05, gt=0, lt=1)
    mann_whitney_min_samples: int = Field(3, ge=2, le=1000)


def load_thresholds(path: Path | None) -> Thresholds:
    """The given file, or the packaged defaults. A bad file is one clear line."""
    try:
        text = Path(path).read_text() if path else resources.files("harness").joinpath("thresholds.yaml").read_text()
    except OSError as e:
        raise HarnessError(f"{path}: {e.strerror or e}") from None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise HarnessError(f"{path}: not YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise HarnessError(f"{path}: expected a mapping of threshold names to numbers")
    try:
        return Thresholds(**data)
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "(top)"
        accepted = ", ".join(Thresholds.model_fields)
        raise HarnessError(f"{path}: {where}: {err['msg']} (accepted fields: {accepted})") from None


@dataclass(frozen=True)
class MetricDelta:
    """One metric of one cell on both sides (medians when runs were repeated)."""

    metric: str
    baseline: float | None
    current: float | None
    regressed: bool
    why: str = ""
    p_value: float | None = None  # Mann-Whitney, when both sides have enough samples

    @property
    def delta_pct(self) -> float | None:
        if self.baseline in (None, 0) or self.current is None:
            return None
        return (self.current - self.baseline) / self.baseline * 100.0


@dataclass(frozen=True)
class CellComparison:
    key: CellKey
    baseline_status: str
    current_status: str
    metrics: tuple[MetricDelta, ...]

    @property
    def regressions(self) -> list[MetricDelta]:
        return [m for m in self.metrics if m.regressed]


@dataclass
class Comparison:
    cells: list[CellComparison] = field(default_factory=list)
    only_baseline: list[CellKey] = field(default_factory=list)
    only_current: list[CellKey] = field(default_factory=list)

    @property
    def regressed(self) -> bool:
        return any(c.regressions for c in self.cells)


def _group(results: Results) -> dict[CellKey, list[Cell]]:
    groups: dict[CellKey, list[Cell]] = defaultdict(list)
    for cell in results.cells:
        groups[cell.key].append(cell)
    return groups


Measure = Callable[[Cell], Any]  # reads one number of a cell's measures (None: not measured)


def _lost_writes(c: Cell) -> Any:
    return c.measures.consistency.lost_writes


def _values(cells: Iterable[Cell], measure: Measure) -> list[float]:
    out = []
    for c in cells:
        if c.status != "ok":
            continue
        v = measure(c)
        if v is not None:
            out.append(float(v))
    return out


def _median(xs: list[float]) -> float | None:
    return statistics.median(xs) if xs else None


def _significant(base: list[float], cur: list[float], worse: str, th: Thresholds) -> tuple[bool, float | None]:
    """Mann-Whitney when both sides have enough samples; otherwise no test (True, None)."""
    n = th.mann_whitney_min_samples
    if len(base) < n or len(cur) < n:
        return True, None
    from scipy.stats import mannwhitneyu

    alternative: Literal["less", "greater"] = "less" if worse == "lower" else "greater"
    p = float(mannwhitneyu(cur, base, alternative=alternative).pvalue)
    return p < th.mann_whitney_alpha, p


def _relative(b: list[Cell], c: list[Cell], th: Thresholds, metric: str, measure: Measure,
              worse: str, limit_pct: float) -> MetricDelta:
    """A metric that regresses by moving `worse` ("lower"/"higher") more than `limit_pct` percent."""
    bv, cv = _values(b, measure), _values(c, measure)
    mb, mc = _median(bv), _median(cv)
    if mb is None or mc is None or mb == 0:
        return MetricDelta(metric, mb, mc, False)
    sig, p = _significant(bv, cv, worse, th)
    change_pct = 100 * (mc - mb) / mb
    crossed = -change_pct > limit_pct if worse == "lower" else change_pct > limit_pct
    verb = "fell" if change_pct < 0 else "rose"
    why = f"{verb} {abs(change_pct):.1f}% (limit {limit_pct:g}%)" if crossed and sig else ""
    return MetricDelta(metric, mb, mc, crossed and sig, why, p)


def _throughput(b: list[Cell], c: list[Cell], th: Thresholds) -> MetricDelta:
    return _relative(b, c, th, "steady_throughput_ops_s", steady_throughput_ops_s, "lower", th.steady_throughput_drop_pct)


def _p99(b: list[Cell], c: list[Cell], th: Thresholds) -> MetricDelta:
    return _relative(b, c, th, "p99_ms", p99_ms, "higher", th.p99_increase_pct)


def _recovered(cells: list[Cell]) -> list[bool]:
    return [bool(c.measures.availability.recovered) for c in cells if c.status == "ok"]


def _rto(b: list[Cell], c: list[Cell], th: Thresholds) -> MetricDelta | None:
    if not any(c_.fault for c_ in b + c):
        return None  # no fault in this scenario: RTO is not a metric of it
    bv, cv = _values(b, rto_s), _values(c, rto_s)
    mb, mc = _median(bv), _median(cv)
    b_rec, c_rec = _recovered(b), _recovered(c)
    if b_rec and c_rec and all(b_rec) and not all(c_rec):
        lost = c_rec.count(False)
        return MetricDelta("rto_s", mb, mc, True, f"did not recover in {lost} of {len(c_rec)} run(s); baseline always did")
    if mb is None or mc is None:
        return MetricDelta("rto_s", mb, mc, False)
    sig, p = _significant(bv, cv, "higher", th)
    crossed = mc > mb * (1 + th.rto_increase_pct / 100) and mc > mb + th.rto_increase_abs_s
    why = f"rose {mb:.2f}s -> {mc:.2f}s (limit +{th.rto_increase_pct:g}% and +{th.rto_increase_abs_s:g}s)" if crossed else ""
    return MetricDelta("rto_s", mb, mc, crossed and sig, why if sig else "", p)


def _lost(b: list[Cell], c: list[Cell], th: Thresholds) -> MetricDelta:
    bv, cv = _values(b, _lost_writes), _values(c, _lost_writes)
    mb, mc = (max(bv) if bv else None), (max(cv) if cv else None)
    if mc is None:
        return MetricDelta("lost_writes", mb, mc, False)
    crossed = mc > (mb or 0) + th.new_lost_writes
    why = f"{mc:g} lost writes (baseline {mb or 0:g})" if crossed else ""
    return MetricDelta("lost_writes", mb, mc, crossed, why)


def _status(cells: list[Cell]) -> str:
    statuses = sorted({c.status for c in cells})
    return "/".join(statuses)


def compare(baseline: Results | Mapping[str, Any], current: Results | Mapping[str, Any], th: Thresholds) -> Comparison:
    """Compares two results documents cell by cell (repeats pooled per scenario x engine x mode);
    a parsed results.json (a dict) is read into the typed model first."""
    bg, cg = _group(as_results(baseline)), _group(as_results(current))
    out = Comparison(
        only_baseline=sorted(set(bg) - set(cg)),
        only_current=sorted(set(cg) - set(bg)),
    )
    for key in sorted(set(bg) & set(cg)):
        b, c = bg[key], cg[key]
        bs, cs = _status(b), _status(c)
        metrics: list[MetricDelta] = []
        b_ok = any(x.status == "ok" for x in b)
        c_ok = any(x.status == "ok" for x in c)
        invalid = [(side, x) for side, xs, ok in (("baseline", b, b_ok), ("current", c, c_ok)) if not ok
                   for x in xs if x.status == "invalid"]
        if invalid:  # the harness could not vouch for one side's numbers: nothing to compare them with
            side, x = invalid[0]
            metrics.append(MetricDelta("status", None, None, False,
                                       f"not comparable: {side} invalid ({x.reason or '?'})"))
        elif b_ok and not c_ok:
            reasons = "; ".join(sorted({str(x.reason) for x in c if x.reason}))
            metrics.append(MetricDelta("status", None, None, True, f"was ok, now {cs}" + (f" ({reasons})" if reasons else "")))
        elif b_ok and c_ok:
            metrics += [_throughput(b, c, th), _p99(b, c, th)]
            rto = _rto(b, c, th)
            if rto is not None:
                metrics.append(rto)
            metrics.append(_lost(b, c, th))
        out.cells.append(CellComparison(key, bs, cs, tuple(metrics)))
    return out


def _fmt(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:.3g}" if abs(v) < 100 else f"{v:.0f}"


def render_table(cmp: Comparison) -> str:
    """Plain text (it goes to CI logs): one row per cell and metric."""
    header = ("cell", "metric", "baseline", "current", "delta", "p", "verdict")
    rows: list[tuple[str, ...]] = []
    for cc in cmp.cells:
        cell = "/".join(cc.key)
        if not cc.metrics:
            rows.append((cell, "status", cc.baseline_status, cc.current_status, "", "", "not compared"))
        for m in cc.metrics:
            d = m.delta_pct
            rows.append(
                (
                    cell,
                    m.metric,
                    _fmt(m.baseline) if m.metric != "status" else cc.baseline_status,
                    _fmt(m.current) if m.metric != "status" else cc.current_status,
                    f"{d:+.1f}%" if d is not None else "",
                    f"{m.p_value:.3f}" if m.p_value is not None else "",
                    f"REGRESSION: {m.why}" if m.regressed else (m.why if m.metric == "status" and m.why else "ok"),
                )
            )
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    for key in cmp.only_baseline:
        lines.append(f"only in baseline: {'/'.join(key)}")
    for key in cmp.only_current:
        lines.append(f"only in current: {'/'.join(key)}")
    return "\n".join(lines)


def compare_main(baseline: Path, current: Path, thresholds: Path | None) -> int:
    """Prints the table and the verdict; 1 on regression, 0 otherwise."""
    th = load_thresholds(thresholds)
    base, cur = load_results(baseline), load_results(current)
    if base.run.platform != cur.run.platform:
        print(
            f"note: baseline ran on {base.run.platform}, current on {cur.run.platform}: "
            "numbers from different platforms are not comparable"
        )
    cmp = compare(base, cur, th)
    print(render_table(cmp))
    bad = [(cc.key, m) for cc in cmp.cells for m in cc.regressions]
    if bad:
        print(f"\nREGRESSION in {len(bad)} metric(s):")
        for key, m in bad:
            print(f"  {'/'.join(key)} {m.metric}: {m.why}")
        return 1
    print(f"\nno regression ({len(cmp.cells)} cells compared)")
    return 0
