"""The scenario registry: one module per scenario, each exposing `SCENARIO` (a declaration)."""

from __future__ import annotations

import importlib

from harness.errors import HarnessError
from scenarios.base import DEFAULT_MIX, FaultDecl, Scenario

__all__ = ["DEFAULT_MIX", "FaultDecl", "Scenario", "get", "load_scenarios", "names", "select"]

# Module order is the run order: the cheap baseline first (and the capacity search on it), the long
# zone faults last.
# The day-2 operations follow the pod faults; the long zone faults stay last.
MODULES: tuple[str, ...] = ("steady", "connection_limits", "capacity", "pod_kill_primary", "pod_kill_secondary", "switchover", "rolling_restart",
                            "scale_out", "upgrade", "backup_restore", "zone_outage", "zone_partition")


def load_scenarios() -> dict[str, Scenario]:
    """Every scenario by its CLI name (dashes), in run order."""
    out: dict[str, Scenario] = {}
    for mod in MODULES:
        sc = importlib.import_module(f"scenarios.{mod}").SCENARIO
        if sc.name != mod.replace("_", "-"):
            raise RuntimeError(f"scenarios/{mod}.py declares name {sc.name!r}")
        out[sc.name] = sc
    return out


def names() -> list[str]:
    return list(load_scenarios())


def get(name: str) -> Scenario:
    """A scenario by name; `pod_kill_primary` is accepted for `pod-kill-primary`."""
    all_ = load_scenarios()
    key = name.strip().replace("_", "-")
    if key not in all_:
        raise HarnessError(f"unknown scenario {name!r}; accepted: {', '.join(all_)}")
    return all_[key]


def select(requested: list[str] | None) -> list[Scenario]:
    """The requested scenarios (comma-separated items allowed), in run order; none means all."""
    all_ = load_scenarios()
    if not requested:
        return list(all_.values())
    wanted = {get(n).name for item in requested for n in item.split(",") if n.strip()}
    if not wanted:
        raise HarnessError(f"empty scenario list; accepted: {', '.join(all_)}")
    return [sc for name, sc in all_.items() if name in wanted]
