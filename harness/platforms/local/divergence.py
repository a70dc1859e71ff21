"""Replica divergence on local deployments: the driver of harness/platforms/replica_compare.py over the
engine's `LocalDivergence` module (mariadb_divergence.py, redis_divergence.py), reached through the
engine adapter as the day-2 modules are."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from typing import Protocol

from harness.contracts import ReplicaDivergence
from harness.platforms.local.day2 import POLL_S, primary_pod, wait_for
from harness.platforms.local.pods import Pod
from harness.platforms.local.state import LocalHandle
from harness.platforms.replica_compare import Comparison, check_replicas, no_primary


class LocalDivergence(Protocol):
    """One engine's means of comparing a local replica with its primary."""

    def method(self, handle: LocalHandle) -> str:
        """What the comparison is, in the engine's words ("CHECKSUM TABLE", ...)."""
        ...

    def lag(self, handle: LocalHandle, primary: Pod, replica: Pod) -> str | None:
        """None once `replica` has applied everything `primary` wrote, else both positions. Never raises:
        an unreachable server is a reason too."""
        ...

    def compare(self, handle: LocalHandle, primary: Pod, replica: Pod, only: Collection[str] | None) -> Comparison:
        """One look at both; `only`: just these names (the re-check). Raises HarnessError when a server fails."""
        ...


def divergence(handle: LocalHandle, engine: LocalDivergence, catch_up_s: float) -> list[ReplicaDivergence]:
    data = handle.data_pods()
    if len(data) < 2:
        return []  # one pod: nothing to compare with
    method = engine.method(handle)
    # after a partition heals, two pods may call themselves primary until the failover manager demotes
    # one (Sentinel: seconds): that settles first, within the catch-up time
    deadline = time.monotonic() + catch_up_s
    while (primary := primary_pod(handle)) is None and time.monotonic() < deadline:
        time.sleep(POLL_S)
    if primary is None:
        return no_primary([p.name for p in data], method,
                          f"no single writable primary to compare with, {catch_up_s:g} s after the load")
    replicas = [p for p in data if p.name != primary.name]
    by_name = {p.name: p for p in replicas}
    return check_replicas(primary.name, [p.name for p in replicas], method,
                          lag=lambda r: engine.lag(handle, primary, by_name[r]),
                          compare=lambda r, only: engine.compare(handle, primary, by_name[r], only),
                          wait=poll, catch_up_s=catch_up_s)


def poll(what: str, ready: Callable[[], bool], timeout_s: float) -> None:
    """day2.wait_for with a timeout instead of a deadline (replica_compare's `Wait`)."""
    wait_for(what, ready, time.monotonic() + timeout_s)
