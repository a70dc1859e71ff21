"""The vocabulary and the contracts every layer shares: engines, modes, faults, endpoints, and the
platform protocol (Jepsen's `DB` + the primitives its nemesis needs).

A neutral module: workload/, manifests/, scenarios/ and the checker stand on it, never on the db
layer (`harness/platforms/`). The workload sees only `Endpoint`; the run loop sees `Platform` and
`Deployment`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from harness.engines import ENGINES as ENGINES  # re-exported: the registry is its source of truth

MODES: tuple[str, ...] = ("kubeblocks", "statefulset")
PLATFORMS: tuple[str, ...] = ("local", "kind", "k8s")
FAULT_KINDS: tuple[str, ...] = ("pod-kill", "pod-freeze", "zone-outage", "zone-partition")
# day-2 operations: nemesis actions too (harness/operations.py), but run to completion, not held
OPERATION_KINDS: tuple[str, ...] = ("switchover", "rolling-restart", "scale-out", "upgrade", "backup-restore")
NEMESIS_KINDS: tuple[str, ...] = FAULT_KINDS + OPERATION_KINDS
ZONES: tuple[str, ...] = ("zone-a", "zone-b", "zone-c")

Role = Literal["primary", "secondary", "sentinel", "arbiter"]


@dataclass(frozen=True)
class Check:
    """One preflight finding: a tool or server, found (with version) or missing (with the fix)."""

    name: str
    ok: bool
    version: str | None = None
    detail: str = ""
    fix: str | None = None
    required: bool = True  # False: missing only disables some cells (e.g. mongod)


@dataclass(frozen=True)
class DeploySpec:
    """Knobs of a deployment. Defaults are KubeBlocks' own (reference/kubeblocks.md section 4).

    Tests shorten them; `make poc` keeps them, so local numbers predict kind's.
    """

    restart_delay_s: float = 2.0  # kubelet restarting a dead container in place
    # redis (KubeBlocks' redis-register-to-sentinel.sh)
    sentinel_down_after_ms: int = 20000
    sentinel_failover_timeout_ms: int = 60000
    sentinel_quorum: int = 2
    redis_appendonly: bool = True  # OpenIM's manifest runs `--appendonly yes`
    # mysql (KubeBlocks' addons/mysql values.yaml role probe; SEMI_SYNC_TIMEOUT default)
    role_probe_period_s: float = 1.0
    role_probe_failure_threshold: int = 2
    semi_sync_timeout_ms: int = 10000
    # kubernetes resources (ignored by local)
    cpu: str = "0.5"
    memory: str = "0.5Gi"
    storage: str = "20Gi"
    ready_timeout_s: float = 120.0
    # kubeblocks on kind/k8s: the serviceVersion to deploy; None: the newest the addon offers on the
    # preferred line. The upgrade scenario starts from an older one (harness/manifests/day2.py UPGRADES).
    service_version: str | None = None

    def replace(self, **changes: Any) -> DeploySpec:
        from dataclasses import replace

        return replace(self, **changes)


@dataclass(frozen=True)
class PodInfo:
    """What a pod is right now: the platform's view, for targeting faults and for evidence."""

    name: str  # e.g. "redis-0", "redis-sentinel-1", "mysql-1"
    zone: str
    role: Role | None  # None while unknown (dead, frozen, starting)
    host: str
    port: int
    alive: bool


@dataclass(frozen=True)
class Topology:
    replicas: int  # data-bearing pods (sentinels not counted)
    zones: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"replicas": self.replicas, "zones": list(self.zones)}


