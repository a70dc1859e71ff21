"""The injections: signals to pod processes, zone bookkeeping for the supervisor.

pod-kill = SIGKILL (the supervisor restarts it after the delay); pod-freeze = SIGSTOP then SIGCONT;
zone-outage = SIGKILL every pod of the zone and keep them down until recover();
zone-partition = SIGSTOP every pod of the zone for the duration (alive but unreachable).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from harness.contracts import FAULT_KINDS, ZONES, Fault
from harness.errors import CellNotApplicable, HarnessError
from harness.platforms.local.pods import Pod
from harness.platforms.local.state import LocalHandle


@dataclass
class LocalInjection:
    """A fault in force; `recover()` is idempotent and also runs from the duration timer."""

    fault: Fault
    instances: tuple[str, ...]
    zone: str | None
    injected_at_wall: float
    injected_at_mono_us: int
    _undo: Callable[[], None] = field(repr=False, default=lambda: None)
    _done: bool = False
    _timer: threading.Timer | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def recover(self) -> None:
        with self._lock:
            if self._done:
                return
            self._done = True
            if self._timer is not None and threading.current_thread() is not self._timer:
                self._timer.cancel()
        self._undo()

    @property
    def recovered(self) -> bool:
        return self._done

    def recover_after(self, seconds: float) -> None:
        if seconds > 0:
            self._timer = threading.Timer(seconds, self.recover)
            self._timer.daemon = True
            self._timer.start()


def resolve_pod(handle: LocalHandle, target: str) -> Pod:
    if target == "primary":
        name = handle.primary_of(handle) if handle.primary_of else None
        if not name:
            raise CellNotApplicable(f"{handle.id}: no primary right now to target")
        return handle.pods[name]
    if target == "secondary":
        primary = handle.primary_of(handle) if handle.primary_of else None
        others = [p for p in handle.data_pods() if p.name != primary]
        if not others:
            raise CellNotApplicable(f"{handle.id}: no secondary in a {handle.mode} {handle.engine}")
        return next((p for p in others if p.alive()), others[0])
    if target not in handle.pods:
        raise HarnessError(f"fault target {target!r}: no such pod; pods: {', '.join(handle.pods)}")
    return handle.pods[target]


def resolve_zone(handle: LocalHandle, target: str) -> str:
    if target == "primary":
        return resolve_pod(handle, "primary").zone
    if target not in ZONES:
        raise HarnessError(f"zone fault target {target!r}: expected 'primary' or one of {', '.join(ZONES)}")
    return target


def _thaw(handle: LocalHandle, pods: list[Pod]) -> None:
    for p in pods:
        p.thaw()
    handle.events.write(f"fault: SIGCONT {', '.join(p.name for p in pods)}")
    if handle.after_thaw:
        for p in pods:
            handle.after_thaw(handle, p)


def inject(handle: LocalHandle, fault: Fault) -> LocalInjection:
    if fault.kind not in FAULT_KINDS:
        raise HarnessError(f"unknown fault {fault.kind!r}; accepted: {', '.join(FAULT_KINDS)}")
    if fault.duration_s < 0:
        raise HarnessError(f"fault duration must be >= 0, got {fault.duration_s}")
    if fault.kind in ("pod-kill", "pod-freeze"):
        pods = [resolve_pod(handle, fault.target)]
        zone = None
    else:
        zone = resolve_zone(handle, fault.target)
        pods = [p for p in handle.pods.values() if p.zone == zone]
    names = tuple(p.name for p in pods)
    wall, mono_us = time.time(), time.monotonic_ns() // 1000
    inj = LocalInjection(fault=fault, instances=names, zone=zone, injected_at_wall=wall, injected_at_mono_us=mono_us)
    if fault.kind == "pod-kill":
        pods[0].kill(handle.registry)
    elif fault.kind == "pod-freeze":
        pods[0].freeze()
        inj._undo = lambda: _thaw(handle, pods)
        inj.recover_after(fault.duration_s)
    elif fault.kind == "zone-outage":
        handle.down_zones.add(zone)  # type: ignore[arg-type]
        for p in pods:
            p.kill(handle.registry)
        inj._undo = lambda: _zone_up(handle, zone, pods)  # type: ignore[arg-type]
        inj.recover_after(fault.duration_s)
    else:  # zone-partition
        for p in pods:
            p.freeze()
        inj._undo = lambda: _thaw(handle, pods)
        inj.recover_after(fault.duration_s)
    handle.events.write(f"fault: {fault.kind} target={fault.target} hit={','.join(names)} zone={zone}")
    handle.injections.append(inj)
    return inj


def _zone_up(handle: LocalHandle, zone: str, pods: list[Pod]) -> None:
    handle.down_zones.discard(zone)
    handle.events.write(f"fault: zone {zone} back")
    if handle.supervisor is not None:
        handle.supervisor.restart_without_delay([p.name for p in pods])
