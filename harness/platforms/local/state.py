"""The private state of one local deployment (`Deployment.handle`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from harness.contracts import BackupArtifact, DeploySpec, Endpoint, RenderedConfig, RoleChange
from harness.platforms.local.pods import Pod
from harness.procs import ProcessRegistry

if TYPE_CHECKING:
    from harness.platforms.local.cgroups import DeploymentGroups
    from harness.platforms.local.footprint import FootprintWindow
    from harness.platforms.local.rolecontroller import RoleController
    from harness.platforms.local.supervisor import Supervisor


@dataclass
class EventLog:
    """Per-deployment events (pod died / restarted, promotions, fences) under the run directory."""

    path: Path
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def write(self, message: str) -> None:
        now = time.time()
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(now)) + f".{int(now * 1000) % 1000:03d}"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a") as f:
                f.write(f"{stamp} {now:.3f} {message}\n")


class LocalHooks(Protocol):
    """What the supervisor, the fault primitives and `pods()` ask the engine about its servers
    (an engine object from harness.engines satisfies it)."""

    def role_of(self, handle: LocalHandle, pod: Pod) -> str | None: ...

    def after_thaw(self, handle: LocalHandle, pod: Pod) -> None: ...


@dataclass
class LocalHandle:
    """Pods, secrets and helper threads of one deployment."""

    id: str
    engine: str
    mode: str
    spec: DeploySpec
    registry: ProcessRegistry
    log_dir: Path
    work_dir: Path
    events: EventLog
    hooks: LocalHooks = field(repr=False)  # the engine's, given at construction
    pods: dict[str, Pod] = field(default_factory=dict)
    down_zones: set[str] = field(default_factory=set)
    endpoint: Endpoint | None = None
    secrets: dict[str, str] = field(default_factory=dict, repr=False)
    supervisor: Supervisor | None = None
    controller: RoleController | None = None  # mysql kubeblocks: the role controller
    socket_dir: Path | None = None  # mysql: where unix sockets live (short path, see mariadb.socket_dir)
    role_changes: list[RoleChange] = field(default_factory=list)
    seed_dir: Path | None = None  # mysql: the data directory a new pod copies (the template, or a restored backup)
    restore_from: BackupArtifact | None = None  # a deployment restored from a backup starts from it
    cgroups: DeploymentGroups | None = None  # the pods' CPU / memory limits; None: nominal (`limits_note` says why)
    limits_note: str = ""
    footprint: FootprintWindow | None = None  # the open footprint window, between begin and end
    # what the servers run: the render for the pod limits with this platform's adjustments in its notes
    config: RenderedConfig | None = None
    sidecars: dict[str, Pod] = field(default_factory=dict)  # data pod -> its exporter (harness/platforms/local/exporters.py)
    exporters: dict[str, str] = field(default_factory=dict)  # data pod -> exporter version, or "missing: why"
    torn_down: bool = False
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    def data_pods(self) -> list[Pod]:
        return [p for p in list(self.pods.values()) if p.kind == "data"]

    def pod_by_port(self, port: int) -> Pod | None:
        return next((p for p in self.pods.values() if p.port == port), None)


def new_pod(handle: LocalHandle, name: str, zone: str, build_argv: Callable[[Pod], list[str]],
            kind: str = "data") -> Pod:
    """A pod with a fresh free port, its volume under work_dir, its log under the run directory, and its
    cgroup when the deployment's limits are enforced."""
    from harness.platforms.local.pods import free_port

    pod = Pod(name=name, zone=zone, port=free_port(), data_dir=handle.work_dir / name,
              log_path=handle.log_dir / f"{name}.log", build_argv=build_argv, kind=kind)
    if handle.cgroups is not None:
        pod.cgroup = handle.cgroups.add(name)
    handle.pods[name] = pod
    return pod


def write_secret_file(path: Path, text: str) -> Path:
    """A 0600 file: passwords go to servers through files, never argv (ps shows argv)."""
    import os

    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return path
