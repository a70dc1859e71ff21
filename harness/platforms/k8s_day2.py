"""Day-2 operations on kind/k8s (the `Operations` protocol of harness/contracts.py), a part of
`KubernetesPlatform`.

kubeblocks: each operation is an OpsRequest (or a Backup), applied and polled until KubeBlocks' own
terminal phase; its `progressDetails` become the outcome's steps. The operator's "Succeed" is not
taken as the end state: a Switchover must also show its candidate labelled primary, a scale-out its
new pods replicating and caught up (the caller judges the rest through `replication_state`).
statefulset: what an SRE does by hand (`kubectl rollout restart`, `kubectl set image`, a dump over
`kubectl exec`). Passwords go to `kubectl exec` on stdin (`read -r PW`), never into an argv.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.contracts import (
    ZONES,
    BackupArtifact,
    Deployment,
    DeploySpec,
    Endpoint,
    OpOutcome,
    OpStep,
    PodInfo,
    ReplicaState,
)
from harness.errors import CellNotApplicable, DeployError
from harness.manifests import day2, kubeblocks, statefulset
from harness.manifests.common import ROLE_LABEL, cluster_name, restored_node_port
from harness.platforms.commands import CommandResult, Runner
from harness.platforms.k8s_day2_parse import (
    backup_status,
    mongodb_state,
    mysql_state,
    ops_status,
    redis_offset,
    redis_state,
)
from harness.platforms.k8s_preflight import ClusterSettings
from harness.targeting import data_pods, sole_primary

if TYPE_CHECKING:
    from harness.platforms.kubernetes import K8sHandle

# Time budgets, each with its reason.
# KubeBlocks marks a Switchover Failed after 5 min in Processing (pkg/operations/switchover.go).
SWITCHOVER_TIMEOUT_S = 330.0
# The candidate's role label follows the role probe (1-2 s periods) once the switchover is done.
ROLE_LABEL_TIMEOUT_S = 60.0
# Pods are recreated one at a time, each Ready, role-probed and (redis) minReadySeconds 10 before the next.
RESTART_TIMEOUT_S = 900.0
# A new replica: a pod on a node that may pull the images first, then seeds by replication.
SCALE_OUT_TIMEOUT_S = 900.0
CATCH_UP_TIMEOUT_S = 300.0  # the new replica replicating and caught up, after the op's Succeed
# An upgrade pulls the new version's image on every node before each pod is replaced.
UPGRADE_TIMEOUT_S = 1200.0
BACKUP_TIMEOUT_S = 900.0  # xtrabackup / BGSAVE of the seeded data plus the job pod's image pull
BACKUP_REPO_TIMEOUT_S = 300.0  # MinIO's image pull; then KubeBlocks checks the repo (a pre-check job)
BACKUP_POLICY_TIMEOUT_S = 120.0  # created with the Cluster from the addon's template
RESTORE_TIMEOUT_S = 1200.0  # a whole new Cluster: pods, volumes, the restore jobs, roles
ROLLOUT_TIMEOUT_S = 600.0  # `kubectl rollout status` of the one-pod baseline (image pull included)
DUMP_TIMEOUT_S = 600.0

# The database OpenIM's MySQL manifest creates (MYSQL_DATABASE, harness/engines/mysql.py); the dump
# holds it alone, so loading it never touches the new server's own system schema.
MYSQL_DATABASE = "openIM_v3"
BACKUP_NAMESPACE_SUFFIX = "backup"  # the run's backup repository: <prefix>-backup

# `kubectl exec` scripts: the first stdin line is the password.
READ_PW = "IFS= read -r PW; "
MYSQL = 'MYSQL_PWD="$PW" mysql --user=root --host=127.0.0.1 --protocol=TCP'
MYSQL_STATUS = (READ_PW + f"echo \"read_only=$({MYSQL} -N -e 'SELECT @@global.read_only')"
                f" super_read_only=$({MYSQL} -N -e 'SELECT @@global.super_read_only')\"; "
                f"{MYSQL} -e 'SHOW REPLICA STATUS\\G' 2>/dev/null || {MYSQL} -e 'SHOW SLAVE STATUS\\G'")
REDIS = 'REDISCLI_AUTH="$PW" redis-cli -h 127.0.0.1 -p 6379'
REDIS_STATUS = READ_PW + f"{REDIS} INFO replication"
MONGODB_STATUS = READ_PW + (
    "mongosh --quiet --host 127.0.0.1 --port 27017 -u root -p \"$PW\" --authenticationDatabase admin --eval "
    "'let out; try { const s = rs.status(); const me = s.members.find(m => m.self); "
    "const p = s.members.find(m => m.stateStr === \"PRIMARY\"); "
    "out = {state: me.stateStr, sync: me.syncSourceHost, t: me.optimeDate.getTime(), "
    "pt: p ? p.optimeDate.getTime() : null, primary: p ? p.name : null}; } catch (e) { "
    "out = {state: db.hello().isWritablePrimary ? \"PRIMARY\" : \"NOT-IN-A-REPLICA-SET\"}; } "
    "print(JSON.stringify(out))'")
MYSQL_DUMP = READ_PW + (
    'export MYSQL_PWD="$PW"; exec mysqldump --user=root --host=127.0.0.1 --protocol=TCP --single-transaction '
    f"--source-data=2 --hex-blob --routines --triggers --events --set-gtid-purged=OFF --databases {MYSQL_DATABASE}")
# `export` first: `exec VAR=x cmd` is no shell syntax (sh looks for a program named "VAR=x" and prints
# it, the password with it, to stderr), and whether `VAR=x exec cmd` exports VAR differs between shells
MYSQL_LOAD = READ_PW + 'export MYSQL_PWD="$PW"; exec ' + MYSQL.removeprefix('MYSQL_PWD="$PW" ')
STATUS_SCRIPTS = {"mysql": MYSQL_STATUS, "redis": REDIS_STATUS, "mongodb": MONGODB_STATUS}


class KubernetesDay2:
    """The day-2 operations, as the k8s and kind platforms run them (a part of `KubernetesPlatform`)."""

    settings: ClusterSettings
    runner: Runner
    run_dir: Path
    clock: Callable[[], float]
    name: str
    _ops_count: int
    _backup_repo: str | None

    # -- what KubernetesPlatform provides ---------------------------------------------------------
    def kubectl(self, *args: str, **kw: Any) -> CommandResult:
        raise NotImplementedError

    def _apply(self, docs: list[dict[str, Any]], ns: str) -> None:
        raise NotImplementedError

    def _is_plan(self) -> bool:
        raise NotImplementedError

    def pods(self, dep: Deployment) -> list[PodInfo]:
        raise NotImplementedError

    def endpoint(self, dep: Deployment) -> Endpoint:
        raise NotImplementedError

    def _offered_versions(self, engine: str) -> list[str] | None:
        raise NotImplementedError

    def _ready_replicas(self, ns: str, name: str) -> int:
        raise NotImplementedError

    # -- the operations ---------------------------------------------------------------------------
    def switchover(self, dep: Deployment, primary: PodInfo, candidate: PodInfo | None) -> OpOutcome:
        """A Switchover OpsRequest naming the candidate; done when the candidate is labelled primary
        (KubeBlocks reports Succeed as soon as the script exits when no candidate is named)."""
        h = self._kubeblocks_only(dep, "switchover", "a StatefulSet has one pod: there is no other pod to "
                                                     "move the primary to")
        name = self._ops_name(dep, "switchover")
        doc = day2.switchover(name, h.namespace, dep.engine, primary.name, candidate.name if candidate else None,
                              SWITCHOVER_TIMEOUT_S)
        outcome = self._run_ops(dep, doc, SWITCHOVER_TIMEOUT_S)
        if candidate is not None:
            want = candidate.name
            self.runner.wait(f"pod/{want} -n {h.namespace} labelled {ROLE_LABEL}=primary, the only primary",
                             lambda: self._only_primary(dep) == want, ROLE_LABEL_TIMEOUT_S)
        else:
            self.runner.wait(f"a pod other than {primary.name} labelled {ROLE_LABEL}=primary, the only one",
                             lambda: self._only_primary(dep) not in (None, primary.name), ROLE_LABEL_TIMEOUT_S)
        return outcome

    def rolling_restart(self, dep: Deployment, order: tuple[PodInfo, ...]) -> OpOutcome:
        h: K8sHandle = dep.handle
        if dep.mode == "kubeblocks":
            return self._run_ops(dep, day2.restart(self._ops_name(dep, "restart"), h.namespace, dep.engine,
                                                   RESTART_TIMEOUT_S), RESTART_TIMEOUT_S)
        started = self.clock()
        self.kubectl("rollout", "restart", f"statefulset/{h.name}", "-n", h.namespace)
        self._rollout_status(h)
        return self._rollout_outcome(h, order, "restart", started, "kubectl rollout restart")

    def scale_out(self, dep: Deployment, replicas: int) -> OpOutcome:
        """HorizontalScaling; done when each new pod replicates from the primary and is caught up."""
        h = self._kubeblocks_only(dep, "scale-out", "a StatefulSet's second pod would be an unrelated database")
        before = [p.name for p in data_pods(self.pods(dep))]
        if replicas > len(ZONES):
            raise CellNotApplicable(f"the {dep.engine} Cluster allows one pod per zone (a hard zone spread): "
                                    f"{replicas} replicas do not fit in {len(ZONES)} zones, a new pod would stay Pending")
        changes = replicas - len(before)
        if changes < 1:
            raise DeployError(f"scale-out to {replicas} replicas: the deployment has {len(before)} already")
        doc = day2.scale_out(self._ops_name(dep, "scale-out"), h.namespace, dep.engine, changes, SCALE_OUT_TIMEOUT_S)
        outcome = self._run_ops(dep, doc, SCALE_OUT_TIMEOUT_S)
        after = [p.name for p in data_pods(self.pods(dep))]
        new = tuple(p for p in after if p not in before)
        if self._is_plan():  # the names InstanceSet gives the next ordinals
            new = tuple(f"{h.name}-{dep.engine}-{i}" for i in range(len(before), replicas))
        self.runner.wait(f"new pod(s) {', '.join(new) or '?'} replicating from the primary and caught up "
                         f"({dep.engine}'s own replication status)",
                         lambda: bool(new) and all(s.healthy for s in self.replication_state(dep) if s.pod in new),
                         CATCH_UP_TIMEOUT_S)
        dep.topology = replace(dep.topology, replicas=len(before) + changes)
        return replace(outcome, new_pods=new)

    def upgrade(self, dep: Deployment, version: str | None) -> OpOutcome:
        """kubeblocks: an Upgrade OpsRequest to `version` (default `day2.UPGRADES`); statefulset: the
        image replaced by the newer patch (`kubectl set image`), as a StatefulSet's owner would."""
        h: K8sHandle = dep.handle
        path = day2.UPGRADES[dep.engine]
        if dep.mode == "kubeblocks":
            target = version or path.kubeblocks_to
            if dep.version and kubeblocks.version_key(dep.version) >= kubeblocks.version_key(target):
                raise CellNotApplicable(f"{dep.engine} runs {dep.version}, not older than the upgrade's {target}: the "
                                        f"upgrade scenario deploys {path.kubeblocks_from} first (DeploySpec.service_version)")
            offered = self._offered_versions(dep.engine)
            if offered is not None and target not in offered:
                raise DeployError(f"upgrade to {target}: ComponentVersion {dep.engine} offers only {', '.join(offered)}")
            outcome = self._run_ops(dep, day2.upgrade(self._ops_name(dep, "upgrade"), h.namespace, dep.engine, target,
                                                      UPGRADE_TIMEOUT_S), UPGRADE_TIMEOUT_S)
            dep.version = h.service_version = target
            return outcome
        image = path.image_to if version is None else f"{statefulset.IMAGES[dep.engine].split(':', 1)[0]}:{version}"
        order = tuple(p for p in self.pods(dep) if p.role != "sentinel")
        started = self.clock()
        self.kubectl("set", "image", f"statefulset/{h.name}", f"{dep.engine}={image}", "-n", h.namespace)
        self._rollout_status(h)
        dep.version = image.split(":", 1)[1]
        return self._rollout_outcome(h, order, "upgrade", started, f"kubectl set image {image}")

    def backup(self, dep: Deployment, source: PodInfo) -> OpOutcome:
        """kubeblocks: a Backup CR with the engine's method (its policy picks the pod: a secondary when
        one is there); statefulset: a dump of the one pod, copied into the run directory."""
        if dep.mode == "kubeblocks":
            return self._kubeblocks_backup(dep, source)
        by_hand = STATEFULSET_BACKUPS.get(dep.engine)
        if by_hand is not None:
            return by_hand(self, dep, source)
        raise CellNotApplicable(f"a {dep.engine} statefulset backup (mongodump over kubectl exec) is not "
                                f"implemented on {self.name} yet")

    def restore(self, dep: Deployment, backup: BackupArtifact) -> Deployment:
        """A new deployment from `backup`, beside the original (never in place); the caller tears it down."""
        h: K8sHandle = dep.handle
        if dep.mode == "kubeblocks":
            new = day2.restored_cluster_name(dep.engine)
            doc = day2.restore(self._ops_name(dep, "restore"), h.namespace, dep.engine, backup.location,
                               RESTORE_TIMEOUT_S)
            self._run_ops(dep, doc, RESTORE_TIMEOUT_S)
            port = restored_node_port(dep.engine, dep.mode)
            self._apply([day2.restored_nodeport_service(dep.engine, h.namespace, port)], h.namespace)
            restored = self._restored(dep, new, port)
            self.runner.wait(f"exactly one pod {ROLE_LABEL}=primary in cluster/{new} -n {h.namespace}",
                             lambda: self._only_primary(restored) is not None, ROLE_LABEL_TIMEOUT_S)
            return restored
        return self._restore_statefulset(dep, backup)

    def replication_state(self, dep: Deployment) -> list[ReplicaState]:
        """Per data pod, the engine's own status over `kubectl exec` (never the role label)."""
        h: K8sHandle = dep.handle
        pods = data_pods(self.pods(dep))
        password = self._password(dep)
        raw = {p.name: self._exec(h, p.name, dep.engine, STATUS_SCRIPTS[dep.engine], password, check=False).stdout
               for p in pods}
        return REPLICATION_STATES[dep.engine](pods, raw)

    # -- OpsRequests ------------------------------------------------------------------------------
    def _ops_name(self, dep: Deployment, what: str) -> str:
        self._ops_count += 1
        return f"{dep.handle.name}-{what}-{self._ops_count}"

    def _run_ops(self, dep: Deployment, doc: dict[str, Any], timeout_s: float) -> OpOutcome:
        """Applies the OpsRequest and waits for a terminal phase; anything but Succeed is an error."""
        h: K8sHandle = dep.handle
        name, type_ = doc["metadata"]["name"], doc["spec"]["type"]
        self._apply([doc], h.namespace)
        last = self._wait_terminal("opsrequests.operations.kubeblocks.io", "opsrequest", name, h.namespace,
                                   lambda text: ops_status(text, type_).phase, day2.OPS_TERMINAL, timeout_s)
        source = f"OpsRequest/{name}"
        if self._is_plan():
            return OpOutcome(source=source, phase=None, detail=f"dry run: {type_} planned")
        status = ops_status(last, type_)
        if status.phase != "Succeed":
            raise DeployError(f"{source} ({type_}) ended {status.phase}"
                              + (f": {status.message}" if status.message else "") + f" (progress {status.progress or '?'})")
        steps = status.steps
        if not steps and status.started_wall is not None:
            steps = (OpStep(cluster_name(dep.engine), type_.lower(), status.started_wall,
                            status.done_wall or status.started_wall, True, "no per-pod progress reported"),)
        return OpOutcome(steps=steps, source=source + " status.progressDetails", phase=status.phase,
                         detail=f"progress {status.progress}" if status.progress else "")

    def _wait_terminal(self, resource: str, kind: str, name: str, ns: str, phase_of: Callable[[str], str | None],
                       terminal: tuple[str, ...], timeout_s: float) -> str:
        """Polls the object until its `status.phase` is terminal; returns its last JSON."""
        last = {"json": ""}

        def done() -> bool:
            r = self.kubectl("get", f"{resource}/{name}", "-n", ns, "-o", "json", check=False)
            last["json"] = r.stdout
            return phase_of(r.stdout) in terminal

        self.runner.wait(f"{kind}/{name} -n {ns} status.phase terminal ({'|'.join(terminal)})", done, timeout_s)
        return last["json"]

    def _only_primary(self, dep: Deployment) -> str | None:
        pod = sole_primary(self.pods(dep))
        return pod.name if pod else None

    def _kubeblocks_only(self, dep: Deployment, what: str, why: str) -> K8sHandle:
        if dep.mode != "kubeblocks":
            raise CellNotApplicable(f"{what} on a statefulset deployment: {why}")
        return dep.handle

    # -- StatefulSet rollouts ---------------------------------------------------------------------
    def _rollout_status(self, h: K8sHandle) -> None:
        self.kubectl("rollout", "status", f"statefulset/{h.name}", "-n", h.namespace,
                     f"--timeout={int(ROLLOUT_TIMEOUT_S)}s", timeout_s=ROLLOUT_TIMEOUT_S + 30)

    def _rollout_outcome(self, h: K8sHandle, order: tuple[PodInfo, ...], action: str, started: float,
                         how: str) -> OpOutcome:
        done = self.clock()
        steps = tuple(OpStep(p.name, action, started, done, True, "the rollout's window (kubectl rollout status)")
                      for p in order)
        return OpOutcome(steps=steps, source=f"statefulset/{h.name} rollout", phase=None, detail=how)

    # -- backups ----------------------------------------------------------------------------------
    def _kubeblocks_backup(self, dep: Deployment, source: PodInfo) -> OpOutcome:
        h: K8sHandle = dep.handle
        self._ensure_backup_repo()
        policy = day2.backup_policy_name(dep.engine)
        self.runner.wait(
            f"backuppolicy/{policy} -n {h.namespace} status.phase=Available (KubeBlocks' data-protection controller "
            "creates it from the addon's template)",
            lambda: self._jsonpath(f"backuppolicies.dataprotection.kubeblocks.io/{policy}", h.namespace) == "Available",
            BACKUP_POLICY_TIMEOUT_S)
        name = self._ops_name(dep, "backup")
        self._apply([day2.backup(name, h.namespace, dep.engine)], h.namespace)
        last = self._wait_terminal("backups.dataprotection.kubeblocks.io", "backup", name, h.namespace,
                                   lambda text: backup_status(text).phase, day2.BACKUP_TERMINAL, BACKUP_TIMEOUT_S)
        method = day2.BACKUP_METHOD[dep.engine]
        if self._is_plan():
            artifact = BackupArtifact(method, source.name, name, None)
            return OpOutcome(source=f"Backup/{name}", backup=artifact, detail="dry run: backup planned")
        st = backup_status(last)
        if st.phase != "Completed":
            raise DeployError(f"Backup/{name} ({method}) ended {st.phase}" + (f": {st.failure}" if st.failure else ""))
        pod = st.source_pod or source.name
        detail = "" if pod == source.name else f"KubeBlocks' policy chose {pod} (the harness aimed at {source.name})"
        artifact = BackupArtifact(method, pod, name, st.size_bytes, st.consistent_point)
        start = st.started_wall if st.started_wall is not None else self.clock()
        steps = (OpStep(pod, "backup", start, st.done_wall or start, True, f"{method} to BackupRepo"),)
        return OpOutcome(steps=steps, source=f"Backup/{name} status", phase=st.phase, backup=artifact, detail=detail)

    def _ensure_backup_repo(self) -> None:
        """Once per run: MinIO in `<prefix>-backup`, then the default BackupRepo on it, Ready."""
        if self._backup_repo is not None:
            return
        ns = f"{self.settings.namespace_prefix}-{BACKUP_NAMESPACE_SUFFIX}"
        access = "" if self.runner.dry_run else secrets.token_hex(10)
        secret = "" if self.runner.dry_run else secrets.token_urlsafe(24)
        self.runner.note(f"backup repository: MinIO in namespace {ns}, BackupRepo {day2.BACKUP_REPO} (accessMethod Tool)")
        self._apply(day2.backup_repo_manifests(ns, access, secret), ns)
        self._backup_repo = ns
        self.runner.wait(f"deployment/{day2.MINIO_SERVICE} -n {ns} readyReplicas=1",
                         lambda: self._jsonpath(f"deployment/{day2.MINIO_SERVICE}", ns, "{.status.readyReplicas}") == "1",
                         BACKUP_REPO_TIMEOUT_S)
        self.runner.wait(f"backuprepo/{day2.BACKUP_REPO} status.phase=Ready",
                         lambda: self._jsonpath(f"backuprepos.dataprotection.kubeblocks.io/{day2.BACKUP_REPO}", None)
                         == "Ready", BACKUP_REPO_TIMEOUT_S)

    def _delete_backup_repo(self) -> None:
        if self._backup_repo is None:
            return
        self.kubectl("delete", f"backuprepos.dataprotection.kubeblocks.io/{day2.BACKUP_REPO}", "--ignore-not-found",
                     check=False)
        self.kubectl("delete", "namespace", self._backup_repo, "--ignore-not-found", "--wait=true", timeout_s=330,
                     check=False)
        self._backup_repo = None

    def _backup_dir(self, dep: Deployment) -> Path:
        folder = self.run_dir / "backups" / dep.id
        if not self.runner.dry_run:
            folder.mkdir(parents=True, exist_ok=True)
        return folder

    def _mysql_dump(self, dep: Deployment, source: PodInfo) -> OpOutcome:
        """`mysqldump --single-transaction` (the StatefulSet image is Oracle's mysql: its own client)."""
        h: K8sHandle = dep.handle
        path = self._backup_dir(dep) / "mysqldump.sql"
        started = self.clock()
        r = self._exec(h, source.name, dep.engine, MYSQL_DUMP, self._password(dep), timeout_s=DUMP_TIMEOUT_S)
        done = self.clock()
        if not self.runner.dry_run:
            path.write_text(r.stdout)
        self.runner.note(f"the dump goes to {path}")
        point = re.search(r"SOURCE_LOG_FILE='([^']+)', SOURCE_LOG_POS=(\d+)", r.stdout)
        artifact = BackupArtifact("mysqldump", source.name, str(path), len(r.stdout.encode()),
                                  f"{point.group(1)}:{point.group(2)}" if point else None, handle=path)
        return OpOutcome((OpStep(source.name, "backup", started, done, True, "mysqldump --single-transaction"),),
                         source="kubectl exec mysqldump", backup=artifact)

    def _redis_rdb(self, dep: Deployment, source: PodInfo) -> OpOutcome:
        """BGSAVE, wait until LASTSAVE moves, then `kubectl cp` the RDB file out."""
        h: K8sHandle = dep.handle
        password = self._password(dep)

        def lastsave() -> str:
            return self._exec(h, source.name, "redis", READ_PW + f"{REDIS} LASTSAVE", password, check=False).stdout.strip()

        started = self.clock()
        before = lastsave()
        self._exec(h, source.name, "redis", READ_PW + f"{REDIS} BGSAVE", password)
        saved: dict[str, str] = {}

        def moved() -> bool:
            saved["at"] = lastsave()
            return bool(saved["at"]) and saved["at"] != before

        self.runner.wait(f"redis LASTSAVE on {source.name} newer than {before or 'the one before BGSAVE'}", moved,
                         DUMP_TIMEOUT_S)
        path = self._backup_dir(dep) / "dump.rdb"
        self.kubectl("cp", "-c", "redis", f"{h.namespace}/{source.name}:{statefulset.DATA_PATH['redis']}/dump.rdb",
                     str(path), timeout_s=DUMP_TIMEOUT_S)
        done = self.clock()
        size = path.stat().st_size if path.exists() else None
        artifact = BackupArtifact("bgsave", source.name, str(path), size,
                                  f"RDB saved at {saved['at']}" if saved.get("at") else None, handle=path)
        return OpOutcome((OpStep(source.name, "backup", started, done, True, "BGSAVE + kubectl cp"),),
                         source="kubectl exec redis-cli BGSAVE", backup=artifact)

    # -- restores ---------------------------------------------------------------------------------
    @staticmethod
    def _restored(dep: Deployment, name: str, port: int) -> Deployment:
        h: K8sHandle = dep.handle
        return Deployment(id=f"{dep.id}{day2.RESTORED_SUFFIX}", engine=dep.engine, mode=dep.mode, platform=dep.platform,
                          topology=dep.topology, version=dep.version, handle=h.restored(name, port))

    def _restore_statefulset(self, dep: Deployment, backup: BackupArtifact) -> Deployment:
        """A second StatefulSet `<engine>-restored` beside the first (same Secret), loaded from the dump."""
        h: K8sHandle = dep.handle
        if dep.engine not in STATEFULSET_BACKUPS:
            raise CellNotApplicable(f"a {dep.engine} statefulset restore is not implemented on {self.name} yet")
        port = restored_node_port(dep.engine, dep.mode)
        name = day2.restored_statefulset_name(dep.engine)
        spec = h.spec or DeploySpec()
        docs = day2.restored_statefulset(statefulset.manifests(dep.engine, h.namespace, spec, ""), dep.engine, port)
        self._apply(docs, h.namespace)
        restored = self._restored(dep, name, port)
        pod = f"{name}-0"
        password = self._password(dep)
        if backup.method == "bgsave":  # an RDB: into the volume before the server starts
            self.runner.wait(f"pod/{pod} -n {h.namespace} init container restore-wait running",
                             lambda: bool(self._jsonpath(f"pod/{pod}", h.namespace,
                                                         "{.status.initContainerStatuses[0].state.running}")),
                             ROLLOUT_TIMEOUT_S)
            self.kubectl("cp", "-c", "restore-wait", backup.location, f"{h.namespace}/{pod}:/data/dump.rdb",
                         timeout_s=DUMP_TIMEOUT_S)
            self.kubectl("exec", "-n", h.namespace, pod, "-c", "restore-wait", "--", "touch", day2.RESTORE_WAIT_FILE)
        self.runner.wait(f"statefulset/{name} -n {h.namespace} readyReplicas=1 (readiness probe passed)",
                         lambda: self._ready_replicas(h.namespace, name) == 1, ROLLOUT_TIMEOUT_S)
        if backup.method == "mysqldump":  # SQL: loaded once the server takes connections
            dump = "" if self.runner.dry_run else Path(backup.location).read_text()
            self._exec(h, pod, "mysql", MYSQL_LOAD, password, extra_stdin=dump, timeout_s=DUMP_TIMEOUT_S,
                       label=f"the password, then {backup.location}")
        return restored

    # -- helpers ----------------------------------------------------------------------------------
    def _password(self, dep: Deployment) -> str:
        return self.endpoint(dep).password

    def _exec(self, h: K8sHandle, pod: str, container: str, script: str, password: str, *, check: bool = True,
              extra_stdin: str = "", timeout_s: float = 60.0, label: str = "the password") -> CommandResult:
        """`kubectl exec -i` of a shell script whose first stdin line is the password (never in an argv)."""
        return self.kubectl("exec", "-i", "-n", h.namespace, pod, "-c", container, "--", "/bin/sh", "-c", script,
                            stdin=password + "\n" + extra_stdin, stdin_label=f"{label} (not shown)", quiet=True,
                            check=check, timeout_s=timeout_s)

    def _jsonpath(self, obj: str, ns: str | None, path: str = "{.status.phase}") -> str:
        where = ["-n", ns] if ns else []
        r = self.kubectl("get", obj, *where, "-o", f"jsonpath={path}", check=False)
        return r.stdout.strip()



