"""What every engine object offers: the one place engine differences are looked up.

An engine object is a thin adapter. The engine's own code stays where it is (harness/workload/
<engine>.py for the client, seed and read-back; harness/platforms/local/<server>.py for the local
servers) and is imported by name on first use (`Defaults`), so the registry imports nothing until an
engine is used and no import circle runs through it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from harness.contracts import DeploySpec, Endpoint, RenderedConfig, RoleChange
    from harness.history import AckedWrite
    from harness.platforms.local.day2 import LocalDay2
    from harness.platforms.local.divergence import LocalDivergence
    from harness.platforms.local.pods import Pod
    from harness.platforms.local.state import LocalHandle
    from harness.workload.base import EngineClient
    from harness.workload.connpool import ConnectionMonitor, HeldConnections
    from harness.workload.model import SeedInfo


@runtime_checkable
class Engine(Protocol):
    """One database engine, as the workload, the local platform and the manifests need it."""

    name: str  # "mysql", "redis", "mongodb"
    binaries: tuple[str, ...]  # local server binaries whose preflight check gates the engine's cells
    software: str  # key under results' run.software ("mariadb" for mysql)
    # KubeBlocks component of the Sentinels that decide failover (redis), else None: their pods are
    # part of the deployment (its topology spans every zone) and their logs record the role changes.
    sentinel_component: str | None

    # -- workload (runs in the load worker too) --------------------------------------------
    @property
    def ops(self) -> Mapping[str, bool]:
        """op name -> writes?"""
        ...

    @property
    def client_commands(self) -> Mapping[str, Mapping[str, int]]:
        """op name -> server command counter -> how many one acknowledged op adds (the cross-check)."""
        ...

    def client(self, endpoint: Endpoint, op_timeout_s: float, watch: Any = None, pool: Any = None) -> EngineClient:
        """`watch`, `pool`: the worker's `primary_watch` and `client_pool`, shared by its users (None:
        the engine has none)."""
        ...

    def primary_watch(self, endpoint: Endpoint, op_timeout_s: float) -> Any:
        """What the engine's real client library runs once per process to follow primary changes
        (go-redis' +switch-master subscription), started by the load worker; None when none."""
        ...

    def client_pool(self, endpoint: Endpoint, op_timeout_s: float) -> Any:
        """The connection pool OpenIM's client library keeps once per process (database/sql's for
        mysql), made once per load worker and shared by its users; None: each client has its own
        connections. When not None it offers `stats() -> dict[str, int]`, `take_peak() -> int` and
        `close()` (the load log reports it)."""
        ...

    def seed(self, endpoint: Endpoint, info: SeedInfo) -> None: ...

    def read_back(self, endpoint: Endpoint, writes: Iterable[AckedWrite]) -> Iterator[tuple[AckedWrite, str | None]]:
        """(write, id found in its slot or None), for each acknowledged write, from the primary."""
        ...

    # -- connection limits (the connections cell) ------------------------------------------
    def connection_monitor(self, endpoint: Endpoint, timeout_s: float) -> ConnectionMonitor:
        """One held connection to the primary reading the server's limit and connection counters."""
        ...

    def connection_limit(self, endpoint: Endpoint, timeout_s: float = 5.0) -> tuple[str, int]:
        """The server's own limit name and value (max_connections, maxclients, current+available)."""
        ...

    def open_connections(self, endpoint: Endpoint, n: int, timeout_s: float) -> HeldConnections:
        """Opens `n` authenticated connections to the primary and holds those that opened, counting
        the server's limit refusals apart from other failures; `.close()` closes them all."""
        ...

    # -- local platform: the server processes ----------------------------------------------
    def check_available(self) -> None:
        """Raises CellSkipped when the server is not installed here."""
        ...

    def deploy(self, handle: LocalHandle, deadline: float, template: Callable[[str], Path]) -> None:
        """Starts the pods and sets `handle.endpoint`. `template(redo_log_size)`: the platform's
        initialised data directory for that redo-log size, built once per size (only mysql copies one)."""
        ...

    def version(self) -> str | None: ...

    def role_of(self, handle: LocalHandle, pod: Pod) -> str | None: ...

    def after_thaw(self, handle: LocalHandle, pod: Pod) -> None: ...

    def role_changes(self, handle: LocalHandle) -> list[RoleChange]:
        """Primary changes the servers or the role controller recorded, oldest first."""
        ...

    def local_day2(self) -> LocalDay2:
        """The engine's part of the local day-2 operations; CellNotApplicable when it has none."""
        ...

    def local_divergence(self) -> LocalDivergence:
        """The engine's replica-vs-primary comparison on local pods; CellNotApplicable when it has none."""
        ...

    def applied_config(self, handle: LocalHandle) -> dict[str, dict[str, str]]:
        """pod -> param -> the live value of each param in `handle.config`, read back from the server
        (in the rendered notation when it means the same); pods that do not answer are left out."""
        ...

    # -- server configuration (pure) ---------------------------------------------------------
    def render_config(self, mode: str, cpu: str, memory: str) -> RenderedConfig:
        """The server parameters `mode` runs with for these pod limits (harness/configs/<engine>.py)."""
        ...

    # -- kubernetes manifests: the pieces that differ --------------------------------------
    def kubeblocks_env(self, spec: DeploySpec) -> list[dict[str, Any]]:
        """Env of the KubeBlocks data component (empty: none set)."""
        ...

    def statefulset_container(self, spec: DeploySpec) -> dict[str, Any]:
        """The baseline container's engine-specific keys (env, command, args), in manifest order."""
        ...


class Defaults:
    """The delegation every engine shares: its client code and its local server live in the modules it
    names (imported on first use, so the registry imports nothing until an engine is used); adapters
    override only what differs."""

    workload_module: str  # e.g. "harness.workload.mysql": OPS, seed, the client class, the reader
    client_class: str  # the `EngineClient` there
    reader: str  # its read-back function: (endpoint, acked writes) -> (write, id found or None)
    server_module: str  # e.g. "harness.platforms.local.mariadb": deploy, version, role_of, applied_config
    config_module: str  # e.g. "harness.configs.mysql": render(mode, cpu, memory)
    day2_module: str | None = None  # e.g. "harness.platforms.local.mariadb_day2": a LocalDay2
    divergence_module: str | None = None  # e.g. "harness.platforms.local.mariadb_divergence": a LocalDivergence
    sentinel_component: str | None = None

    def _workload(self) -> Any:
        return importlib.import_module(self.workload_module)

    def _server(self) -> Any:
        return importlib.import_module(self.server_module)

    @property
    def ops(self) -> Mapping[str, bool]:
        ops: Mapping[str, bool] = self._workload().OPS
        return ops

    @property
    def client_commands(self) -> Mapping[str, Mapping[str, int]]:
        cc: Mapping[str, Mapping[str, int]] = getattr(self._workload(), "CLIENT_COMMANDS", {})
        return cc

    def client(self, endpoint: Endpoint, op_timeout_s: float, watch: Any = None, pool: Any = None) -> EngineClient:
        cls = getattr(self._workload(), self.client_class)
        shared = {k: v for k, v in (("watch", watch), ("pool", pool)) if v is not None}
        client: EngineClient = cls(endpoint, op_timeout_s, **shared)
        return client

    def primary_watch(self, endpoint: Endpoint, op_timeout_s: float) -> Any:
        return None

    def client_pool(self, endpoint: Endpoint, op_timeout_s: float) -> Any:
        return None

    def seed(self, endpoint: Endpoint, info: SeedInfo) -> None:
        self._workload().seed(endpoint, info)

    def read_back(self, endpoint: Endpoint, writes: Iterable[AckedWrite]) -> Iterator[tuple[AckedWrite, str | None]]:
        found: Iterator[tuple[AckedWrite, str | None]] = getattr(self._workload(), self.reader)(endpoint, writes)
        return found

    def connection_monitor(self, endpoint: Endpoint, timeout_s: float) -> ConnectionMonitor:
        monitor: ConnectionMonitor = self._workload().connection_monitor(endpoint, timeout_s)
        return monitor

    def connection_limit(self, endpoint: Endpoint, timeout_s: float = 5.0) -> tuple[str, int]:
        monitor = self.connection_monitor(endpoint, timeout_s)
        try:
            return monitor.limit()
        finally:
            monitor.close()

    def open_connections(self, endpoint: Endpoint, n: int, timeout_s: float) -> HeldConnections:
        from harness.workload.connpool import open_many

        workload = self._workload()
        return open_many(workload.connection_opener(endpoint, timeout_s), n,
                         sockets_per_connection=workload.CONNECTION_SOCKETS)

    def check_available(self) -> None:
        """Always installed (preflight reports a missing binary as a required check)."""

    def deploy(self, handle: LocalHandle, deadline: float, template: Callable[[str], Path]) -> None:
        self._server().deploy(handle, deadline)

    def version(self) -> str | None:
        version: str | None = self._server().version()
        return version

    def role_of(self, handle: LocalHandle, pod: Pod) -> str | None:
        role: str | None = self._server().role_of(handle, pod)
        return role

    def after_thaw(self, handle: LocalHandle, pod: Pod) -> None:
        """Nothing to do after SIGCONT."""

    def local_day2(self) -> LocalDay2:
        from harness.errors import CellNotApplicable

        if self.day2_module is None:
            raise CellNotApplicable(f"no local day-2 operations for {getattr(self, 'name', '?')} here")
        day2: LocalDay2 = importlib.import_module(self.day2_module)  # type: ignore[assignment]
        return day2

    def local_divergence(self) -> LocalDivergence:
        from harness.errors import CellNotApplicable

        if self.divergence_module is None:
            raise CellNotApplicable(f"no local replica divergence check for {getattr(self, 'name', '?')} here")
        check: LocalDivergence = importlib.import_module(self.divergence_module)  # type: ignore[assignment]
        return check

    def role_changes(self, handle: LocalHandle) -> list[RoleChange]:
        """The role changes the harness itself recorded (role controller, elections seen)."""
        return sorted(handle.role_changes, key=lambda r: r.at_wall)

    def applied_config(self, handle: LocalHandle) -> dict[str, dict[str, str]]:
        applied: dict[str, dict[str, str]] = self._server().applied_config(handle)
        return applied

    def render_config(self, mode: str, cpu: str, memory: str) -> RenderedConfig:
        rendered: RenderedConfig = importlib.import_module(self.config_module).render(mode, cpu, memory)
        return rendered

    def kubeblocks_env(self, spec: DeploySpec) -> list[dict[str, Any]]:
        return []
