"""The server's view of a cell as per-pod time series, from the cell's series file (observability/series.jsonl.gz).

Pure: `server_view` works on the parsed series list; `read_series` is the only I/O. Times are seconds on
the cell's axis (t=0: the measured load start, as in timeline.csv). The engine's metric names come from
harness.observe.metrics (a table: no engine name is compared here).

- role: 1 primary, 0 replica, NaN while the pod gave no sample of its role metric or its server was down
  (the engine's `up` metric 0), and across a scrape gap (no sample for over two scrape intervals);
- commands/s: the per-command counter's rate between consecutive samples, summed over the command label;
  a counter reset (the value drops: the server restarted) counts the new value as the increase; a rate
  across a scrape gap of the pod is NaN (an average over seconds nobody saw);
- clients, replication lag, up: the samples as they are (the largest when several label sets share a pod).
Every series has a NaN right after a scrape gap, so a line drawn through it breaks there.
"""

from __future__ import annotations

import gzip
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.observe.metrics import SCRAPE_INTERVAL_S, of

NAN = float("nan")
GAP_FACTOR = 2.0  # no sample for over this many scrape intervals: the pod was not seen

Series = tuple[list[float], list[float]]  # (t, v), t ascending


def read_series(path: Path | str) -> list[dict[str, Any]]:
    """The series file: gzip, one JSON object per line ({"metric", "labels", "t", "v"})."""
    out = []
    with gzip.open(path, "rt") as fh:
        for line in fh:
            if line.strip():
                out.append(json.loads(line))
    return out


@dataclass(frozen=True)
class PrimaryMatch:
    """A primary expression as a sample test: the metric, its label matchers, the compared value (None:
    the sample's value itself, non-zero = primary)."""

    metric: str
    labels: dict[str, str]
    equals: float | None

    def is_primary(self, labels: Mapping[str, str], v: float) -> bool:
        if any(labels.get(k) != want for k, want in self.labels.items()):
            return False
        return v == self.equals if self.equals is not None else v != 0


def primary_match(engine: str) -> PrimaryMatch:
    """The engine's role-metric test (`EngineMetrics.primary_sample`, the same one the cross-check uses)."""
    metric, labels, value = of(engine).primary_sample  # type: ignore[union-attr]
    return PrimaryMatch(metric, dict(labels), value)


@dataclass
class ServerView:
    role: dict[str, Series] = field(default_factory=dict)
    commands_s: dict[str, Series] = field(default_factory=dict)
    clients: dict[str, Series] = field(default_factory=dict)
    lag: dict[str, Series] = field(default_factory=dict)
    up: dict[str, Series] = field(default_factory=dict)

    @property
    def pods(self) -> list[str]:
        return sorted(set(self.role) | set(self.commands_s) | set(self.clients) | set(self.lag) | set(self.up))

    def __bool__(self) -> bool:
        return bool(self.pods)


def _key(t: float) -> float:
    return round(float(t), 3)


def _by_pod(series: Iterable[Mapping[str, Any]], metric: str) -> dict[str, list[Mapping[str, Any]]]:
    out: dict[str, list[Mapping[str, Any]]] = {}
    for s in series:
        pod = (s.get("labels") or {}).get("pod")
        if s.get("metric") == metric and pod:
            out.setdefault(pod, []).append(s)
    return out


def _samples(s: Mapping[str, Any]) -> list[tuple[float, float]]:
    return sorted((float(t), float(v)) for t, v in zip(s.get("t") or [], s.get("v") or [], strict=False)
                  if v is not None)


def _gauge(series: Iterable[Mapping[str, Any]], metric: str) -> dict[str, Series]:
    """Per pod: the largest value at each sample time over the pod's label sets."""
    out: dict[str, Series] = {}
    for pod, ss in _by_pod(series, metric).items():
        at: dict[float, float] = {}
        for s in ss:
            for t, v in _samples(s):
                k = _key(t)
                at[k] = max(at.get(k, v), v)
        ts = sorted(at)
        out[pod] = (ts, [at[t] for t in ts])
    return out


