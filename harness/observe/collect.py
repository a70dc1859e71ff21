"""A cell's server view, read from the run's Prometheus after the load: its series exported to a
compact file, the alerts that fired, the time to alert, and the cross-checks against the client's view.

Best effort by design: whatever Prometheus cannot give becomes `missing` or a disagreement, never a
failed cell.
"""

from __future__ import annotations

import gzip
import json
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.contracts import ObservationSource, RoleChange
from harness.errors import HarnessError
from harness.history import iter_completions
from harness.observe import alerts as alerts_mod
from harness.observe import crosscheck as xc
from harness.observe.metrics import EngineMetrics, of
from harness.observe.promapi import Series, instant, raw_samples

SERIES_FILE = "series.jsonl.gz"
CROSS_CHECK_PREFIX = "op-count cross-check:"  # the report sums these up in one line of its own


@dataclass(frozen=True)
class CellSpan:
    """What the cell knows of its own time range, on its axis (t = 0 at the measured load start)."""

    engine: str
    deployed_wall: float
    load_start_us: int
    load_start_wall: float
    load_end_us: int
    injected_us: int | None
    history_paths: list[Path]
    client_commands: Mapping[str, Mapping[str, int]]
    role_changes: list[RoleChange] = field(default_factory=list)
    write_gap_s: float | None = None
    rto_s: float | None = None

    def rel(self, wall: float) -> float:
        return round(wall - self.load_start_wall, 3)

    @property
    def injected_s(self) -> float | None:
        return None if self.injected_us is None else (self.injected_us - self.load_start_us) / 1e6

    @property
    def load_end_s(self) -> float:
        return (self.load_end_us - self.load_start_us) / 1e6


def unobserved(source: ObservationSource | None, why: str | None = None) -> dict[str, Any]:
    return {"observed": False, "missing": why or (source.missing if source else None) or "not observed",
            "exporters": dict(source.exporters) if source else {}, "notes": list(source.notes) if source else []}


def observe(source: ObservationSource, span: CellSpan, out_dir: Path, run_dir: Path) -> dict[str, Any]:
    m = of(span.engine)
    if source.missing or source.url is None or m is None:
        return unobserved(source)
    url, interval = source.url, source.scrape_interval_s
    selector = ",".join(f'{k}="{v}"' for k, v in sorted(source.selector.items()))
    end_wall = _wait_scraped_past(url, selector, time.time(), interval)
    names = "|".join(m.exported)
    raw = raw_samples(url, f'{{__name__=~"{names}",{selector}}}', span.deployed_wall, end_wall)
    series = [Series(s.metric, s.labels, [span.rel(t) for t in s.t], s.v) for s in raw]
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / SERIES_FILE
    write_series(path, series)
    end_s = span.rel(end_wall)
    eps = alerts_mod.episodes([s for s in series if s.metric == "ALERTS"], interval, end_s)
    roles = xc.primary_samples(series, m.primary_sample)
    check = cross_check(m, series, roles, span)
    evidence = [xc.Evidence(span.rel(c.at_wall), c.new_primary, c.source) for c in span.role_changes
                if span.rel(c.at_wall) >= 0]
    agreement = xc.role_agreement(evidence, [t for t in xc.primary_transitions(roles) if t[0] >= 0], interval)
    tta = alerts_mod.time_to_alert(eps, span.injected_s)
    return {
        "observed": True, "missing": None, "scrape_interval_s": interval,
        "load_start_wall": span.load_start_wall, "exporters": dict(source.exporters), "notes": list(source.notes),
        "series_file": str(path.relative_to(run_dir)), "series": len(series),
        "samples": sum(len(s.t) for s in series),
        "alerts": [e.to_json() for e in eps],
        "time_to_alert": tta,
        "cross_check": check.to_json(),
        "role_changes": [a.to_json() for a in agreement],
        "disagreements": disagreements(check, agreement, eps, tta, span, roles, interval),
    }


def _wait_scraped_past(url: str, selector: str, wall: float, interval: float) -> float:
    """Until every target has a scrape after `wall` (or three intervals passed): the export's end."""
    deadline = time.monotonic() + 3 * interval + 2.0
    while time.monotonic() < deadline:
        try:
            got = instant(url, f'min(timestamp(up{{{selector}}}))')
            if got and float(got[0]["value"][1]) > wall:
                break
        except HarnessError:
            pass
        time.sleep(0.2)
    return time.time()


def write_series(path: Path, series: list[Series]) -> None:
    with gzip.open(path, "wt") as f:
        for s in series:
            f.write(json.dumps({"metric": s.metric, "labels": s.labels, "t": s.t, "v": s.v}, separators=(",", ":")) + "\n")


def read_series(path: Path) -> list[Series]:
    from harness.observe.serverview import read_series as read_dicts

    return [Series(d["metric"], d["labels"], d["t"], d["v"]) for d in read_dicts(path)]


