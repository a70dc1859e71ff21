"""The local platform: real mariadbd / redis-server / redis-sentinel / mongod processes as "pods".

`kubeblocks` here emulates KubeBlocks' topology and failover settings; it is not KubeBlocks.
"""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from harness import engines
from harness.contracts import (
    ENGINES,
    MODES,
    BackupArtifact,
    Check,
    Deployment,
    DeploySpec,
    Endpoint,
    OpOutcome,
    PodInfo,
    RenderedConfig,
    ReplicaState,
    RoleChange,
    Topology,
)
from harness.errors import CellNotApplicable, CellSkipped, DeployError, HarnessError
from harness.platforms.local import day2, faults
from harness.platforms.local.day2 import LocalDay2
from harness.platforms.local.preflight import preflight
from harness.platforms.local.state import EventLog, LocalHandle
from harness.platforms.local.supervisor import Supervisor
from harness.procs import ProcessRegistry

if TYPE_CHECKING:
    from harness.context import RunContext

__all__ = ["LocalPlatform", "create", "preflight"]
TEARDOWN_GRACE_S = 2.0  # SIGTERM, then SIGKILL: a torn-down deployment keeps no data
OPERATION_TIMEOUT_S = 180.0  # a day-2 operation not done by then failed (KubeBlocks: 5 min per switchover)


