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
    LimitsEvidence,
    ObservationSource,
    OpOutcome,
    PodFootprint,
    PodInfo,
    RenderedConfig,
    ReplicaDivergence,
    ReplicaState,
    RoleChange,
    Topology,
)
from harness.errors import CellNotApplicable, CellSkipped, DeployError, HarnessError
from harness.observe.metrics import SCRAPE_INTERVAL_S
from harness.observe.metrics import of as metrics_of
from harness.platforms.local import cgroups, day2, divergence, exporters, faults
from harness.platforms.local.day2 import LocalDay2
from harness.platforms.local.footprint import FootprintWindow
from harness.platforms.local.preflight import preflight
from harness.platforms.local.prometheus import LocalPrometheus
from harness.platforms.local.state import EventLog, LocalHandle
from harness.platforms.local.supervisor import Supervisor
from harness.platforms.replica_compare import CATCH_UP_S
from harness.procs import ProcessRegistry

if TYPE_CHECKING:
    from harness.context import RunContext

__all__ = ["LocalPlatform", "create", "preflight"]
TEARDOWN_GRACE_S = 2.0  # SIGTERM, then SIGKILL: a torn-down deployment keeps no data
OPERATION_TIMEOUT_S = 180.0  # a day-2 operation not done by then failed (KubeBlocks: 5 min per switchover)
OBSERVATION_NOTES = (
    "local: upstream exporters (prometheus-mysqld-exporter, prometheus-redis-exporter) beside the pods of both modes; "
    "KubeBlocks ships forks (apecloud/mysqld-exporter 0.15.1) and, for Redis, agamotto, which collects every 15 s: "
    "there its series change at most every 15 s whatever the scrape interval",
    "local: a pod kill kills only the server, its exporter stays and reports it down; on Kubernetes the deleted pod "
    "takes its exporter along, and the target's `up` says it",
)
NO_EXPORTER = ("no exporter for this engine on the local platform (Debian's prometheus-mongodb-exporter is a 2018 "
               "snapshot and there is no mongod here to try it on)")