@dataclass(frozen=True)
class Endpoint:
    """How a client reaches a deployment; follows the primary after a failover.

    Exactly one discovery style applies:
    - `sentinel_master` set: `addresses` are Sentinels; ask them for the master (redis kubeblocks).
    - `replica_set` set: `addresses` are replica-set seeds (mongodb kubeblocks).
    - `primary_file` set: a file holding `host:port` of the current primary, kept by the role
      controller (mysql kubeblocks on local; it plays KubeBlocks' role-selector Service).
    - none: `addresses[0]` is the server (statefulset; or a role-selector Service on kubernetes).

    The password never appears in repr, logs or results: write it only with `to_private_json`.
    """

    engine: str
    mode: str
    addresses: tuple[tuple[str, int], ...]
    password: str = field(repr=False)
    user: str | None = None  # mysql "root"; redis None (default user); mongodb "root"
    database: str | None = None
    sentinel_master: str | None = None
    sentinel_password: str | None = field(default=None, repr=False)
    replica_set: str | None = None
    primary_file: str | None = None
    # TLS to the server. Off on every platform, as OpenIM itself: its MySQL DSN sets no `tls`
    # parameter (go-sql-driver's default is plain TCP), and go-redis / the mongo driver get no TLS
    # options from OpenIM's config. Local traffic is loopback only.
    tls: bool = False

    def primary_address(self) -> tuple[str, int]:
        """The current primary for direct-connect styles (statefulset, primary_file)."""
        if self.primary_file:
            text = Path(self.primary_file).read_text().strip()
            host, _, port = text.rpartition(":")
            return host, int(port)
        return self.addresses[0]

    def to_private_json(self) -> str:
        """Serialised with the password, for a 0600 file handed to load workers only."""
        data = asdict(self)
        data["addresses"] = [list(a) for a in self.addresses]
        return json.dumps(data)

    @classmethod
    def from_private_json(cls, text: str) -> Endpoint:
        data = json.loads(text)
        data["addresses"] = tuple(tuple(a) for a in data["addresses"])
        return cls(**data)

    def describe(self) -> str:
        """A printable summary without secrets."""
        addrs = ",".join(f"{h}:{p}" for h, p in self.addresses)
        extra = self.sentinel_master or self.replica_set or ("role-controller" if self.primary_file else "direct")
        return f"{self.engine}/{self.mode} {addrs} ({extra})"


@dataclass
class Deployment:
    """A running deployment. `handle` is the platform's private state (processes, names)."""

    id: str
    engine: str
    mode: str
    platform: str
    topology: Topology
    version: str | None = None  # server version actually running
    handle: Any = field(default=None, repr=False)


@dataclass(frozen=True)
class Fault:
    """What to break. `target`: "primary", "secondary" or a pod name; for zone faults
    "primary" means the zone holding the primary, otherwise a zone name."""

    kind: str
    target: str = "primary"
    duration_s: float = 0.0  # pod-freeze / zone-partition: how long; zone-outage: how long down


@dataclass(frozen=True)
class RoleChange:
    """A server-side record of a primary change, read from the servers' own logs or controller.

    It is the independent evidence the checker's RTO is compared with.
    """

    at_wall: float  # unix seconds
    new_primary: str  # pod name
    source: str  # e.g. "sentinel +switch-master", "role-controller promote"


@dataclass(frozen=True)
class OpStep:
    """One pod's part of a day-2 operation as the platform saw it (k8s: the OpsRequest's
    `status.components[].progressDetails[]`; local: the emulation's own clock)."""

    pod: str
    action: str  # "restart" | "switchover" | "join" | "backup" | "restore" | "upgrade"
    started_wall: float
    done_wall: float
    ok: bool = True
    detail: str = ""


@dataclass(frozen=True)
class BackupArtifact:
    """A finished full backup: where it is and what it is, for the restore and the report."""

    method: str  # "mariadb-backup" | "mariadb-dump" | "datafile" | "bgsave" | KubeBlocks' backupMethod
    source_pod: str
    location: str  # a directory / file here; a Backup object's name on kubernetes
    size_bytes: int | None
    consistent_point: str | None = None  # the engine's own position (GTID, RDB save time), when known
    handle: Any = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class OpOutcome:
    """What a platform reports for a day-2 operation it ran to its end."""

    steps: tuple[OpStep, ...] = ()
    source: str = ""  # "local emulation", "OpsRequest/<name> status.progressDetails", ...
    phase: str | None = None  # the operator's own verdict (OpsRequest / Backup status.phase), when any
    backup: BackupArtifact | None = None  # backup-restore: what the restore starts from
    new_pods: tuple[str, ...] = ()  # scale-out: the added replica(s)
    detail: str = ""


