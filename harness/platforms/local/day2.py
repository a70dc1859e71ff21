"""Day-2 operations on local deployments: the emulation of what KubeBlocks' controllers do.

The order and the targets come from the nemesis (harness/operations.py); this module only acts,
the way the InstanceSet controller does: before restarting a pod it calls the engine's switchover
when that pod is the primary (and ignores a failed one, as KubeBlocks does), and it goes on to the
next pod only when the restarted one serves again (Ready, its role back) and has stayed so for the
component's `minReadySeconds`. A restart is a graceful stop (SIGTERM: the pod deleted) and an
immediate start by the supervisor (the pod recreated on its PVC); image pulls and scheduling, which
kind adds, are not emulated. The engines' own parts are `LocalDay2` modules
(mariadb_day2.py, redis_day2.py).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from harness.contracts import ZONES, BackupArtifact, OpOutcome, OpStep, PodInfo, ReplicaState
from harness.errors import CellNotApplicable, HarnessError
from harness.platforms.local.pods import Pod
from harness.platforms.local.state import LocalHandle

SOURCE = "local emulation"
STOP_GRACE_S = 30.0  # a pod deleted gets its terminationGracePeriodSeconds to shut down cleanly
POLL_S = 0.05


class LocalDay2(Protocol):
    """One engine's part of the day-2 operations on local pods."""

    def min_ready_s(self, handle: LocalHandle) -> float:
        """The component's minReadySeconds (KubeBlocks' redis CmpD: 10 s; mysql: 0)."""
        ...

    def switchover(self, handle: LocalHandle, primary: Pod, candidate: Pod, deadline: float) -> None:
        """Moves the primary role to `candidate`; returns when it is the primary clients reach."""
        ...

    def serving(self, handle: LocalHandle, pod: Pod) -> bool:
        """Back in its role: the primary writable, a replica replicating and caught up."""
        ...

    def add_replica(self, handle: LocalHandle, name: str, zone: str) -> Pod:
        """A new data pod that seeds itself by replication (started, not yet caught up)."""
        ...

    def backup(self, handle: LocalHandle, pod: Pod, dest: Path) -> BackupArtifact: ...

    def replication_state(self, handle: LocalHandle) -> list[ReplicaState]: ...


def wait_for(what: str, ok: Callable[[], bool], deadline: float) -> None:
    """Polls `ok` (its errors count as not yet) until it holds; past the deadline: the operation failed."""
    while True:
        try:
            if ok():
                return
        except Exception:  # noqa: BLE001 - not yet
            pass
        if time.monotonic() > deadline:
            raise HarnessError(f"operation timed out waiting for {what}")
        time.sleep(POLL_S)


def _pod(handle: LocalHandle, info: PodInfo) -> Pod:
    if info.name not in handle.pods:
        raise HarnessError(f"{handle.id}: no pod {info.name!r}")
    return handle.pods[info.name]


def primary_pod(handle: LocalHandle) -> Pod | None:
    found = [p for p in handle.data_pods() if handle.hooks.role_of(handle, p) == "primary"]
    return found[0] if len(found) == 1 else None


def switchover(handle: LocalHandle, day2: LocalDay2, primary: PodInfo, candidate: PodInfo | None,
               deadline: float) -> OpOutcome:
    if handle.mode != "kubeblocks":
        raise CellNotApplicable("a single-instance statefulset has no other pod to switch over to")
    old = _pod(handle, primary)
    new = _pod(handle, candidate) if candidate else next(p for p in handle.data_pods() if p.name != old.name)
    t0 = time.time()
    day2.switchover(handle, old, new, deadline)
    handle.events.write(f"day-2: switchover {old.name} -> {new.name}")
    step = OpStep(pod=old.name, action="switchover", started_wall=t0, done_wall=time.time(),
                  detail=f"{old.name} -> {new.name}")
    return OpOutcome(steps=(step,), source=SOURCE)