class LocalPlatform:
    """Deployments as local server processes, supervised like a StatefulSet."""

    name = "local"

    def __init__(self, registry: ProcessRegistry, run_dir: Path, work_dir: Path, *, enforce_limits: bool = True,
                 observe: bool = True):
        """`enforce_limits=False`: pods run unlimited (nominal limits), whatever the machine offers.
        `observe=False`: no exporters and no Prometheus (tests of other parts; every cell then says so)."""
        self.registry = registry
        self.run_dir = Path(run_dir)
        self.work_dir = Path(work_dir)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        registry.add_path(self.work_dir)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._mariadb_templates: dict[str, Path] = {}  # redo-log size -> initialised data directory
        self._enforce_limits = enforce_limits
        self._cgroups: cgroups.Support | None = None
        self._observe_on = observe
        self._prometheus = LocalPrometheus(registry, self.work_dir, self.run_dir / "logs" / "prometheus.log")

    def limits_support(self) -> cgroups.Support:
        """How pods get their limits here, probed once (at the first deploy, not in preflight)."""
        with self._lock:
            if self._cgroups is None:
                self._cgroups = (cgroups.detect() if self._enforce_limits else
                                 cgroups.nominal("disabled by the caller (LocalPlatform(enforce_limits=False))"))
            return self._cgroups

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
            support = self.limits_support()
            if support.enforced:
                handle.cgroups = cgroups.DeploymentGroups(support, self.registry, dep_id, spec.cpu, spec.memory)
            handle.limits_note = support.detail
            handle.events.write(f"limits cpu={spec.cpu} memory={spec.memory}: "
                                + ("enforced, " if support.enforced else "nominal, ") + support.detail)
            eng.deploy(handle, deadline, self._template)
            data = handle.data_pods()
            dep.topology = Topology(replicas=len(data), zones=tuple(sorted({p.zone for p in handle.pods.values()})))
            dep.version = eng.version()
            self._observe(handle)
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

    def _observe(self, handle: LocalHandle) -> None:
        """Exporter sidecars and the run's Prometheus; what cannot run is recorded, the deploy goes on."""
        if metrics_of(handle.engine) is None or not self._observe_on:
            return
        if self._prometheus.ensure() is None:
            return
        handle.exporters = exporters.start_sidecars(handle)
        if handle.sidecars:
            self._prometheus.set_targets(handle.id, exporters.targets(handle))
            if not self._prometheus.wait_scraped(handle.id, len(handle.sidecars)):  # the cell is seen from its start
                handle.events.write("prometheus: not every exporter scraped yet when the deploy ended")

    def observation(self, dep: Deployment) -> ObservationSource:
        """Where this deployment's series are (the Observed protocol); `missing` when they are not."""
        h = _handle(dep)
        missing = None
        if metrics_of(h.engine) is None:
            missing = NO_EXPORTER
        elif not self._observe_on:
            missing = "observation disabled by the caller (LocalPlatform(observe=False))"
        elif self._prometheus.url is None:
            missing = self._prometheus.missing or "prometheus is not running"
        elif not h.sidecars:
            missing = "no exporter started: " + "; ".join(sorted(set(h.exporters.values())) or ["none"])
        return ObservationSource(url=self._prometheus.url, selector={"deployment": h.id},
                                 scrape_interval_s=SCRAPE_INTERVAL_S, exporters=dict(h.exporters),
                                 notes=OBSERVATION_NOTES, missing=missing)

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
        h = _handle(dep)
        faults.pause(h, pods, why=f"zone-partition {zone}")
        for s in exporters.of_zone(h, zone):  # its node is cut off from Prometheus too
            s.freeze()

    def heal(self, dep: Deployment, zone: str, pods: tuple[PodInfo, ...]) -> None:
        h = _handle(dep)
        for s in exporters.of_zone(h, zone):
            s.thaw()
        faults.resume(h, pods)

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

    def divergence(self, dep: Deployment, catch_up_s: float = CATCH_UP_S) -> list[ReplicaDivergence]:
        """Every replica compared with the primary once caught up (`DivergenceCheck`); [] for one pod.
        CellNotApplicable for an engine without a local check (mongodb)."""
        h = _handle(dep)
        if len(h.data_pods()) < 2:
            return []
        return divergence.divergence(h, engines.get(h.engine).local_divergence(), catch_up_s)

    def role_changes(self, dep: Deployment) -> list[RoleChange]:
        h = _handle(dep)
        return engines.get(h.engine).role_changes(h)

    # -- limits and footprint (the Footprints protocol) ---------------------------------------
    def limits_evidence(self, dep: Deployment) -> LimitsEvidence:
        """Enforced when every pod's group holds the spec's limits and its running server; else nominal, why."""
        h = _handle(dep)
        if h.cgroups is None:
            return LimitsEvidence(False, f"nominal: pods run unlimited ({h.limits_note})", h.spec.cpu, h.spec.memory)
        return h.cgroups.evidence({p.name: p.pid if p.alive() else None for p in list(h.pods.values())})

    def footprint_begin(self, dep: Deployment) -> None:
        """Opens the window (a second begin starts it again)."""
        h = _handle(dep)
        if h.footprint is not None:
            h.footprint.stop()
        h.footprint = FootprintWindow(lambda: list(h.pods.values()))
        h.footprint.begin()

    def footprint_end(self, dep: Deployment) -> list[PodFootprint]:
        """Closes the window: one footprint per pod, data pods and sentinels."""
        h = _handle(dep)
        window, h.footprint = h.footprint, None
        if window is None:
            raise HarnessError(f"{dep.id}: footprint_end without footprint_begin")
        return window.end()

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
        """The run's Prometheus (each deployment is torn down on its own)."""
        self._prometheus.stop()

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
        self._prometheus.drop_targets(h.id)
        every = list(h.pods.values()) + list(h.sidecars.values())
        threads = [threading.Thread(target=p.stop, args=(self.registry, TEARDOWN_GRACE_S)) for p in every]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if h.footprint is not None:
            h.footprint.stop()
        if h.cgroups is not None:
            left = h.cgroups.remove()
            if left:
                h.events.write(f"teardown: cgroups still busy, left for `harness cleanup`: {', '.join(map(str, left))}")
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