@dataclass(frozen=True)
class ReplicaState:
    """One data pod's replication health, from the engine's own status (SHOW SLAVE STATUS, INFO)."""

    pod: str
    role: str | None
    healthy: bool  # a primary: writable; a replica: replicating from the primary and caught up
    detail: str = ""


@dataclass(frozen=True)
class RenderedConfig:
    """The server parameters a mode's deployment runs with, rendered from its pod limits.

    kubeblocks: the KubeBlocks addon's config template evaluated for `cpu` / `memory` (on local with
    MariaDB's names where MySQL 8's differ: `notes` says which); statefulset: what OpenIM ships.
    `params` are the server's own names and values as written into its config file.
    """

    engine: str
    mode: str
    cpu: str
    memory: str
    params: tuple[tuple[str, str], ...]
    source: str  # where the values come from ("KubeBlocks addon mysql8.0-config.tpl", ...)
    notes: tuple[tuple[str, str], ...] = ()  # param -> why this value / which MySQL 8 name it stands for

    def as_dict(self) -> dict[str, str]:
        return dict(self.params)


@dataclass(frozen=True)
class PodFootprint:
    """What one pod cost during a window: CPU seconds, peak memory, and its volume at the end."""

    pod: str
    kind: str  # "data" | "sentinel" | "control-plane"
    cpu_s: float | None
    peak_rss_bytes: int | None
    volume_bytes: int | None
    source: str  # "cgroup v1 cpuacct + memory", "/proc sampling", "metrics.k8s.io", ...


@dataclass(frozen=True)
class LimitsEvidence:
    """Whether the pods ran under their CPU / memory limits, and how (or why only nominally)."""

    enforced: bool
    how: str  # "cgroup v1 cpu.cfs_quota_us + memory.limit_in_bytes", "kubernetes resources.limits", ...
    cpu: str
    memory: str


@dataclass(frozen=True)
class ReplicaDivergence:
    """One replica compared with the primary after the cell, by the engine's own means."""

    primary: str
    replica: str
    method: str  # "CHECKSUM TABLE", "DBSIZE + sampled values", ...
    compared: int  # tables / keys compared
    differing: tuple[str, ...]  # the tables / keys whose content differs
    detail: str = ""

    @property
    def diverged(self) -> bool:
        return bool(self.differing)


@dataclass(frozen=True)
class ObservationSource:
    """Where a deployment's server-side metrics can be read: a Prometheus on 127.0.0.1 and the labels
    that select this deployment's series. `missing` says why there is none (the cell runs regardless)."""

    url: str | None  # e.g. "http://127.0.0.1:41234"; None when not observed
    selector: dict[str, str]  # labels every series of this deployment carries, e.g. {"deployment": "redis-kubeblocks-1"}
    scrape_interval_s: float
    exporters: dict[str, str] = field(default_factory=dict)  # pod -> exporter (name version) or why it is missing
    notes: tuple[str, ...] = ()  # what differs from KubeBlocks' own (e.g. its Redis collector samples every 15 s)
    missing: str | None = None


@runtime_checkable
class Observed(Protocol):
    """Optional: the platform runs exporters and a Prometheus beside the deployments."""

    def observation(self, dep: Deployment) -> ObservationSource: ...


@runtime_checkable
class Footprints(Protocol):
    """Optional: resource use per pod over a window (a platform without it says so in the report)."""

    def footprint_begin(self, dep: Deployment) -> None: ...

    def footprint_end(self, dep: Deployment) -> list[PodFootprint]: ...

    def limits_evidence(self, dep: Deployment) -> LimitsEvidence: ...


@runtime_checkable
class DivergenceCheck(Protocol):
    """Optional: every replica compared with the primary, once replication has caught up."""

    def divergence(self, dep: Deployment) -> list[ReplicaDivergence]: ...