class LocalPlatform:
    """Deployments as local server processes, supervised like a StatefulSet."""

    name = "local"

    def __init__(self, registry: ProcessRegistry, run_dir: Path, work_dir: Path):
        self.registry = registry
        self.run_dir = Path(run_dir)
        self.work_dir = Path(work_dir)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        registry.add_path(self.work_dir)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._mariadb_templates: dict[str, Path] = {}  # redo-log size -> initialised data directory

    def preflight(self) -> list[Check]:
        return preflight()

    # -- deploy ----------------------------------------------------------------------------
    def deploy(self, engine: str, mode: str, spec: DeploySpec) -> Deployment:
        return self._deploy(engine, mode, spec)

    def _deploy(self, engine: str, mode: str, spec: DeploySpec, restore_from: BackupArtifact | None = None) -> Deployment:
        if engine not in ENGINES or mode not in MODES:
            raise HarnessError(f"unknown engine/mode {engine}/{mode}; engines: {', '.join(ENGINES)}; modes: {', '.join(MODES)}")
        eng = engines.get(engine)
        eng.check_available()  # raises CellSkipped when the server is not installed (mongod)
        dep_id = f"{engine}-{mode}-{next(self._ids)}" + ("-restored" if restore_from else "")
        log_dir = self.run_dir / "logs" / dep_id
        handle = LocalHandle(id=dep_id, engine=engine, mode=mode, spec=spec, registry=self.registry,
                             log_dir=log_dir, work_dir=self.work_dir / dep_id,
                             events=EventLog(log_dir / "events.log"), hooks=eng, restore_from=restore_from)
        deadline = time.monotonic() + spec.ready_timeout_s
        dep = Deployment(id=dep_id, engine=engine, mode=mode, platform=self.name,
                         topology=Topology(replicas=0, zones=()), handle=handle)
        handle.events.write(f"deploy {engine}/{mode} start" + (f" from backup {restore_from.location}" if restore_from else ""))
        try:
            eng.deploy(handle, deadline, self._template)
            data = handle.data_pods()
            dep.topology = Topology(replicas=len(data), zones=tuple(sorted({p.zone for p in handle.pods.values()})))
            dep.version = eng.version()
            handle.supervisor = Supervisor(handle)
            handle.supervisor.start()
        except BaseException as e:
            handle.events.write(f"deploy failed: {type(e).__name__}")
            self.teardown(dep)
            if isinstance(e, DeployError | CellSkipped) or not isinstance(e, Exception):
                raise  # a signal (Interrupted, KeyboardInterrupt) must stop the run, not fail the cell
            raise DeployError(f"{engine}/{mode}: {e}") from e
        handle.events.write(f"deploy {engine}/{mode} ready")
        return dep

    def _template(self, log_file_size: str) -> Path:
        """mariadb-install-db once per platform instance and redo-log size (the rendered one, so no
        pod resizes its redo log at first start); each pod copies it (fast deploys)."""
        from harness.platforms.local import mariadb

        with self._lock:
            if log_file_size not in self._mariadb_templates:
                self._mariadb_templates[log_file_size] = mariadb.install_template(
                    self.work_dir / f"mariadb-template-{log_file_size}",
                    self.run_dir / "logs" / f"mariadb-install-db-{log_file_size}.log", log_file_size)
            return self._mariadb_templates[log_file_size]

    # -- queries ---------------------------------------------------------------------------
    def endpoint(self, dep: Deployment) -> Endpoint:
        ep = _handle(dep).endpoint
        if ep is None:
            raise HarnessError(f"{dep.id} has no endpoint (not deployed)")
        return ep

    def pods(self, dep: Deployment) -> list[PodInfo]:
        h = _handle(dep)
        out = []
        for p in list(h.pods.values()):
            role = h.hooks.role_of(h, p)
            out.append(PodInfo(name=p.name, zone=p.zone, role=role, host=p.host, port=p.port,  # type: ignore[arg-type]
                               alive=p.alive() and not p.frozen))
        return out

    # -- fault primitives (the nemesis aims and schedules them) --------------------------------
    def kill(self, dep: Deployment, pod: PodInfo) -> None:
        faults.kill(_handle(dep), pod)

    def pause(self, dep: Deployment, pod: PodInfo) -> None:
        faults.pause(_handle(dep), [pod])

    def resume(self, dep: Deployment, pod: PodInfo) -> None:
        faults.resume(_handle(dep), [pod])

    def zone_down(self, dep: Deployment, zone: str, pods: tuple[PodInfo, ...]) -> None:
        faults.zone_down(_handle(dep), zone, pods)

    def zone_up(self, dep: Deployment, zone: str, pods: tuple[PodInfo, ...]) -> None:
        faults.zone_up(_handle(dep), zone, pods)

    def partition(self, dep: Deployment, zone: str, pods: tuple[PodInfo, ...]) -> None:
        """No network between processes to cut here: a partitioned pod is a stopped one (alive, silent)."""
        faults.pause(_handle(dep), pods, why=f"zone-partition {zone}")

    def heal(self, dep: Deployment, zone: str, pods: tuple[PodInfo, ...]) -> None:
        faults.resume(_handle(dep), pods)

    # -- day-2 operations (harness/operations.py decides targets and order) ------------------
    def _day2(self, dep: Deployment) -> tuple[LocalHandle, LocalDay2, float]:
        h = _handle(dep)
        return h, engines.get(h.engine).local_day2(), time.monotonic() + OPERATION_TIMEOUT_S

    def switchover(self, dep: Deployment, primary: PodInfo, candidate: PodInfo | None) -> OpOutcome:
        h, d2, deadline = self._day2(dep)
        return day2.switchover(h, d2, primary, candidate, deadline)

    def rolling_restart(self, dep: Deployment, order: tuple[PodInfo, ...]) -> OpOutcome:
        h, d2, deadline = self._day2(dep)
        return day2.rolling_restart(h, d2, order, deadline)

    def scale_out(self, dep: Deployment, replicas: int) -> OpOutcome:
        h, d2, deadline = self._day2(dep)
        out = day2.scale_out(h, d2, replicas, deadline)
        dep.topology = Topology(replicas=len(h.data_pods()), zones=tuple(sorted({p.zone for p in h.pods.values()})))
        return out

    def upgrade(self, dep: Deployment, version: str | None) -> OpOutcome:
        raise CellNotApplicable("this machine has one server version per engine: there is no version to upgrade to")

    def backup(self, dep: Deployment, source: PodInfo) -> OpOutcome:
        h, d2, _ = self._day2(dep)
        return day2.backup(h, d2, source, self.work_dir / "backups" / f"{dep.id}-{source.name}")

    def restore(self, dep: Deployment, backup: BackupArtifact) -> Deployment:
        """A new deployment of the same engine and mode whose volumes start from `backup`."""
        h = _handle(dep)
        return self._deploy(h.engine, h.mode, h.spec, restore_from=backup)

    def replication_state(self, dep: Deployment) -> list[ReplicaState]:
        h, d2, _ = self._day2(dep)
        return d2.replication_state(h)

    def role_changes(self, dep: Deployment) -> list[RoleChange]:
        h = _handle(dep)
        return engines.get(h.engine).role_changes(h)

    # -- server configuration ----------------------------------------------------------------
    def rendered_config(self, dep: Deployment) -> RenderedConfig | None:
        """What the deployment's servers were started with: the render for its mode and limits,
        with this platform's changes in `notes` (None: the engine's local server is not rendered)."""
        return _handle(dep).config

    def applied_config(self, dep: Deployment) -> dict[str, dict[str, str]]:
        """pod -> param -> the LIVE value each answering data pod reports for the rendered params
        (SHOW GLOBAL VARIABLES / CONFIG GET), in the rendered notation when it means the same: so
        `applied == rendered` is a plain comparison."""
        h = _handle(dep)
        return engines.get(h.engine).applied_config(h)

    def endpoint_evidence(self, dep: Deployment) -> None:
        """No Service here: clients connect to the processes (or follow the role controller's file)."""
        return None

    # -- teardown --------------------------------------------------------------------------
    def close(self) -> None:
        """Nothing platform-wide to release: each deployment is torn down on its own."""

    def teardown(self, dep: Deployment) -> None:
        """Supervisor and controller first (nothing restarts), then every pod; safe twice."""
        h = _handle(dep)
        with h.lock:
            if h.torn_down:
                return
            h.torn_down = True
        if h.supervisor is not None:
            h.supervisor.stop()
        if h.controller is not None:
            h.controller.stop()
        threads = [threading.Thread(target=p.stop, args=(self.registry, TEARDOWN_GRACE_S)) for p in list(h.pods.values())]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        h.events.write("teardown done")


def create(run: RunContext) -> LocalPlatform:
    """The platform registry's factory (harness/platforms/__init__.py)."""
    if run.registry is None:
        raise HarnessError("the local platform needs the run's process registry (it starts servers)")
    return LocalPlatform(run.registry, run.run_dir, run.work_dir)


def _handle(dep: Deployment) -> LocalHandle:
    if not isinstance(dep.handle, LocalHandle):
        raise HarnessError(f"deployment {dep.id} does not belong to the local platform")
    return dep.handle