def restart_pod(handle: LocalHandle, day2: LocalDay2, pod: Pod, deadline: float) -> OpStep:
    """Deleted and recreated on its volume; done when it serves again and stayed so minReadySeconds."""
    t0 = time.time()
    handle.events.write(f"day-2: restart {pod.name}: SIGTERM")
    pod.stop(handle.registry, STOP_GRACE_S)
    if handle.supervisor is None:
        raise HarnessError(f"{handle.id}: no supervisor to start {pod.name} again")
    handle.supervisor.restart_without_delay([pod.name])
    wait_for(f"{pod.name} to serve again after its restart", lambda: _serves(handle, day2, pod), deadline)
    ready = time.time()
    _hold_ready(handle, day2, pod, day2.min_ready_s(handle), deadline)
    return OpStep(pod=pod.name, action="restart", started_wall=t0, done_wall=time.time(),
                  detail=f"serving {ready - t0:.2f} s after the stop")


def _serves(handle: LocalHandle, day2: LocalDay2, pod: Pod) -> bool:
    return pod.alive() and day2.serving(handle, pod)


def _hold_ready(handle: LocalHandle, day2: LocalDay2, pod: Pod, min_ready_s: float, deadline: float) -> None:
    """minReadySeconds: the pod must stay ready that long before it counts as available."""
    since = time.monotonic()
    while time.monotonic() - since < min_ready_s:
        if not _serves(handle, day2, pod):
            wait_for(f"{pod.name} to serve again", lambda: _serves(handle, day2, pod), deadline)
            since = time.monotonic()
        time.sleep(0.1)


def rolling_restart(handle: LocalHandle, day2: LocalDay2, order: tuple[PodInfo, ...], deadline: float) -> OpOutcome:
    """One pod at a time in `order`; a primary is switched over first (failure ignored, as KubeBlocks)."""
    steps: list[OpStep] = []
    for info in order:
        pod = _pod(handle, info)
        others = [p for p in handle.data_pods() if p.name != pod.name]
        if handle.mode == "kubeblocks" and others and handle.hooks.role_of(handle, pod) == "primary":
            t0 = time.time()
            candidate = next((p for p in others if day2.serving(handle, p)), others[0])
            try:
                day2.switchover(handle, pod, candidate, min(deadline, time.monotonic() + 30))
                steps.append(OpStep(pod.name, "switchover", t0, time.time(), detail=f"{pod.name} -> {candidate.name}"))
            except Exception as e:  # noqa: BLE001 - KubeBlocks: "failed to call switchover action, ignore it"
                handle.events.write(f"day-2: switchover before restarting {pod.name} failed ({e}); restarting anyway")
                steps.append(OpStep(pod.name, "switchover", t0, time.time(), ok=False, detail=str(e)[:200]))
        steps.append(restart_pod(handle, day2, pod, deadline))
    return OpOutcome(steps=tuple(steps), source=SOURCE)


def scale_out(handle: LocalHandle, day2: LocalDay2, replicas: int, deadline: float) -> OpOutcome:
    if handle.mode != "kubeblocks":
        raise CellNotApplicable("a statefulset's pods do not replicate: adding one starts an unrelated database")
    steps: list[OpStep] = []
    new: list[str] = []
    while len(handle.data_pods()) < replicas:
        i = len(handle.data_pods())
        prefix = handle.data_pods()[0].name.rsplit("-", 1)[0]
        t0 = time.time()
        pod = day2.add_replica(handle, f"{prefix}-{i}", ZONES[i % len(ZONES)])
        handle.events.write(f"day-2: scale-out: {pod.name} started")
        wait_for(f"{pod.name} to replicate and catch up", lambda: day2.serving(handle, pod), deadline)  # noqa: B023
        steps.append(OpStep(pod.name, "join", t0, time.time(), detail="seeded by replication, caught up"))
        new.append(pod.name)
    return OpOutcome(steps=tuple(steps), source=SOURCE, new_pods=tuple(new))


def backup(handle: LocalHandle, day2: LocalDay2, source: PodInfo, dest: Path) -> OpOutcome:
    pod = _pod(handle, source)
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    t0 = time.time()
    art = day2.backup(handle, pod, dest)
    handle.events.write(f"day-2: backup of {pod.name} by {art.method}: {art.size_bytes} bytes")
    step = OpStep(pod.name, "backup", t0, time.time(), detail=f"{art.method}, {art.size_bytes} bytes")
    return OpOutcome(steps=(step,), source=SOURCE, backup=art)


def dir_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
