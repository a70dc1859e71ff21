"""What a scenario is: a short declaration (data), composed by the run loop, never a script.

Jepsen's split: the scenario names a workload mix (client), a fault schedule (nemesis) and the
timings; the platform, workload and checker do the work. The type lives in the library; the
declarations are plugins under `scenarios/` (found by harness/catalog.py), which the library never
imports by name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from harness.config import PROFILES, Timings
from harness.contracts import ENGINES, MODES, NEMESIS_KINDS, PLATFORMS

# OpenIM-like op weights per engine (reference/openim-workload.md): sends dominate, reads follow.
DEFAULT_MIX: Mapping[str, Mapping[str, float]] = MappingProxyType({
    "redis": MappingProxyType({"send_message": 0.55, "sync": 0.25, "login": 0.12, "online": 0.08}),
    "mysql": MappingProxyType({"login": 0.40, "register": 0.25, "friends": 0.20, "group_members": 0.15}),
    "mongodb": MappingProxyType({"send_message": 0.60, "pull": 0.30, "conversations": 0.10}),
})


# On kind a stopped or disconnected node keeps its pods Ready, and a dead primary keeps its role label
# and its place in the Service, until the node controller marks the node NotReady after
# node-monitor-grace-period (50 s by default in Kubernetes 1.32; kind 0.27 keeps the default). A zone
# fault shorter than that plus the failover after it would end before the recovery it is there to
# measure. (k8s needs no floor: its zone outage force-deletes the pods at once.)
NODE_LOSS_MIN_FAULT_S: Mapping[str, float] = MappingProxyType({"kind": 90.0})


MEASURES = ("load", "capacity", "connections")


@dataclass(frozen=True)
class FaultDecl:
    """What the nemesis breaks, `Timings.before_fault_s` after the load starts, for `Timings.fault_s`."""

    kind: str
    target: str = "primary"  # "primary", "secondary", a pod name; zone faults: the primary's zone

    def __post_init__(self) -> None:
        if self.kind not in NEMESIS_KINDS:
            raise ValueError(f"fault kind {self.kind!r} not in {NEMESIS_KINDS}")


@dataclass(frozen=True)
class Scenario:
    name: str  # CLI and results name, with dashes
    summary: str  # one line for `harness list` and the report
    expectation: str  # what HA should do here, so the report can say why a number is what it is
    fault: FaultDecl | None
    timings: Mapping[str, Timings]  # per profile
    mix: Mapping[str, Mapping[str, float]] = field(default_factory=lambda: DEFAULT_MIX)
    engines: tuple[str, ...] = ENGINES
    not_applicable: Mapping[str, str] = field(default_factory=dict)  # mode or "engine/mode" -> reason
    # platform -> the shortest `fault_s` there, whatever the profile or a settings file says
    min_fault_s: Mapping[str, float] = field(default_factory=dict)
    # platform -> why the scenario says nothing there (local has one server version: no upgrade)
    not_on_platform: Mapping[str, str] = field(default_factory=dict)
    # what the cell measures: "load" (one load run with the fault schedule), "capacity" (stepped
    # offered load, harness/capacity.py; each step warms up for `warmup_s` and measures
    # `before_fault_s`), "connections" (OpenIM's pools opened against the server's limit)
    measure: str = "load"

    def __post_init__(self) -> None:
        missing = [p for p in PROFILES if p not in self.timings]
        if missing:
            raise ValueError(f"scenario {self.name}: no timings for profile(s) {missing}")
        for key in self.not_applicable:
            mode = key.rpartition("/")[2]
            if mode not in MODES:
                raise ValueError(f"scenario {self.name}: not_applicable key {key!r} names no mode")
        for engine, ops in self.mix.items():
            if engine not in ENGINES or not ops or any(w < 0 for w in ops.values()) or sum(ops.values()) <= 0:
                raise ValueError(f"scenario {self.name}: bad mix for {engine!r}")
        if self.measure not in MEASURES:
            raise ValueError(f"scenario {self.name}: measure {self.measure!r} not in {MEASURES}")
        if self.measure != "load" and self.fault is not None:
            raise ValueError(f"scenario {self.name}: a {self.measure} scenario has no fault")
        if self.fault is None and any(t.fault_s for t in self.timings.values()):
            raise ValueError(f"scenario {self.name}: fault_s set without a fault")
        for platform in self.not_on_platform:
            if platform not in PLATFORMS:
                raise ValueError(f"scenario {self.name}: not_on_platform {platform!r} names no platform")
        for platform, floor in self.min_fault_s.items():
            if platform not in PLATFORMS or not floor > 0:
                raise ValueError(f"scenario {self.name}: min_fault_s {platform!r}: {floor!r} (a platform and seconds > 0)")
            if self.fault is None or not any(t.fault_s for t in self.timings.values()):
                raise ValueError(f"scenario {self.name}: min_fault_s for a scenario whose fault is not held")

    def not_applicable_reason(self, engine: str, mode: str, platform: str | None = None) -> str | None:
        """Why this scenario says nothing about engine × mode (on `platform`), or None when it applies."""
        if engine not in self.engines:
            return f"{self.name} does not apply to {engine}"
        return (self.not_applicable.get(f"{engine}/{mode}") or self.not_applicable.get(mode)
                or self.not_on_platform.get(platform or ""))

    def timings_for(self, profile: str) -> Timings:
        return self.timings[profile]

    def on_platform(self, platform: str | None, t: Timings) -> tuple[Timings, str | None]:
        """`t` with this platform's floor applied, and a note saying so when it changed anything."""
        floor = self.min_fault_s.get(platform or "")
        if floor is None or t.fault_s >= floor:
            return t, None
        note = f"{platform}'s minimum for this scenario; its timings say {t.fault_s:g} s"
        return t.model_copy(update={"fault_s": floor}), note
