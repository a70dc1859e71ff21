"""Where deployments run: `local` (real server processes), `kind`, `k8s`. The one platform registry.

`create(name, run)` builds a platform for a run context; `preflight(name)` is what `harness doctor`
asks. Each platform module is imported only when asked for, so `local` needs no Kubernetes code.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.contracts import Check, Platform
from harness.errors import HarnessError

if TYPE_CHECKING:
    from harness.context import RunContext

DRY_RUN_DIR = Path("reports") / "dry-run"  # where a dry run says it would write (it writes nothing)


@dataclass(frozen=True)
class PlatformEntry:
    module: str  # imported lazily
    plans_commands: bool  # every action is an external command: a dry run can print them all


REGISTRY: dict[str, PlatformEntry] = {
    "local": PlatformEntry("harness.platforms.local", plans_commands=False),
    "kind": PlatformEntry("harness.platforms.kind", plans_commands=True),
    "k8s": PlatformEntry("harness.platforms.kubernetes", plans_commands=True),
}


def entry(name: str) -> PlatformEntry:
    if name not in REGISTRY:
        raise HarnessError(f"unknown platform {name!r}; accepted: auto, {', '.join(REGISTRY)}")
    return REGISTRY[name]


def create(name: str, run: RunContext) -> Platform:
    """The platform for a run: its module's `create(run)`."""
    factory: Callable[[Any], Platform] = importlib.import_module(entry(name).module).create
    return factory(run)


def preflight(name: str) -> list[Check]:
    """What the platform needs on this machine (starts nothing)."""
    return list(importlib.import_module(entry(name).module).preflight())


def choose(requested: str) -> tuple[str, str]:
    """(platform, why). `auto`: kind when a Docker engine answers and kind/kubectl/helm are usable."""
    if requested != "auto":
        entry(requested)
        return requested, "requested with --platform"
    from harness.platforms.tools import docker_engine_check, tool_check

    docker = docker_engine_check(timeout_s=5)
    if not docker.ok:
        return "local", f"auto: no usable Docker engine ({docker.detail})"
    missing = [c.name for c in (tool_check(n) for n in ("kind", "kubectl", "helm")) if not c.ok and c.required]
    if missing:
        return "local", f"auto: Docker engine {docker.version} answers but {', '.join(missing)} cannot be had"
    return "kind", f"auto: Docker engine {docker.version} answers and kind/kubectl/helm are usable"
