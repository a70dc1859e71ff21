"""Alert episodes from Prometheus' own `ALERTS` series, and the time from a fault to the first one.

`ALERTS{alertstate="firing"}` has a sample at every rule evaluation while an alert fires, so an
episode is a run of samples without a gap longer than 1.5 evaluation intervals; its times are
evaluation times (the resolution is the evaluation interval, 1 s here).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from harness.observe.promapi import Series
from harness.observe.rules import FAULT_ALERTS


@dataclass(frozen=True)
class Episode:
    alert: str
    kind: str  # the rule's `fault_alert` label: Down, MissingPrimary, ...
    pod: str | None
    severity: str | None
    firing_from_s: float
    resolved_at_s: float | None  # None: still firing when the cell's series end

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def episodes(alerts: list[Series], interval_s: float, end_s: float) -> list[Episode]:
    """Firing episodes, oldest first; `end_s`: where the exported range ends (an episode whose last
    sample is within one interval of it is still firing)."""
    out = []
    for s in alerts:
        if s.labels.get("alertstate") != "firing":
            continue
        runs: list[list[float]] = []
        for t in s.t:
            if runs and t - runs[-1][-1] <= 1.5 * interval_s:
                runs[-1].append(t)
            else:
                runs.append([t])
        for run in runs:
            still = end_s - run[-1] <= 1.5 * interval_s
            out.append(Episode(alert=s.labels.get("alertname", "?"), kind=s.labels.get("fault_alert", "?"),
                               pod=s.labels.get("pod"), severity=s.labels.get("severity"),
                               firing_from_s=round(run[0], 3),
                               resolved_at_s=None if still else round(run[-1] + interval_s, 3)))
    return sorted(out, key=lambda e: (e.firing_from_s, e.alert, e.pod or ""))


def time_to_alert(found: list[Episode], injected_s: float | None) -> dict[str, Any] | None:
    """The first fault alert that starts firing at or after the injection (one already firing before it,
    e.g. `Restarted` in a fresh deployment's first minute, was not caused by the fault)."""
    if injected_s is None:
        return None
    later = [e for e in found if e.kind in FAULT_ALERTS and e.firing_from_s >= injected_s]
    if not later:
        return None
    e = later[0]
    return {"alert": e.alert, "kind": e.kind, "pod": e.pod, "s": round(e.firing_from_s - injected_s, 3)}
