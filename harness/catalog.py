"""The scenario catalog: the declarations under the `scenarios` package, found at run time.

The library depends on the declaration type (harness/scenario.py), not on the plugins: this is the
one place that loads them, by package name, so a run can be pointed at another catalog.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from harness.scenario import Scenario

CATALOG_PACKAGE = "scenarios"


def _package(name: str = CATALOG_PACKAGE) -> ModuleType:
    return importlib.import_module(name)


def load_scenarios() -> dict[str, Scenario]:
    """Every scenario by its CLI name, in run order."""
    found: dict[str, Scenario] = _package().load_scenarios()
    return found


def names() -> list[str]:
    return list(load_scenarios())


def get(name: str) -> Scenario:
    """A scenario by name (`pod_kill_primary` is accepted for `pod-kill-primary`); one clear error otherwise."""
    scenario: Scenario = _package().get(name)
    return scenario


def select(requested: list[str] | None) -> list[Scenario]:
    """The requested scenarios (comma-separated items allowed), in run order; none means all."""
    chosen: list[Scenario] = _package().select(requested)
    return chosen
