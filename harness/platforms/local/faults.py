"""The local fault primitives: signals to pod processes, zone bookkeeping for the supervisor.

kill = SIGKILL (the supervisor restarts it after the delay); pause/resume = SIGSTOP/SIGCONT;
zone down = SIGKILL every pod of the zone and keep them down until zone up; partition = SIGSTOP
every pod of the zone (alive but unreachable) until heal. What a fault means and when it ends is
the nemesis's business (harness/faults.py).
"""

from __future__ import annotations

from collections.abc import Iterable

from harness.contracts import PodInfo
from harness.errors import HarnessError
from harness.platforms.local.exporters import of_zone
from harness.platforms.local.pods import Pod
from harness.platforms.local.state import LocalHandle


def _pods(handle: LocalHandle, named: Iterable[PodInfo]) -> list[Pod]:
    out = []
    for info in named:
        if info.name not in handle.pods:
            raise HarnessError(f"{handle.id}: no pod {info.name!r}; pods: {', '.join(handle.pods)}")
        out.append(handle.pods[info.name])
    return out


def _names(pods: list[Pod]) -> str:
    return ",".join(p.name for p in pods) or "-"


def kill(handle: LocalHandle, pod: PodInfo) -> None:
    (p,) = _pods(handle, [pod])
    p.kill(handle.registry)
    handle.events.write(f"fault: pod-kill: SIGKILL {p.name}")


def pause(handle: LocalHandle, pods: Iterable[PodInfo], why: str = "pod-freeze") -> None:
    frozen = _pods(handle, pods)
    for p in frozen:
        p.freeze()
    handle.events.write(f"fault: {why}: SIGSTOP {_names(frozen)}")


def resume(handle: LocalHandle, pods: Iterable[PodInfo]) -> None:
    thawed = _pods(handle, pods)
    for p in thawed:
        p.thaw()
    handle.events.write(f"fault: SIGCONT {_names(thawed)}")
    for p in thawed:
        handle.hooks.after_thaw(handle, p)


def zone_down(handle: LocalHandle, zone: str, pods: Iterable[PodInfo]) -> None:
    down = _pods(handle, pods)
    handle.down_zones.add(zone)
    for p in down + of_zone(handle, zone):  # the node takes its exporter sidecars along
        p.kill(handle.registry)
    handle.events.write(f"fault: zone-outage {zone}: SIGKILL {_names(down)}")


def zone_up(handle: LocalHandle, zone: str, pods: Iterable[PodInfo]) -> None:
    handle.down_zones.discard(zone)
    handle.events.write(f"fault: zone {zone} back")
    if handle.supervisor is not None:
        back = _pods(handle, pods) + of_zone(handle, zone)
        handle.supervisor.restart_without_delay([p.name for p in back])