def _mysql_states(pods: list[PodInfo], raw: dict[str, str]) -> list[ReplicaState]:
    primaries = [p for p in pods if mysql_state(p.name, raw[p.name], None).role == "primary"]
    primary = primaries[0] if len(primaries) == 1 else None
    return [mysql_state(p.name, raw[p.name], primary) for p in pods]


def _redis_states(pods: list[PodInfo], raw: dict[str, str]) -> list[ReplicaState]:
    masters = [p for p in pods if redis_state(p.name, raw[p.name], None, None).role == "primary"]
    master = masters[0] if len(masters) == 1 else None
    offset = redis_offset(raw[master.name]) if master else None
    return [redis_state(p.name, raw[p.name], master, offset) for p in pods]


def _mongodb_states(pods: list[PodInfo], raw: dict[str, str]) -> list[ReplicaState]:
    return [mongodb_state(p.name, raw[p.name]) for p in pods]


# Per-engine tables (harness/engines/__init__.py lists them): how the engine's own status reads, and
# what an SRE runs by hand to back up a StatefulSet's one pod (mongodb: not yet).
REPLICATION_STATES = {"mysql": _mysql_states, "redis": _redis_states, "mongodb": _mongodb_states}
STATEFULSET_BACKUPS = {"mysql": KubernetesDay2._mysql_dump, "redis": KubernetesDay2._redis_rdb}
