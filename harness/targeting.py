"""Targeting: which pods a fault or an operation hits, one rule for every platform (pure)."""

from __future__ import annotations

from dataclasses import dataclass

from harness.contracts import ZONES, PodInfo
from harness.errors import CellNotApplicable, HarnessError


class FaultTargetError(HarnessError):
    """The deployment is not in a state the fault can be aimed at (no single primary): the cell fails."""


@dataclass(frozen=True)
class Target:
    pods: tuple[PodInfo, ...]  # the pods the fault hits
    zone: str | None  # zone faults: the zone; pod faults: the pod's zone

    @property
    def instances(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.pods)


def data_pods(pods: list[PodInfo]) -> list[PodInfo]:
    return [p for p in pods if p.role not in ("sentinel", "arbiter")]


def sole_primary(pods: list[PodInfo]) -> PodInfo | None:
    """The one data pod reporting primary; None when none or several do."""
    primaries = [p for p in data_pods(pods) if p.role == "primary"]
    return primaries[0] if len(primaries) == 1 else None


def the_primary(pods: list[PodInfo]) -> PodInfo:
    primaries = [p for p in data_pods(pods) if p.role == "primary"]
    if len(primaries) != 1:
        raise FaultTargetError(f"no single primary to aim the fault at: {len(primaries)} pods report primary "
                               f"({', '.join(p.name for p in primaries) or 'none'})")
    return primaries[0]


def pick_pod(pods: list[PodInfo], target: str, mode: str) -> PodInfo:
    """The pod a pod fault hits: the one primary, a secondary (a live one first), or a pod by name."""
    if target == "primary":
        return the_primary(pods)
    if target == "secondary":
        if mode == "statefulset":
            raise CellNotApplicable("a statefulset deployment has no secondary")
        primary = next((p.name for p in data_pods(pods) if p.role == "primary"), None)
        others = [p for p in data_pods(pods) if p.name != primary]
        if not others:
            raise CellNotApplicable(f"no secondary in this {mode} deployment")
        return next((p for p in others if p.role == "secondary" and p.alive), next((p for p in others if p.alive), others[0]))
    for p in pods:
        if p.name == target:
            return p
    raise HarnessError(f"fault target {target!r}: no such pod (have {', '.join(p.name for p in pods)})")


def pick_zone(pods: list[PodInfo], target: str) -> str:
    if target == "primary":
        return the_primary(pods).zone
    if target not in ZONES:
        raise HarnessError(f"zone fault target {target!r}: expected 'primary' or one of {', '.join(ZONES)}")
    return target