def cross_check(m: EngineMetrics, series: list[Series], roles: Mapping[str, list[tuple[float, bool]]],
                span: CellSpan) -> xc.CrossCheck:
    """Over the primary's scrapes inside the measured load and before any fault (a killed server's last
    commands after its last scrape are seen by no counter)."""
    inj = span.injected_s
    probe_at = (inj - 0.001) if inj is not None else span.load_end_s
    pod = xc.primary_at(roles, probe_at)
    why = "before the fault" if inj is not None else "the whole measured load"
    if pod is None:
        return xc.CrossCheck(False, {"pod": None, "why": why, "from_s": None, "to_s": None}, (),
                             (f"Prometheus saw no sole primary at {probe_at:.1f} s",))
    wanted = set(m.compared.values())
    counters = {s.labels.get(m.command_label, ""): s for s in series
                if s.metric == m.commands and s.labels.get("pod") == pod and s.labels.get(m.command_label) in wanted}
    # both ends inside the measured load (after it, the read-back and the replica comparison send
    # commands of their own), before the fault
    end = min(inj, span.load_end_s) if inj is not None else span.load_end_s
    times = sorted({t for s in series if s.metric == "up" and s.labels.get("pod") == pod for t in s.t})
    inside = [t for t in times if 0 <= t < end]
    if len(inside) < 2:
        return xc.CrossCheck(False, {"pod": pod, "why": why, "from_s": None, "to_s": None}, (),
                             (f"fewer than two scrapes of {pod} inside the window",))
    durations = {t: v for s in series if s.metric == "scrape_duration_seconds" and s.labels.get("pod") == pod
                 for t, v in zip(s.t, s.v, strict=True)}
    window = {"pod": pod, "why": why, "from_s": inside[0], "to_s": inside[-1]}
    return xc.compare(counters, expected_commands(span, m, inside[0], inside[-1], durations.get(inside[0], 0.0),
                                                  durations.get(inside[-1], 0.0)), window)


def expected_commands(span: CellSpan, m: EngineMetrics, from_s: float, to_s: float, from_d: float = 0.0,
                      to_d: float = 0.0) -> dict[str, tuple[int, int, int]]:
    """command label -> (sent by the ops acknowledged in (from_s, to_s], the least and the most the
    server can have counted in that window): the least from ops wholly inside it, the most from every
    op that overlapped it, whatever its outcome (an op in flight at an end may have run on either side).
    A sample is stamped when its scrape starts and the exporter reads the counters during the scrape:
    `from_d` / `to_d`, the scrapes' durations, widen each end by as much."""
    per_op = {op: {m.compared[k]: n for k, n in cmds.items() if k in m.compared}
              for op, cmds in span.client_commands.items()}
    lo_us = span.load_start_us + int(from_s * 1e6)
    hi_us = span.load_start_us + int(to_s * 1e6)
    lo_late, hi_late = lo_us + int(from_d * 1e6), hi_us + int(to_d * 1e6)
    acked: Counter[str] = Counter()
    inside: Counter[str] = Counter()
    overlap: Counter[str] = Counter()
    for c in iter_completions(span.history_paths):
        if c.complete_us <= lo_us or c.invoke_us > hi_late:
            continue
        overlap[c.f] += 1
        if c.outcome == "ok" and lo_us < c.complete_us <= hi_us:
            acked[c.f] += 1
        if c.outcome == "ok" and c.invoke_us >= lo_late and c.complete_us <= hi_us:
            inside[c.f] += 1
    out: dict[str, tuple[int, int, int]] = {}
    for cmd in m.compared.values():
        def total(counts: Counter[str], cmd: str = cmd) -> int:
            return sum(n * per_op.get(op, {}).get(cmd, 0) for op, n in counts.items())
        out[cmd] = (total(acked), total(inside), total(overlap))
    return out


def disagreements(check: xc.CrossCheck, agreement: list[xc.RoleAgreement], eps: list[alerts_mod.Episode],
                  tta: dict[str, Any] | None, span: CellSpan, roles: Mapping[str, list[tuple[float, bool]]],
                  interval: float) -> list[str]:
    """Where the server's view and the client's differ, in words for the report."""
    out = [f"{CROSS_CHECK_PREFIX} {r}" for r in check.reasons]
    for a in agreement:
        if a.agree:
            continue
        if a.prometheus_at_s is None:
            out.append(f"{a.source or 'the role evidence'} made {a.new_primary} primary at {a.evidence_at_s} s; "
                       "Prometheus never saw it primary")
        elif a.evidence_at_s is None:
            out.append(f"Prometheus saw {a.new_primary} become primary at {a.prometheus_at_s} s; no role evidence has it")
        else:
            out.append(f"{a.new_primary} primary at {a.evidence_at_s} s ({a.source}) but at {a.prometheus_at_s} s in "
                       f"Prometheus: {abs(a.delta_s or 0):.2f} s apart, more than the {interval:g} s scrape interval")
    inj = span.injected_s
    if inj is not None and tta is None and (span.write_gap_s or 0) >= 3 * interval:
        out.append(f"the clients saw a {span.write_gap_s:.1f} s write gap after the fault at {inj:.1f} s; no alert fired")
    if inj is not None and span.rto_s is not None:
        resumed = inj + span.rto_s
        seen = [t for t, _ in xc.primary_transitions(roles) if t >= inj]
        if seen and seen[0] > resumed + interval + xc.ROLE_SLACK_S:
            out.append(f"the clients wrote again at {resumed:.1f} s; Prometheus saw the new primary only at {seen[0]:.1f} s")
    return out