def counter_rate(samples: list[tuple[float, float]], max_gap: float | None = None) -> Series:
    """Per second between consecutive samples, at the later one's time; a drop is a reset (the new value
    is the increase since it). Samples over `max_gap` apart: NaN (the counter was not seen between)."""
    ts: list[float] = []
    vs: list[float] = []
    for (t0, v0), (t1, v1) in zip(samples, samples[1:], strict=False):
        if t1 <= t0:
            continue
        inc = v1 - v0 if v1 >= v0 else v1
        ts.append(_key(t1))
        vs.append(NAN if max_gap is not None and t1 - t0 > max_gap else inc / (t1 - t0))
    return ts, vs


def _commands(series: Iterable[Mapping[str, Any]], metric: str, max_gap: float) -> dict[str, Series]:
    out: dict[str, Series] = {}
    for pod, ss in _by_pod(series, metric).items():
        at: dict[float, float] = {}
        for s in ss:
            for t, v in zip(*counter_rate(_samples(s), max_gap), strict=True):
                at[t] = at.get(t, 0.0) + v
        ts = sorted(at)
        out[pod] = (ts, [at[t] for t in ts])
    return out


def _grid(series: Iterable[Mapping[str, Any]]) -> dict[str, list[float]]:
    """Every sample time of each pod, over all its series (the scrapes that reached its exporter)."""
    at: dict[str, set[float]] = {}
    for s in series:
        pod = (s.get("labels") or {}).get("pod")
        if pod and s.get("metric") != "ALERTS":
            at.setdefault(pod, set()).update(_key(t) for t, _ in _samples(s))
    return {p: sorted(ts) for p, ts in at.items()}


def _role(series: Sequence[Mapping[str, Any]], primary: PrimaryMatch, up: dict[str, Series],
          interval: float) -> dict[str, Series]:
    grid = _grid(series)
    seen: dict[str, dict[float, float]] = {}
    for pod, ss in _by_pod(series, primary.metric).items():
        at = seen.setdefault(pod, {})
        for s in ss:
            labels = s.get("labels") or {}
            for t, v in _samples(s):
                k = _key(t)
                at[k] = max(at.get(k, 0.0), 1.0 if primary.is_primary(labels, v) else 0.0)
    out: dict[str, Series] = {}
    for pod in sorted(set(grid) | set(seen)):
        down = {t for t, v in zip(*up.get(pod, ([], [])), strict=True) if v == 0}
        at = seen.get(pod, {})
        ts: list[float] = []
        vs: list[float] = []
        for t in sorted(set(grid.get(pod, [])) | set(at)):
            if ts and t - ts[-1] > GAP_FACTOR * interval:  # a scrape gap: the pod was not seen
                ts.append(_key(ts[-1] + interval))
                vs.append(NAN)
            ts.append(t)
            vs.append(NAN if t in down or t not in at else at[t])
        out[pod] = (ts, vs)
    return out


def break_gaps(s: Series, interval: float) -> Series:
    """A NaN one interval after each sample followed by no other for over GAP_FACTOR intervals (a line
    drawn through it would claim values nobody saw); a rate spanning such a gap is NaN too."""
    ts: list[float] = []
    vs: list[float] = []
    for t, v in zip(*s, strict=True):
        gap = bool(ts) and t - ts[-1] > GAP_FACTOR * interval
        if gap:
            ts.append(_key(ts[-1] + interval))
            vs.append(NAN)
        ts.append(t)
        vs.append(v)
    return ts, vs


def _broken(per_pod: dict[str, Series], interval: float) -> dict[str, Series]:
    return {p: break_gaps(s, interval) for p, s in per_pod.items()}


def server_view(series: Sequence[Mapping[str, Any]], engine: str, interval: float | None = None) -> ServerView:
    """The per-pod series of one cell; empty when the engine has no exporter here."""
    names = of(engine)
    if names is None:
        return ServerView()
    interval = interval or SCRAPE_INTERVAL_S
    up = _gauge(series, names.up)
    commands = _commands(series, names.commands, GAP_FACTOR * interval)
    return ServerView(role=_role(series, primary_match(engine), up, interval),
                      commands_s=_broken(commands, interval),
                      clients=_broken(_gauge(series, names.clients), interval),
                      lag=_broken(_gauge(series, names.lag), interval),
                      up=_broken(up, interval))


def finite(vs: Iterable[float]) -> list[float]:
    return [v for v in vs if not math.isnan(v)]
