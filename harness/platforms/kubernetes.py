"""The `k8s` platform (any cluster from a kubeconfig) and the logic `kind` shares with it.

Every external command goes through one runner (`harness.platforms.commands`): the real one
executes, the dry-run one prints. Manifests come from `harness.manifests` (pure builders); the
non-secret ones are written to `<run_dir>/manifests/` before they are applied, so what ran can
be reviewed. Secret values are passed on stdin and never printed. The `kubernetes` Python client
is not needed: kubectl is the one client, which keeps dry-run and real runs the same path.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness import engines
from harness.contracts import (
    ZONES,
    Check,
    Deployment,
    DeploySpec,
    PodInfo,
    ReplicaDivergence,
    RoleChange,
    Topology,
)
from harness.errors import CellNotApplicable, DeployError
from harness.faults import NemesisEvent, Observer
from harness.manifests import dump_yaml, kubeblocks, statefulset
from harness.manifests.common import (
    COMPONENT_LABEL,
    HARNESS_LABEL,
    INSTANCE_LABEL,
    NODE_PORTS,
    ROLE_LABEL,
    ZONE_LABEL,
    cluster_name,
    data_component,
    deployment_id,
    namespace_for,
    password_secret,
)
from harness.platforms import DRY_RUN_DIR, k8s_divergence
from harness.platforms.commands import CommandResult, DryRunRunner, LogWriter, RealRunner, Runner
from harness.platforms.k8s_day2 import KubernetesDay2
from harness.platforms.k8s_evidence import (
    FaultWatch,
    ImagePull,
    controller_manager_flag,
    default_node_monitor_grace_s,
    describe_pulls,
    image_pulls,
    labelled_primaries,
    next_primary,
    parse_go_duration,
)
from harness.platforms.k8s_footprint import KubernetesFootprint
from harness.platforms.k8s_handle import (
    K8sHandle as K8sHandle,  # re-exported: the handle's home is k8s_handle
)
from harness.platforms.k8s_install import KubeBlocksInstall
from harness.platforms.k8s_observe import KubernetesObservation
from harness.platforms.k8s_parse import (
    expected_pods,
    node_zones,
    parse_pods,
    parse_switch_master,
    sentinel_pod_name,
    zone_ready,
)
from harness.platforms.k8s_preflight import ClusterSettings, preflight
from harness.platforms.tools import (
    PINS,
    ensure_tool,
    tool_check,
)

if TYPE_CHECKING:
    from harness.context import RunContext

USERS = {"mysql": "root", "redis": None, "mongodb": "root"}
# Named time budgets, each with its reason.
TEARDOWN_TIMEOUT_S = 300.0  # PVC finalizers of local-path volumes
# A first deploy pulls mysql 8.0.44 plus the syncer, xtrabackup and init images on each of three
# nodes, or redis-stack plus dbctl with `minReadySeconds: 10` per pod (addons/redis cmpd-redis.yaml):
# minutes, not the 120 s that suit local processes. Shorter settings are raised to this on kind/k8s.
K8S_MIN_READY_TIMEOUT_S = 600.0
# A node back from `docker start` / `network connect`: kubelet re-registers, then the node
# controller marks it Ready; the next cell must not start on a NotReady zone.
NODE_READY_TIMEOUT_S = 300.0
CLUSTER_NODES_READY_TIMEOUT_S = 300.0  # a fresh kind cluster's workers (CNI up on each)
# During a fault the client Service's EndpointSlices and the pods' role labels are polled this often:
# the resolution of the time-to-endpoint-removal and of a role change seen on a label.
WATCH_INTERVAL_S = 1.0
SLOW_PULL_S = 30.0  # image pulls at least this long are named after a deploy


# -- the platform ------------------------------------------------------------------------------


class KubernetesPlatform(KubeBlocksInstall, KubernetesDay2, KubernetesFootprint, KubernetesObservation):
    """Deploys on an existing cluster; `kind` subclasses it and adds cluster creation + docker faults."""

    name = "k8s"
    creates_cluster = False  # kind: the cluster (and so its KubeBlocks) is this run's own

    def __init__(
        self,
        runner: Runner | None = None,
        run_dir: Path = Path("."),
        settings: ClusterSettings | None = None,
        *,
        registry: Any = None,
        work_dir: Path | None = None,
    ):
        # registry: the one local process the platform may start, the k8s Prometheus port-forward
        # (kind/kubectl/helm otherwise run to completion through the runner). work_dir: unused.
        self._registry = registry
        self._prometheus_missing: str | None = "the in-cluster Prometheus is not installed yet"
        self._port_forward: Any = None
        self._observability_applied = False
        self.runner: Runner = runner if runner is not None else RealRunner()
        self.run_dir = Path(run_dir)
        self.settings = settings or ClusterSettings()
        self._ready = False
        self._tools: dict[str, str] = {}
        self.clock: Callable[[], float] = time.time  # wall clock of the evidence (tests pin it)
        self.watch_interval_s = WATCH_INTERVAL_S  # <= 0: no background watch (samples on demand only)
        self.kubeblocks_found: str | None = None  # the KubeBlocks version the cluster had before setup
        self._grace: tuple[float | None, str] | None = None
        self._ops_count = 0  # names this run's OpsRequests and Backups uniquely
        self._backup_repo: str | None = None  # the namespace of the run's backup repository, once made

    # -- commands ---------------------------------------------------------------------------
    def _tool(self, name: str) -> str:
        """The command for a tool: its name when found on PATH, else its path in the tools folder."""
        if name not in self._tools:
            path = Path(ensure_tool(name, self.settings.tools_dir, dry_run=self.runner.dry_run))
            self._tools[name] = str(path) if path.parent == self.settings.tools_dir else name
        return self._tools[name]

    def _kube_flags(self) -> list[str]:
        flags = []
        if self.settings.kubeconfig:
            flags += ["--kubeconfig", self.settings.kubeconfig]
        if self.settings.context:
            flags += ["--context", self.settings.context]
        return flags

    def kubectl(self, *args: str, **kw: Any) -> CommandResult:
        return self.runner.run([self._tool("kubectl"), *self._kube_flags(), *args], **kw)

    def helm(self, *args: str, **kw: Any) -> CommandResult:
        flags = []
        if self.settings.kubeconfig:
            flags += ["--kubeconfig", self.settings.kubeconfig]
        if self.settings.context:
            flags += ["--kube-context", self.settings.context]
        return self.runner.run([self._tool("helm"), *flags, *args], **kw)

    # -- lifecycle --------------------------------------------------------------------------
    def preflight(self) -> list[Check]:
        return preflight(self.settings)

    def setup(self) -> None:
        """Tools, then KubeBlocks (CRDs first, Helm at the pinned version), then addons Enabled.

        Idempotent; `deploy` calls it. The run loop may call it earlier to fail fast.
        """
        if self._ready:
            return
        self.ensure_tools(("kubectl", "helm"))
        self.install_kubeblocks()
        self.install_observability()
        self._ready = True

    def close(self) -> None:
        """On an existing cluster teardown already removed each namespace; left is the backup repository
        (its MinIO namespace and the cluster-scoped BackupRepo), when a backup made one, and the
        Prometheus with its port-forward."""
        self._delete_backup_repo()
        self.remove_observability()

    def ensure_tools(self, names: Sequence[str]) -> None:
        pins = ", ".join(f"{n} {PINS[n].version}" for n in names)
        self.runner.note(f"pinned: {pins}, KubeBlocks {self.settings.kubeblocks_version}")
        for name in names:
            check = tool_check(name, self.settings.tools_dir)
            if check.ok:
                self.runner.note(f"tools: {name} {check.version or '?'} at {check.detail}")
            elif self.runner.dry_run:
                self.runner.note(f"tools: {name} missing; would fetch {name} {PINS[name].version} into {self.settings.tools_dir} (sha256-checked)")
            self._tool(name)

    # -- deploy -----------------------------------------------------------------------------
    def deploy(self, engine: str, mode: str, spec: DeploySpec) -> Deployment:
        self.setup()
        ns = namespace_for(engine, mode, self.settings.namespace_prefix)
        self.runner.note(f"deploy {engine}/{mode} in namespace {ns}")
        self._apply([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": {HARNESS_LABEL: "openim-kb-poc"}}}], ns)
        handle = K8sHandle(ns, engine, mode, None, spec=spec)
        dep = Deployment(
            id=deployment_id(engine, mode),
            engine=engine,
            mode=mode,
            platform=self.name,
            topology=self._topology(engine, mode),
            handle=handle,
        )
        timeout = max(spec.ready_timeout_s, K8S_MIN_READY_TIMEOUT_S)
        if mode == "kubeblocks":
            handle.service_version = self._service_version(engine, spec.service_version)
            dep.version = handle.service_version
            self._apply(kubeblocks.manifests(engine, ns, spec, handle.service_version), ns)
            name = cluster_name(engine)
            self._wait_deployed(ns, f"cluster/{name} -n {ns} status.phase=Running",
                                lambda: self._cluster_phase(ns, name) == "Running", timeout)
            self._wait_deployed(ns, f"exactly one pod {ROLE_LABEL}=primary in {ns} ({INSTANCE_LABEL}={name})",
                                lambda: sum(p.role == "primary" for p in self.pods(dep)) == 1, timeout)
        else:
            password = "" if self.runner.dry_run else secrets.token_urlsafe(24)
            self._apply(statefulset.manifests(engine, ns, spec, password), ns)
            dep.version = statefulset.IMAGES[engine].split(":", 1)[1]
            # Ready = the readiness probe passed: the real server takes connections (not the image's init server)
            self._wait_deployed(ns, f"statefulset/{engine} -n {ns} readyReplicas=1 (readiness probe passed)",
                                lambda: self._ready_replicas(ns, engine) == 1, timeout)
        self._note_slow_pulls(ns)
        return dep

    def _wait_deployed(self, ns: str, what: str, ready: Callable[[], bool], timeout_s: float) -> None:
        """A deploy wait; when it times out, the error says which image pulls were slow or failed."""
        try:
            self.runner.wait(what, ready, timeout_s)
        except DeployError as e:
            pulls = self._pulls(ns)
            raise DeployError(f"{e}; image pulls in {ns}: {describe_pulls(pulls)}" if pulls else str(e)) from e

    def _pulls(self, ns: str) -> list[ImagePull]:
        if self._is_plan():
            return []
        r = self.kubectl("get", "events", "-n", ns, "-o", "json", check=False)
        try:
            return image_pulls(r.stdout, self.clock()) if r.returncode == 0 else []
        except (ValueError, KeyError, TypeError):
            return []

    def _note_slow_pulls(self, ns: str) -> None:
        slow = [p for p in self._pulls(ns) if p.state != "present" and (p.seconds or 0.0) >= SLOW_PULL_S]
        if slow:
            self.runner.note(f"slow image pulls in {ns}: {describe_pulls(slow)}")

    @staticmethod
    def _topology(engine: str, mode: str) -> Topology:
        if mode == "statefulset":
            return Topology(1, (statefulset.BASELINE_ZONE,))
        n = kubeblocks.REPLICAS[engine]
        return Topology(n, ZONES if engines.get(engine).sentinel_component else ZONES[:n])

    def _service_version(self, engine: str, pinned: str | None = None) -> str:
        """The newest offered on the preferred line, or `pinned` (the upgrade scenario's start) when offered."""
        cmpv = kubeblocks.COMPONENT_VERSION[engine]
        r = self.kubectl("get", f"componentversions.apps.kubeblocks.io/{cmpv}", "-o", "json")
        if pinned is not None:
            offered = None if self.runner.dry_run and not r.stdout.strip() else self._offered(engine, r.stdout)
            if offered is not None and pinned not in offered:
                raise DeployError(f"serviceVersion {pinned}: ComponentVersion {cmpv} offers only {', '.join(offered)}")
            self.runner.note(f"serviceVersion {pinned}, pinned by the deploy spec"
                             + ("" if offered is not None else " (the addon's list is read at run time)"))
            return pinned
        if self.runner.dry_run and not r.stdout.strip():
            chosen = kubeblocks.REVIEW_SERVICE_VERSION[engine]
            self.runner.note(f"serviceVersion: newest {kubeblocks.PREFERRED_LINE[engine]}.x the addon offers (shown: {chosen})")
            return chosen
        try:
            chosen = kubeblocks.choose_service_version(engine, r.stdout)
        except ValueError as e:
            raise DeployError(str(e)) from e
        self.runner.note(f"serviceVersion {chosen} chosen from ComponentVersion {cmpv}")
        return chosen

    def _offered_versions(self, engine: str) -> list[str] | None:
        """serviceVersions the addon offers now; None in a plan (nothing to ask)."""
        if self._is_plan():
            return None
        r = self.kubectl("get", f"componentversions.apps.kubeblocks.io/{kubeblocks.COMPONENT_VERSION[engine]}",
                         "-o", "json")
        return self._offered(engine, r.stdout)

    @staticmethod
    def _offered(engine: str, cmpv_json: str) -> list[str]:
        try:
            return kubeblocks.offered_service_versions(json.loads(cmpv_json))
        except (ValueError, AttributeError) as e:
            raise DeployError(f"ComponentVersion {kubeblocks.COMPONENT_VERSION[engine]} is not valid JSON: {e}") from e

    def _apply(self, docs: list[dict[str, Any]], ns: str) -> None:
        """Non-secret manifests go to a file under the run directory first; Secrets go on stdin."""
        folder = self.run_dir / "manifests" / ns
        for doc in docs:
            kind, name = doc["kind"], doc["metadata"]["name"]
            if kind == "Secret":
                self.kubectl(
                    "apply", "-f", "-",
                    stdin=dump_yaml([doc]), stdin_label=f"secret/{name} (value not shown)", quiet=True,
                )  # fmt: skip
                continue
            path = folder / f"{kind.lower()}-{name}.yaml"
            text = dump_yaml([doc])
            if self.runner.dry_run:  # nothing is written: show the manifest itself
                self.runner.note(f"manifest {path}:\n" + "\n".join("#   " + line for line in text.splitlines()))
            else:
                folder.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
            self.kubectl("apply", "-f", str(path))

    def _cluster_phase(self, ns: str, name: str) -> str:
        r = self.kubectl("get", f"clusters.apps.kubeblocks.io/{name}", "-n", ns, "-o", "jsonpath={.status.phase}", check=False)
        return r.stdout.strip()

    def _ready_replicas(self, ns: str, name: str) -> int:
        r = self.kubectl("get", f"statefulset/{name}", "-n", ns, "-o", "jsonpath={.status.readyReplicas}", check=False)
        return int(r.stdout.strip() or 0)

    # -- clients ----------------------------------------------------------------------------
    def client_host(self) -> str:
        if self.settings.node_address:
            return self.settings.node_address
        r = self.kubectl(
            "get", "nodes", "-o",
            'jsonpath={.items[0].status.addresses[?(@.type=="InternalIP")].address}',
        )  # fmt: skip
        host = r.stdout.strip() or "<node-address>"
        return host

    def endpoint(self, dep: Deployment):
        from harness.contracts import Endpoint

        h: K8sHandle = dep.handle
        secret, key = password_secret(dep.engine, dep.mode)
        # -o json, decoded here: the value never reaches a printed command or an error message.
        r = self.kubectl("get", f"secret/{secret}", "-n", h.namespace, "-o", "json", quiet=True)
        password = ""
        if r.stdout.strip():
            try:
                password = base64.b64decode(json.loads(r.stdout).get("data", {}).get(key, "")).decode()
            except ValueError as e:
                raise DeployError(f"secret/{secret} in {h.namespace}: key {key} is not readable base64") from e
        if not password and not self.runner.dry_run:
            raise DeployError(f"secret/{secret} in {h.namespace} has no {key}")
        # Role-selector NodePort: direct connection that follows the primary (no discovery).
        return Endpoint(
            engine=dep.engine,
            mode=dep.mode,
            addresses=((self.client_host(), h.node_port or NODE_PORTS[(dep.engine, dep.mode)]),),
            password=password,
            user=USERS[dep.engine],
        )

    def pods(self, dep: Deployment) -> list[PodInfo]:
        h: K8sHandle = dep.handle
        if self.runner.dry_run and self._is_plan():
            return expected_pods(dep.engine, dep.mode)
        pods_json = self.kubectl("get", "pods", "-n", h.namespace, "-l", self.pod_selector(dep), "-o", "json").stdout
        nodes_json = self.kubectl("get", "nodes", "-o", "json").stdout
        pods = parse_pods(pods_json, node_zones(nodes_json), dep.engine, dep.mode)
        if dep.mode == "kubeblocks":
            self._note_primaries(h, pods_json, dep.engine)
        return pods

    def pod_selector(self, dep: Deployment) -> str:
        """The label selector of the deployment's pods (a kubeblocks Cluster's: its Sentinels too)."""
        h: K8sHandle = dep.handle
        if dep.mode == "kubeblocks":
            return f"{INSTANCE_LABEL}={h.name}"
        if h.owns_namespace:
            return ",".join(f"{k}={v}" for k, v in data_component(dep.engine, dep.mode).selector.items())
        return f"app={h.name}"  # a restored copy's own label (manifests/day2.py)

    def observe_roles(self, dep: Deployment, record: bool = True) -> None:
        """Reads the role labels now and notes a primary change (the fault watch calls this every poll)."""
        h: K8sHandle = dep.handle
        if dep.mode != "kubeblocks" or self._is_plan():
            return
        r = self.kubectl("get", "pods", "-n", h.namespace, "-l", f"{INSTANCE_LABEL}={h.name}",
                         "-o", "json", check=False, record=record)
        if r.returncode == 0:
            self._note_primaries(h, r.stdout, dep.engine)

    def _note_primaries(self, h: K8sHandle, pods_json: str, engine: str) -> None:
        observed = self.clock()
        labelled = labelled_primaries(pods_json, engine)
        with h.lock:
            seen = next_primary(h.primary_seen, labelled, observed)
            if seen is not None:
                h.primary_seen.append(seen)

    def _is_plan(self) -> bool:
        """A dry-run without a fake cluster behind it: assume the manifests' topology."""
        return isinstance(self.runner, DryRunRunner) and not getattr(self.runner, "_responder", None)

    def plan_notes(self) -> Observer:
        """The dry run's words for the nemesis's actions: which primary a plan assumes, what is in force."""
        note = self.runner.note

        def observe(ev: NemesisEvent) -> None:
            if ev.name == "aimed":
                primary = next((p.name for p in ev.pods if p.role == "primary"), "?")
                if ev.dep.mode == "kubeblocks":
                    note(f"dry-run assumes primary {primary}; a real run reads {ROLE_LABEL} now")
                else:
                    note(f"the StatefulSet's only pod {primary} is the primary")
            elif ev.name == "injected" and ev.target is not None:
                note(f"fault in force on {', '.join(ev.target.instances) or '-'} (zone {ev.target.zone}); "
                     f"hold {ev.fault.duration_s:g} s")
            elif ev.name == "recovered":
                note("recovery window; then read back every acknowledged write")
            elif ev.name == "refused":
                note(f"not applicable: {ev.reason}")

        return observe

    # -- fault primitives (the nemesis aims and schedules them) ------------------------------
    def kill(self, dep: Deployment, pod: PodInfo) -> None:
        h: K8sHandle = dep.handle
        watch = self._watch(dep, (pod.name,))
        wall = time.time()
        self.kubectl("delete", "pod", pod.name, "-n", h.namespace, "--grace-period=0", "--force", "--wait=false")
        watch.injected_at_wall = wall
        watch.start()

    def pause(self, dep: Deployment, pod: PodInfo) -> None:
        raise CellNotApplicable(f"pod-freeze is not implemented on {self.name} (needs Chaos Mesh)")

    def resume(self, dep: Deployment, pod: PodInfo) -> None:
        raise CellNotApplicable(f"pod-freeze is not implemented on {self.name} (needs Chaos Mesh)")

    def zone_down(self, dep: Deployment, zone: str, pods: tuple[PodInfo, ...]) -> None:
        self._zone_fault(dep, "zone-outage", zone, pods)

    def zone_up(self, dep: Deployment, zone: str, pods: tuple[PodInfo, ...]) -> None:
        self._undo(dep, ("zone-outage", zone))

    def partition(self, dep: Deployment, zone: str, pods: tuple[PodInfo, ...]) -> None:
        if not self.supports_partition:
            raise CellNotApplicable("zone-partition on k8s needs node-level network control (kind, or Chaos Mesh)")
        self._zone_fault(dep, "zone-partition", zone, pods)

    def heal(self, dep: Deployment, zone: str, pods: tuple[PodInfo, ...]) -> None:
        self._undo(dep, ("zone-partition", zone))

    def _zone_fault(self, dep: Deployment, kind: str, zone: str, pods: tuple[PodInfo, ...]) -> None:
        h: K8sHandle = dep.handle
        hit = tuple(p.name for p in pods)
        watch = self._watch(dep, hit)
        wall = time.time()
        undo = self.zone_fault(dep, kind, zone, hit)
        with h.lock:
            h.in_force[(kind, zone)] = undo
            h.settle_zones.append(zone)
        watch.injected_at_wall = wall
        watch.start()

    @staticmethod
    def _undo(dep: Deployment, key: tuple[str, str]) -> None:
        """Runs the undo of a fault in force once; teardown runs whatever is left."""
        h: K8sHandle = dep.handle
        with h.lock:
            undo = h.in_force.pop(key, None)
        if undo is not None:
            undo()

    supports_partition = False  # k8s: no node-level network control without Chaos Mesh

    def _watch(self, dep: Deployment, hit: tuple[str, ...]) -> FaultWatch:
        """A fresh fault watch with its first sample taken now, just before the fault."""
        h: K8sHandle = dep.handle
        if h.watch is not None:
            h.watch.stop()
        self.node_monitor_grace()  # read once, before the fault (the control plane answers now)
        watch = FaultWatch(self, dep, hit, self.watch_interval_s)
        watch.sample()
        if self._is_plan():
            self.runner.note(f"watch: {watch.service}'s EndpointSlices and the role labels every {self.watch_interval_s:g} s "
                             "in the background until the cell's read-back (not echoed after this first poll)")
        h.watch = watch
        return watch

    def endpoint_evidence(self, dep: Deployment) -> dict[str, Any] | None:
        """Where the client Service sent new connections during the last fault: its EndpointSlices over
        time, when the fault's pods left them, and the node-monitor-grace-period in effect. Stops the
        fault's watch. None when no fault was injected."""
        h: K8sHandle = dep.handle
        watch = h.watch
        if watch is None:
            return None
        watch.stop()
        grace, source = self.node_monitor_grace()
        return watch.evidence(grace, source)

    def divergence(self, dep: Deployment, catch_up_s: float = k8s_divergence.CATCH_UP_S) -> list[ReplicaDivergence]:
        """Every replica compared with the primary once caught up (`DivergenceCheck`; k8s_divergence.py)."""
        return k8s_divergence.divergence(self, dep, catch_up_s)

    def node_monitor_grace(self) -> tuple[float | None, str]:
        """kube-controller-manager's `--node-monitor-grace-period` in effect (seconds, and how it is known):
        how long a dead node's pods stay Ready, and a dead primary in its Service. Read once."""
        if self._grace is not None:
            return self._grace
        r = self.kubectl("get", "pods", "-n", "kube-system", "-l", "component=kube-controller-manager", "-o", "json",
                         check=False)
        visible, value = controller_manager_flag(r.stdout if r.returncode == 0 else "", "--node-monitor-grace-period")
        minor = self.kubernetes_minor()
        default = default_node_monitor_grace_s(minor)
        version = f"Kubernetes 1.{minor}" if minor is not None else "Kubernetes"
        if value is not None and parse_go_duration(value) is not None:
            self._grace = (parse_go_duration(value), f"kube-controller-manager flag --node-monitor-grace-period={value}")
        elif visible:
            self._grace = (default, f"{version} default (not set in kube-controller-manager's flags)")
        elif self._is_plan():
            self._grace = (default, f"{version} default, unless kube-controller-manager's flags set it: read at run time")
        else:
            self._grace = (default, f"{version} default assumed: kube-controller-manager is not visible "
                                    "(a managed control plane?)")
        if self._is_plan():
            self.runner.note(f"node-monitor-grace-period: {self._grace[0]:g} s, the {self._grace[1]}; recorded with "
                             "the endpoint evidence in results.json")
        return self._grace

    def kubernetes_minor(self) -> int | None:
        """The API server's minor version (for the grace period's default)."""
        r = self.kubectl("version", "-o", "json", check=False)
        try:
            minor = json.loads(r.stdout).get("serverVersion", {}).get("minor", "")
        except ValueError:
            return None
        digits = re.match(r"\d+", str(minor))
        return int(digits.group()) if digits else None

    def zone_fault(self, dep: Deployment, kind: str, zone: str, hit: tuple[str, ...]) -> Callable[[], None]:
        """k8s: a zone outage is cordon + force-delete of the deployment's pods there."""
        if kind == "zone-partition":
            raise CellNotApplicable("zone-partition on k8s needs node-level network control (kind, or Chaos Mesh)")
        h: K8sHandle = dep.handle
        selector = f"{ZONE_LABEL}={zone}"
        self.kubectl("cordon", "-l", selector)
        if hit:
            self.kubectl("delete", "pod", *hit, "-n", h.namespace, "--grace-period=0", "--force", "--wait=false")

        def undo() -> None:
            self.kubectl("uncordon", "-l", selector)

        return undo

    def role_changes(self, dep: Deployment) -> list[RoleChange]:
        """Redis: Sentinel's own `+switch-master` log lines. Others: primary changes the harness
        observed on the role label (KubeBlocks writes it from its role probe)."""
        h: K8sHandle = dep.handle
        if dep.mode != "kubeblocks" or self._is_plan():  # a plan has no servers' logs or labels to read
            return []
        if sentinels := engines.get(dep.engine).sentinel_component:
            name = cluster_name(dep.engine)
            logs = self.kubectl(
                "logs", "-n", h.namespace, "-l", f"{INSTANCE_LABEL}={name},{COMPONENT_LABEL}={sentinels}",
                "--timestamps", "--prefix", "--tail=-1", check=False,
            ).stdout  # fmt: skip
            by_ip = {p.host: p.name for p in self.pods(dep) if p.host}
            seen: dict[tuple[int, str], RoleChange] = {}
            for wall, addr in parse_switch_master(logs):
                # every Sentinel logs the same switch: keep one per second and primary
                pod = sentinel_pod_name(addr, by_ip)
                seen.setdefault((int(wall), pod), RoleChange(wall, pod, "sentinel +switch-master"))
            return sorted(seen.values(), key=lambda c: c.at_wall)
        self.observe_roles(dep)  # a change after the watch's last poll
        with h.lock:
            return [RoleChange(s.at_wall, s.pod, s.source) for s in h.primary_seen[1:]]

    # -- teardown ---------------------------------------------------------------------------
    def teardown(self, dep: Deployment) -> None:
        """Recovers what is still broken, waits until the faulted zones' nodes are Ready again (the
        next cell must not start on a NotReady zone), then deletes the namespace; safe twice."""
        h: K8sHandle = dep.handle
        if h.watch is not None:
            h.watch.stop()
        try:
            for key in list(h.in_force):
                self._undo(dep, key)
            with h.lock:
                zones, h.settle_zones = list(dict.fromkeys(h.settle_zones)), []
            for zone in zones:
                self.wait_zone_ready(zone, NODE_READY_TIMEOUT_S)
        finally:
            self._delete(dep)

    def wait_zone_ready(self, zone: str, timeout_s: float) -> None:
        self.runner.wait(
            f"nodes of {zone} Ready again ({ZONE_LABEL}={zone}, condition Ready=True)",
            lambda: zone_ready(self.kubectl("get", "nodes", "-o", "json", check=False).stdout, zone),
            timeout_s,
        )

    def _delete(self, dep: Deployment) -> None:
        h: K8sHandle = dep.handle
        if not h.owns_namespace:  # a restored copy: only what it added to the original's namespace
            self._delete_restored(dep)
            return
        if dep.mode == "kubeblocks":
            self.kubectl(
                "delete", f"clusters.apps.kubeblocks.io/{h.name}", "-n", h.namespace,
                "--ignore-not-found", "--wait=true", f"--timeout={int(TEARDOWN_TIMEOUT_S)}s",
                timeout_s=TEARDOWN_TIMEOUT_S + 30, check=False,
            )  # fmt: skip
        self.kubectl(
            "delete", "namespace", h.namespace, "--ignore-not-found", "--wait=true",
            f"--timeout={int(TEARDOWN_TIMEOUT_S)}s", timeout_s=TEARDOWN_TIMEOUT_S + 30,
        )  # fmt: skip

    def _delete_restored(self, dep: Deployment) -> None:
        """A restored copy's Cluster (its volumes go with it: terminationPolicy Delete) or its StatefulSet,
        Services and volume; then its NodePort Service. The original's namespace stays."""
        h: K8sHandle = dep.handle
        wait = ["--ignore-not-found", "--wait=true", f"--timeout={int(TEARDOWN_TIMEOUT_S)}s"]
        if dep.mode == "kubeblocks":
            self.kubectl("delete", f"clusters.apps.kubeblocks.io/{h.name}", f"service/{h.name}-primary-nodeport",
                         "-n", h.namespace, *wait, timeout_s=TEARDOWN_TIMEOUT_S + 30, check=False)
            return
        self.kubectl("delete", f"statefulset/{h.name}", f"service/{h.name}", f"service/{h.name}-nodeport",
                     f"pvc/data-{h.name}-0", "-n", h.namespace, *wait, timeout_s=TEARDOWN_TIMEOUT_S + 30, check=False)


def create(run: RunContext) -> KubernetesPlatform:
    """The platform registry's factory (harness/platforms/__init__.py)."""
    settings = ClusterSettings(install_kubeblocks=run.install_kubeblocks, data_protection=run.data_protection)
    return KubernetesPlatform(runner_for(run), platform_dir(run), settings,
                              registry=run.registry, work_dir=run.work_dir)


def runner_for(run: RunContext) -> Runner:
    """A dry run prints every command to the terminal; a real run executes them and logs each to run.log
    (secrets go on stdin and are never echoed)."""
    return DryRunRunner(out=run.out) if run.dry_run else RealRunner(echo=LogWriter())


def platform_dir(run: RunContext) -> Path:
    """Where the platform keeps its kubeconfig and manifests: the run's directory, or for a dry run the
    path it names (it writes nothing)."""
    return DRY_RUN_DIR if run.dry_run else run.run_dir
