"""The server's counters against the client's acknowledgements, and Prometheus' primary against the
role-change evidence: the second, independent witness of a cell's numbers.

Pure: series with times on the cell's axis (seconds since the measured load start) in, frozen results out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from harness.observe.promapi import Series

TOLERANCE = 0.02  # the 2 %
ROLE_SLACK_S = 0.5  # beyond the scrape interval: a scrape's own duration and the evaluation


@dataclass(frozen=True)
class CommandCount:
    command: str
    expected: int  # from the acknowledged ops in the window
    observed: int  # the exporter's counter delta over the same window
    diff_fraction: float
    agree: bool  # within the tolerance of `expected`, or inside [least, most]
    least: int = 0  # what ops wholly inside the window sent
    most: int = 0  # what every op overlapping the window may have sent (in flight at an end, failed)


@dataclass(frozen=True)
class CrossCheck:
    valid: bool
    window: dict[str, Any]
    commands: tuple[CommandCount, ...]
    reasons: tuple[str, ...] = ()
    tolerance: float = TOLERANCE

    def to_json(self) -> dict[str, Any]:
        return {"valid": self.valid, "tolerance": self.tolerance, "reasons": list(self.reasons),
                "window": self.window, "commands": [asdict(c) for c in self.commands]}


def primary_samples(series: Iterable[Series], engine_primary: tuple[str, dict[str, str], float]) -> dict[str, list[tuple[float, bool]]]:
    """pod -> [(t, is primary)] from the role series. `engine_primary`: (metric, labels it must carry,
    the value meaning primary); a sample of the metric without those labels means "not primary"."""
    metric, labels, value = engine_primary
    out: dict[str, dict[float, bool]] = {}
    for s in series:
        if s.metric != metric or "pod" not in s.labels:
            continue
        match = all(s.labels.get(k) == v for k, v in labels.items())
        per = out.setdefault(s.labels["pod"], {})
        for t, v in zip(s.t, s.v, strict=True):
            per[t] = per.get(t, False) or (match and v == value)
    return {pod: sorted(per.items()) for pod, per in out.items()}


def primary_at(roles: Mapping[str, list[tuple[float, bool]]], t: float) -> str | None:
    """The sole pod whose latest sample at or before `t` says primary."""
    found = []
    for pod, samples in roles.items():
        before = [p for ts, p in samples if ts <= t]
        if before and before[-1]:
            found.append(pod)
    return found[0] if len(found) == 1 else None


def primary_transitions(roles: Mapping[str, list[tuple[float, bool]]]) -> list[tuple[float, str]]:
    """(t, pod) where the sole primary seen by Prometheus becomes a different pod than the last sole one
    (a primary restarted in place is no change; while two pods say primary there is no sole one, and
    the `TooManyPrimaries` alert says it)."""
    times = sorted({t for samples in roles.values() for t, _ in samples})
    out: list[tuple[float, str]] = []
    last = None
    for t in times:
        pod = primary_at(roles, t)
        if pod is None:
            continue
        if last is not None and pod != last:
            out.append((t, pod))
        last = pod
    return out


def _sample_times(s: Series, lo: float, hi: float) -> list[float]:
    return [t for t in s.t if lo <= t <= hi]


def _value_at(s: Series, t: float) -> float | None:
    for ts, v in zip(s.t, s.v, strict=True):
        if abs(ts - t) < 1e-6:
            return v
    return None


def compare(counters: Mapping[str, Series], expected: Mapping[str, tuple[int, int, int]], window: dict[str, Any],
            tolerance: float = TOLERANCE) -> CrossCheck:
    """Counter delta over [from_s, to_s] per command against `expected`; a command whose counter has no
    sample at an end counts 0 there only when it first appears later (Redis creates a command's
    counter at its first call); a counter that went down was reset (a restart): not comparable."""
    lo, hi = window["from_s"], window["to_s"]
    rows, reasons = [], []
    for command, (want, least, most) in sorted(expected.items()):
        s = counters.get(command)
        a = _value_at(s, lo) if s else None
        b = _value_at(s, hi) if s else None
        if s is not None and a is None and s.t and s.t[0] > lo:
            a = 0.0
        if a is None or b is None:
            reasons.append(f"{command}: no counter sample at {lo:.1f} s or {hi:.1f} s")
            continue
        inside = [v for t, v in zip(s.t, s.v, strict=True) if lo <= t <= hi]  # type: ignore[union-attr]
        if any(y < x for x, y in zip(inside, inside[1:], strict=False)):
            reasons.append(f"{command}: the counter was reset inside the window (the server restarted)")
            continue
        got = int(round(b - a))
        diff = abs(got - want) / max(want, 1)
        ok = diff <= tolerance or least <= got <= most
        rows.append(CommandCount(command, int(want), got, round(diff, 4), ok, least, most))
        if not ok:
            reasons.append(f"{command}: the clients' acknowledged ops imply {want} (ops in flight at the window's "
                           f"ends allow {least}..{most}), the exporter counted {got} ({diff:.1%} apart, more than "
                           f"{tolerance:.0%})")
    valid = bool(rows) and not reasons
    if not rows and not reasons:
        reasons.append("no command to compare")
    return CrossCheck(valid, window, tuple(rows), tuple(reasons), tolerance)


@dataclass(frozen=True)
class RoleAgreement:
    new_primary: str
    evidence_at_s: float | None
    prometheus_at_s: float | None
    delta_s: float | None
    agree: bool
    source: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Evidence:
    at_s: float
    new_primary: str
    source: str = field(default="")


def role_agreement(evidence: list[Evidence], seen: list[tuple[float, str]], interval_s: float) -> list[RoleAgreement]:
    """Each evidenced primary change matched with Prometheus' first sample of that pod as the new
    primary; they agree within the scrape interval (plus `ROLE_SLACK_S`). Unmatched ones on either
    side are disagreements."""
    left = list(seen)
    out = []
    for e in sorted(evidence, key=lambda x: x.at_s):
        cands = [x for x in left if x[1] == e.new_primary]
        if not cands:
            out.append(RoleAgreement(e.new_primary, round(e.at_s, 3), None, None, False, e.source))
            continue
        t, _ = min(cands, key=lambda x: abs(x[0] - e.at_s))
        left.remove((t, e.new_primary))
        delta = round(t - e.at_s, 3)
        out.append(RoleAgreement(e.new_primary, round(e.at_s, 3), round(t, 3), delta,
                                 abs(delta) <= interval_s + ROLE_SLACK_S, e.source))
    out += [RoleAgreement(pod, None, round(t, 3), None, False, None) for t, pod in left]
    return out
