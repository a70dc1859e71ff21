"""Day-2 operations as nemesis actions: what each one means, over the platform's `Operations`.

Like a fault, an operation is aimed at the deployment as the platform shows it (which primary,
which candidate, which order) and recorded in the nemesis history; unlike a fault it is not held
for a planned time: `start` returns when the operation is done, and its window is [start, end].
The order of a rolling restart is decided here, once: KubeBlocks' InstanceSet order (role
`updatePriority` ascending, then ordinal descending: secondaries highest ordinal first, the primary
last; reference/kubeblocks-day2.md section 2) or a StatefulSet's (ordinal descending, no roles).
Whether the end state is healthy is judged here too (`EndState`), from the engines' own
status, never from the operator's word: a Switchover without a candidate "succeeds" as soon as
its script exits.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from harness.contracts import (
    Deployment,
    DeploySpec,
    Fault,
    Operations,
    OpOutcome,
    Platform,
    PodInfo,
    ReplicaState,
)
from harness.errors import CellNotApplicable
from harness.targeting import Target, data_pods, pick_pod, the_primary


def ordinal(pod: PodInfo) -> int:
    tail = pod.name.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else -1


def instanceset_order(pods: list[PodInfo]) -> tuple[PodInfo, ...]:
    """Pure: KubeBlocks' update order. Unknown role first, then secondaries, the primary last; within
    a role the highest ordinal first (InstanceSet `baseSort`)."""
    priority = {"primary": 2, "secondary": 1}
    return tuple(sorted(data_pods(pods), key=lambda p: (priority.get(p.role or "", 0), -ordinal(p))))


def statefulset_order(pods: list[PodInfo]) -> tuple[PodInfo, ...]:
    """Pure: a StatefulSet's RollingUpdate order: the highest ordinal first, roles unknown to it."""
    return tuple(sorted(data_pods(pods), key=lambda p: -ordinal(p)))


def operations_of(platform: Platform) -> Operations:
    if not isinstance(platform, Operations):
        raise CellNotApplicable(f"the {platform.name} platform has no day-2 operations")
    return platform


class _Operation:
    one_shot = False
    operation = True

    def aim(self, pods: list[PodInfo], fault: Fault, mode: str) -> Target:
        raise NotImplementedError

    def start(self, platform: Platform, dep: Deployment, target: Target) -> OpOutcome:
        raise NotImplementedError

    def stop(self, platform: Platform, dep: Deployment, target: Target) -> None:
        pass  # an operation is over when `start` returns


class Switchover(_Operation):
    """The primary moves to a live secondary (the candidate is named, so success is checkable)."""

    def aim(self, pods: list[PodInfo], fault: Fault, mode: str) -> Target:
        primary = the_primary(pods)
        candidate = pick_pod(pods, "secondary", mode)
        return Target((primary, candidate), primary.zone)

    def start(self, platform: Platform, dep: Deployment, target: Target) -> OpOutcome:
        primary, candidate = target.pods
        return operations_of(platform).switchover(dep, primary, candidate)


class RollingRestart(_Operation):
    def aim(self, pods: list[PodInfo], fault: Fault, mode: str) -> Target:
        order = instanceset_order(pods) if mode == "kubeblocks" else statefulset_order(pods)
        if mode == "kubeblocks":
            the_primary(pods)  # the order means nothing without exactly one primary
        return Target(order, None)

    def start(self, platform: Platform, dep: Deployment, target: Target) -> OpOutcome:
        return operations_of(platform).rolling_restart(dep, target.pods)


class ScaleOut(_Operation):
    def aim(self, pods: list[PodInfo], fault: Fault, mode: str) -> Target:
        primary = the_primary(pods)
        return Target(tuple(data_pods(pods)), primary.zone)

    def start(self, platform: Platform, dep: Deployment, target: Target) -> OpOutcome:
        return operations_of(platform).scale_out(dep, len(target.pods) + 1)


class Upgrade(_Operation):
    def aim(self, pods: list[PodInfo], fault: Fault, mode: str) -> Target:
        order = instanceset_order(pods) if mode == "kubeblocks" else statefulset_order(pods)
        return Target(order, None)

    def start(self, platform: Platform, dep: Deployment, target: Target) -> OpOutcome:
        return operations_of(platform).upgrade(dep, None)


class BackupRestore(_Operation):
    """The backup half, under load: KubeBlocks' backup policies target a secondary (falling back to
    the primary); a StatefulSet has only its one pod. The restore follows after the load."""

    def aim(self, pods: list[PodInfo], fault: Fault, mode: str) -> Target:
        if mode == "statefulset":
            pod = the_primary(pods)
        else:
            try:
                pod = pick_pod(pods, "secondary", mode)
            except CellNotApplicable:
                pod = the_primary(pods)
        return Target((pod,), pod.zone)

    def start(self, platform: Platform, dep: Deployment, target: Target) -> OpOutcome:
        return operations_of(platform).backup(dep, target.pods[0])


def deploy_spec_for(fault: Fault | None, engine: str, spec: DeploySpec) -> DeploySpec:
    """The deployment an operation needs. The upgrade starts below the version it goes to (on kind/k8s the
    serviceVersion of `UPGRADES`; the newest one offered, the default, leaves nothing to upgrade to)."""
    if fault is None or fault.kind != "upgrade":
        return spec
    from harness.manifests.day2 import UPGRADES

    return spec.replace(service_version=UPGRADES[engine].kubeblocks_from)


def needs_data_protection(fault_kinds: Iterable[str | None]) -> bool:
    """A run that takes backups needs KubeBlocks' data-protection controller (kind/k8s enable it then)."""
    return "backup-restore" in set(fault_kinds)


# every value satisfies harness.faults.FaultAction (one_shot, operation, aim, start, stop)
OPERATIONS: dict[str, _Operation] = {
    "switchover": Switchover(), "rolling-restart": RollingRestart(), "scale-out": ScaleOut(),
    "upgrade": Upgrade(), "backup-restore": BackupRestore(),
}


# -- the end state ------------------------------------------------------------------------------
@dataclass(frozen=True)
class EndState:
    """After the operation: exactly one primary and every replica replicating and caught up."""

    pods: tuple[ReplicaState, ...]
    settled_s: float | None  # seconds from the first check after the load until healthy; None: never within the wait

    @property
    def primaries(self) -> int:
        return sum(1 for p in self.pods if p.role == "primary")

    @property
    def healthy(self) -> bool:
        return self.primaries == 1 and all(p.healthy for p in self.pods)

    @property
    def reasons(self) -> tuple[str, ...]:
        out = []
        if self.primaries != 1:
            out.append(f"{self.primaries} primaries after the operation "
                       f"({', '.join(p.pod for p in self.pods if p.role == 'primary') or 'none'})")
        out += [f"{p.pod} ({p.role or 'no role'}): {p.detail or 'not healthy'}" for p in self.pods if not p.healthy]
        return tuple(out)

    def to_results(self) -> dict[str, Any]:
        return {"healthy": self.healthy, "primaries": self.primaries, "settled_s": self.settled_s,
                "reasons": list(self.reasons),
                "pods": [{"pod": p.pod, "role": p.role, "healthy": p.healthy, "detail": p.detail} for p in self.pods]}