@runtime_checkable
class Operations(Protocol):
    """Day-2 operation primitives (optional: a platform without them makes those cells not
    applicable). Each runs the operation to its end and returns what happened; what the operation
    means (which pod, in which order, what counts as healthy) is harness/operations.py's."""

    def switchover(self, dep: Deployment, primary: PodInfo, candidate: PodInfo | None) -> OpOutcome: ...

    def rolling_restart(self, dep: Deployment, order: tuple[PodInfo, ...]) -> OpOutcome:
        """Restarts every data pod in `order`, each serving again before the next (kubernetes: the
        operator or the StatefulSet controller chooses; the outcome says what it did)."""
        ...

    def scale_out(self, dep: Deployment, replicas: int) -> OpOutcome:
        """Adds data pods up to `replicas`; done when each new one is replicating and caught up."""
        ...

    def upgrade(self, dep: Deployment, version: str | None) -> OpOutcome: ...

    def backup(self, dep: Deployment, source: PodInfo) -> OpOutcome:
        """A full backup of `source` under load; the outcome carries the `BackupArtifact`."""
        ...

    def restore(self, dep: Deployment, backup: BackupArtifact) -> Deployment:
        """A new deployment started from `backup` (never in place); torn down by the caller."""
        ...

    def replication_state(self, dep: Deployment) -> list[ReplicaState]: ...


@runtime_checkable
class Platform(Protocol):
    """Where deployments run. Every method either does its job or raises a clear error."""

    name: str

    def preflight(self) -> list[Check]:
        """What is there (with versions) and what is missing (with the command to get it).

        Must not start anything."""
        ...

    def deploy(self, engine: str, mode: str, spec: DeploySpec) -> Deployment:
        """Starts the deployment and waits until it takes writes.

        Raises CellSkipped when the engine cannot run here, DeployError when it failed."""
        ...

    def endpoint(self, dep: Deployment) -> Endpoint:
        """How clients connect. Stable for the deployment's life: it follows the primary."""
        ...

    def pods(self, dep: Deployment) -> list[PodInfo]:
        """Current pods with zone and role, for targeting faults and for evidence."""
        ...

    # Fault primitives: the nemesis (harness/faults.py) decides what a fault means and when; a platform
    # only does the act, or raises CellNotApplicable for one it cannot do. `pods` are the ones the
    # nemesis aimed at (for a zone: every pod there, possibly none).
    def kill(self, dep: Deployment, pod: PodInfo) -> None:
        """SIGKILL / delete with grace 0; the platform restarts it as its controller would."""
        ...

    def pause(self, dep: Deployment, pod: PodInfo) -> None:
        """The pod stops running but keeps its connections (SIGSTOP / container pause)."""
        ...

    def resume(self, dep: Deployment, pod: PodInfo) -> None: ...

    def zone_down(self, dep: Deployment, zone: str, pods: tuple[PodInfo, ...]) -> None:
        """Every pod of the zone dies and none comes back there until `zone_up`."""
        ...

    def zone_up(self, dep: Deployment, zone: str, pods: tuple[PodInfo, ...]) -> None: ...

    def partition(self, dep: Deployment, zone: str, pods: tuple[PodInfo, ...]) -> None:
        """The zone's pods stay alive but are unreachable until `heal`."""
        ...

    def heal(self, dep: Deployment, zone: str, pods: tuple[PodInfo, ...]) -> None: ...

    def role_changes(self, dep: Deployment) -> list[RoleChange]:
        """Primary changes the servers themselves recorded (logs, controller), oldest first."""
        ...

    def teardown(self, dep: Deployment) -> None:
        """Stops everything of the deployment. Always called; safe to call twice."""
        ...

    def close(self) -> None:
        """Releases what the platform itself created for the run (a kind cluster). Called once at the
        end of a run, after every teardown; safe to call twice."""
        ...

    # Optional (not part of the checked protocol, so stand-ins need not have it):
    #   endpoint_evidence(dep) -> dict | None
    # where the deployment's client Service sent new connections during the last fault (kind/k8s:
    # its EndpointSlices over time, the time-to-endpoint-removal, the node-monitor-grace-period in
    # effect). Called after the read-back, before teardown; None when the platform has no Service.

