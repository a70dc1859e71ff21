"""What a cell records about its deployment beside the load's own measures: the configs it ran with,
each pod's footprint in the steady window, and whether the replicas still match the primary.

Each piece is optional on a platform (the `Footprints` / `DivergenceCheck` protocols, `applied_config`)
and best effort where it is evidence only; the divergence check is a data-safety finding, so its
failure to run is recorded as such ("not checked" with the reason), never as "matched".
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from harness import engines
from harness.clock import Clock
from harness.contracts import Deployment, DeploySpec, DivergenceCheck, Footprints, Observed, Platform

log = logging.getLogger("harness.cell")


class FootprintWindow:
    """Begins the platform's footprint at `start_us` and ends it at `end_us`, on the cell's polls.

    The load's progress loop calls `tick` every half second, so the window is the steady window to
    within one poll; `window_s` is what was actually measured."""

    def __init__(self, platform: Platform, dep: Deployment, start_us: int, end_us: int, clock: Clock):
        self.meter = platform if isinstance(platform, Footprints) else None
        self.dep, self.start_us, self.end_us, self.clock = dep, start_us, end_us, clock
        self.began_us: int | None = None
        self.block: dict[str, Any] | None = None

    def tick(self) -> None:
        if self.meter is None or self.block is not None:
            return
        now = self.clock.now_us()
        try:
            if self.began_us is None and now >= self.start_us:
                self.meter.footprint_begin(self.dep)
                self.began_us = now
            elif self.began_us is not None and now >= self.end_us:
                self.finish()
        except Exception as e:  # noqa: BLE001 - evidence is best effort; the cell's measures stand
            log.warning("footprint unavailable: %s", e)
            self.block = {"pods": [], "error": f"{type(e).__name__}: {e}"[:300]}

    def finish(self) -> None:
        """Ends the window now (the load ended before the steady window's end, or the poll found it)."""
        if self.meter is None or self.block is not None or self.began_us is None:
            return
        now = self.clock.now_us()
        pods = self.meter.footprint_end(self.dep)
        limits = self.meter.limits_evidence(self.dep)
        self.block = {
            "window_s": round((now - self.began_us) / 1e6, 3),
            "limits": {"enforced": limits.enforced, "how": limits.how, "cpu": limits.cpu, "memory": limits.memory},
            "pods": [{"pod": p.pod, "kind": p.kind, "cpu_s": None if p.cpu_s is None else round(p.cpu_s, 4),
                      "peak_rss_bytes": p.peak_rss_bytes, "volume_bytes": p.volume_bytes, "source": p.source}
                     for p in pods],
            "error": None,
        }


def divergence_block(platform: Platform, dep: Deployment) -> dict[str, Any] | None:
    """Every replica against the primary (after it caught up); None for a single-instance deployment."""
    if dep.topology.replicas < 2:
        return None
    if not isinstance(platform, DivergenceCheck):
        return {"checked": False, "reason": f"the {platform.name} platform cannot compare replicas", "diverged": 0,
                "replicas": []}
    try:
        found = platform.divergence(dep)
    except Exception as e:  # noqa: BLE001 - recorded as not checked, never as matched
        log.warning("replica divergence not checked: %s", e)
        return {"checked": False, "reason": f"{type(e).__name__}: {e}"[:300], "diverged": 0, "replicas": []}
    return {"checked": True, "reason": None, "diverged": sum(1 for d in found if d.diverged),
            "replicas": [{"primary": d.primary, "replica": d.replica, "method": d.method, "compared": d.compared,
                          "differing": list(d.differing), "detail": d.detail} for d in found]}


def config_block(platform: Platform, dep: Deployment, spec: DeploySpec) -> dict[str, Any] | None:
    """The parameters rendered for this mode and limits, and (where the platform reads them back) the
    running servers' own values, with every disagreement named."""
    started_with = getattr(platform, "rendered_config", None)  # the render with the platform's own changes
    try:
        rendered = (started_with(dep) if started_with is not None else None) or engines.get(dep.engine).render_config(
            dep.mode, spec.cpu, spec.memory)
    except Exception as e:  # noqa: BLE001 - evidence is best effort
        log.warning("config not rendered: %s", e)
        return None
    block: dict[str, Any] = {"source": rendered.source, "cpu": rendered.cpu, "memory": rendered.memory,
                             "params": rendered.as_dict(), "notes": dict(rendered.notes), "applied": None,
                             "mismatches": []}
    read = getattr(platform, "applied_config", None)
    if read is None:
        return block
    try:
        applied = read(dep)
    except Exception as e:  # noqa: BLE001 - evidence is best effort
        block["mismatches"] = [f"could not read the running values: {type(e).__name__}: {e}"[:300]]
        return block
    block["applied"] = applied
    block["mismatches"] = config_mismatches(rendered.as_dict(), applied)
    return block


def config_mismatches(rendered: dict[str, str], applied: dict[str, dict[str, Any]]) -> list[str]:
    """`pod: name rendered X, running Y` for every rendered parameter a pod reports differently. The
    platform normalises units (128M vs 134217728) before this compares."""
    out = []
    for pod, values in sorted(applied.items()):
        for name, want in rendered.items():
            if name in values and str(values[name]) != str(want):
                out.append(f"{pod}: {name} rendered {want}, running {values[name]}")
    return out


def observability_block(platform: Platform, dep: Deployment, span: Any, cell_dir: Path, run_dir: Path) -> dict[str, Any]:
    """The server's view (harness/observe/collect.py); a platform without exporters, or a Prometheus
    that cannot answer, is recorded as not observed with the reason, and the cell stands."""
    from harness.observe import collect

    if not isinstance(platform, Observed):
        return collect.unobserved(None, f"the {platform.name} platform runs no exporters")
    source = None
    try:
        source = platform.observation(dep)
        return collect.observe(source, span, cell_dir / "observability", run_dir)
    except Exception as e:  # noqa: BLE001 - evidence is best effort; the cell's measures stand
        log.warning("server view unavailable: %s", e)
        return collect.unobserved(source, f"{type(e).__name__}: {e}"[:300])
