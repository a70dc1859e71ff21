"""Day-2 objects the kind/k8s platforms apply (pure: names in, dicts out).

KubeBlocks: `operations.kubeblocks.io/v1alpha1` OpsRequests (Switchover, Restart, HorizontalScaling,
Upgrade, Restore) and `dataprotection.kubeblocks.io/v1alpha1` Backups, shaped as KubeBlocks' own
examples write them (reference/kubeblocks-day2.md section 1). Plus the backup repository the
harness brings along (`backup_repo_manifests`): a Backup needs a BackupRepo, and a kind cluster has
none. The StatefulSet baseline's restored copy is in here too (`restored_statefulset`).

Every version the upgrade scenario moves between is in `UPGRADES`, nowhere else.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from harness.manifests.common import (
    COMPONENT_LABEL,
    HARNESS_LABEL,
    INSTANCE_LABEL,
    ROLE_LABEL,
    SERVER_PORTS,
    cluster_name,
)

OPS_API = "operations.kubeblocks.io/v1alpha1"
DP_API = "dataprotection.kubeblocks.io/v1alpha1"
# OpsRequest status.phase values after which nothing changes any more (opsrequest_types.go)
OPS_TERMINAL = ("Succeed", "Failed", "Cancelled", "Aborted")
BACKUP_TERMINAL = ("Completed", "Failed")
# The addons' BackupPolicyTemplates (addons/<x>/templates/backuppolicytemplate.yaml): xtrabackup and the
# Redis datafile are the full backups of their engines; MongoDB's `datafile` is a tar of a live data
# directory the script itself calls possibly inconsistent, so `dump` (mongodump) is used instead.
BACKUP_METHOD = {"mysql": "xtrabackup", "redis": "datafile", "mongodb": "dump"}
RESTORED_SUFFIX = "-restored"


@dataclass(frozen=True)
class UpgradePath:
    """One minor upgrade per engine and mode. KubeBlocks: serviceVersions the v1.0.2 addons offer
    (reference/kubeblocks.md section 1); the deployment starts at `kubeblocks_from` (the platform
    checks both against the addon's ComponentVersion). StatefulSet: the image OpenIM ships
    (statefulset.IMAGES) is replaced by `image_to`, a newer patch of the same line."""

    kubeblocks_from: str
    kubeblocks_to: str
    image_to: str


UPGRADES: dict[str, UpgradePath] = {
    "mysql": UpgradePath("8.0.39", "8.0.44", "mysql:8.0.45"),
    "redis": UpgradePath("7.2.4", "7.2.7", "redis:7.0.15"),
    # 6.0.16 is the 0.9 addon's version; the v1.0.2 list is read at run time (ComponentVersion mongodb)
    "mongodb": UpgradePath("6.0.16", "6.0.27", "mongo:7.0.28"),
}


def _meta(name: str, namespace: str | None, **extra: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    meta["labels"] = {HARNESS_LABEL: "openim-kb-poc"}
    meta.update(extra)
    return meta


def opsrequest(name: str, namespace: str, cluster: str, type_: str, body: dict[str, Any],
               timeout_s: float | None = None) -> dict[str, Any]:
    """An OpsRequest; `timeout_s` becomes `timeoutSeconds` (past it KubeBlocks marks it Aborted)."""
    spec: dict[str, Any] = {"clusterName": cluster, "type": type_, **body}
    if timeout_s is not None:
        spec["timeoutSeconds"] = int(timeout_s)
    return {"apiVersion": OPS_API, "kind": "OpsRequest", "metadata": _meta(name, namespace), "spec": spec}


def switchover(name: str, namespace: str, engine: str, primary: str, candidate: str | None,
               timeout_s: float | None = None) -> dict[str, Any]:
    """`instanceName` must be the current primary; a candidate makes KubeBlocks wait for its role."""
    item = {"componentName": engine, "instanceName": primary}
    if candidate:
        item["candidateName"] = candidate
    return opsrequest(name, namespace, cluster_name(engine), "Switchover", {"switchover": [item]}, timeout_s)


def restart(name: str, namespace: str, engine: str, timeout_s: float | None = None) -> dict[str, Any]:
    return opsrequest(name, namespace, cluster_name(engine), "Restart", {"restart": [{"componentName": engine}]},
                      timeout_s)


def scale_out(name: str, namespace: str, engine: str, replica_changes: int = 1,
              timeout_s: float | None = None) -> dict[str, Any]:
    body = {"horizontalScaling": [{"componentName": engine, "scaleOut": {"replicaChanges": replica_changes}}]}
    return opsrequest(name, namespace, cluster_name(engine), "HorizontalScaling", body, timeout_s)


def upgrade(name: str, namespace: str, engine: str, service_version: str,
            timeout_s: float | None = None) -> dict[str, Any]:
    body = {"upgrade": {"components": [{"componentName": engine, "serviceVersion": service_version}]}}
    return opsrequest(name, namespace, cluster_name(engine), "Upgrade", body, timeout_s)


def restored_cluster_name(engine: str) -> str:
    return cluster_name(engine) + RESTORED_SUFFIX


def restore(name: str, namespace: str, engine: str, backup_name: str, timeout_s: float | None = None) -> dict[str, Any]:
    """Restore creates a NEW Cluster (`clusterName`) from the Backup's cluster snapshot; never in place."""
    body = {"restore": {"backupName": backup_name, "backupNamespace": namespace, "volumeRestorePolicy": "Parallel"}}
    return opsrequest(name, namespace, restored_cluster_name(engine), "Restore", body, timeout_s)


def backup_policy_name(engine: str) -> str:
    """The policy KubeBlocks creates per component from the addon's template: `<cluster>-<comp>-backup-policy`."""
    return f"{cluster_name(engine)}-{engine}-backup-policy"


def backup(name: str, namespace: str, engine: str) -> dict[str, Any]:
    """A full Backup with the engine's method; `Delete`: its data goes with the namespace at teardown."""
    return {
        "apiVersion": DP_API,
        "kind": "Backup",
        "metadata": _meta(name, namespace),
        "spec": {"backupPolicyName": backup_policy_name(engine), "backupMethod": BACKUP_METHOD[engine],
                 "deletionPolicy": "Delete"},
    }


def restored_nodeport_service(engine: str, namespace: str, node_port: int) -> dict[str, Any]:
    """A NodePort Service on the restored Cluster's primary (see common.restored_node_port for the port)."""
    name = restored_cluster_name(engine)
    port = SERVER_PORTS[engine]
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(f"{name}-primary-nodeport", namespace),
        "spec": {"type": "NodePort",
                 "selector": {INSTANCE_LABEL: name, COMPONENT_LABEL: engine, ROLE_LABEL: "primary"},
                 "ports": [{"name": engine, "port": port, "targetPort": port, "nodePort": node_port,
                            "protocol": "TCP"}]},
    }


# -- the backup repository ------------------------------------------------------------------------
# OpenIM's own object store image (open-im-server .env MINIO_IMAGE).
MINIO_IMAGE = "minio/minio:RELEASE.2024-01-11T07-46-16Z"
BACKUP_REPO = "openim-poc-minio"
BACKUP_BUCKET = "openim-poc-backups"
MINIO_SERVICE = "backup-minio"
MINIO_SECRET = "backup-minio-credential"
MINIO_PORT = 9000


def minio_endpoint(namespace: str) -> str:
    return f"http://{MINIO_SERVICE}.{namespace}.svc.cluster.local:{MINIO_PORT}"


def minio_secret(namespace: str, access_key: str, secret_key: str) -> dict[str, Any]:
    """The keys KubeBlocks' `minio` StorageProvider reads (accessKeyId, secretAccessKey), which are also
    MinIO's root user: one Secret serves both sides."""
    return {"apiVersion": "v1", "kind": "Secret", "metadata": _meta(MINIO_SECRET, namespace), "type": "Opaque",
            "stringData": {"accessKeyId": access_key, "secretAccessKey": secret_key}}


def _minio_env(key: str, var: str) -> dict[str, Any]:
    return {"name": var, "valueFrom": {"secretKeyRef": {"name": MINIO_SECRET, "key": key}}}


def minio_deployment(namespace: str) -> dict[str, Any]:
    """One MinIO on an emptyDir: the repository lives as long as the run (backups are deleted with their
    namespace anyway). The bucket directory is made before the server starts."""
    labels = {"app": MINIO_SERVICE}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(MINIO_SERVICE, namespace),
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{
                    "name": "minio",
                    "image": MINIO_IMAGE,
                    "imagePullPolicy": "IfNotPresent",
                    "command": ["/bin/sh", "-c",
                                f"mkdir -p /data/{BACKUP_BUCKET} && exec minio server /data --address :{MINIO_PORT}"],
                    "env": [_minio_env("accessKeyId", "MINIO_ROOT_USER"),
                            _minio_env("secretAccessKey", "MINIO_ROOT_PASSWORD")],
                    "ports": [{"name": "s3", "containerPort": MINIO_PORT, "protocol": "TCP"}],
                    "readinessProbe": {"httpGet": {"path": "/minio/health/ready", "port": MINIO_PORT},
                                       "periodSeconds": 5, "failureThreshold": 6},
                    "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                }],
                    "volumes": [{"name": "data", "emptyDir": {}}]},
            },
        },
    }


def minio_service(namespace: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": _meta(MINIO_SERVICE, namespace),
            "spec": {"selector": {"app": MINIO_SERVICE},
                     "ports": [{"name": "s3", "port": MINIO_PORT, "targetPort": MINIO_PORT, "protocol": "TCP"}]}}


def backup_repo(namespace: str) -> dict[str, Any]:
    """The default BackupRepo on the MinIO above (cluster-scoped).

    `accessMethod: Tool`: backup jobs push through datasafed over S3, so no CSI driver is needed; a
    `pvc` repo would not do on kind, since backup jobs run on the target pod's node
    (`runOnTargetPodNode: true` in the addons' ActionSets) and local-path volumes are pinned to one
    node (reference/kubeblocks-day2.md, BackupRepo)."""
    return {
        "apiVersion": DP_API,
        "kind": "BackupRepo",
        "metadata": _meta(BACKUP_REPO, None, annotations={"dataprotection.kubeblocks.io/is-default-repo": "true"}),
        "spec": {
            "storageProviderRef": "minio",
            "accessMethod": "Tool",
            "pvReclaimPolicy": "Retain",
            "volumeCapacity": "20Gi",
            "config": {"bucket": BACKUP_BUCKET, "endpoint": minio_endpoint(namespace), "region": "us-east-1"},
            "credential": {"name": MINIO_SECRET, "namespace": namespace},
        },
    }


def backup_repo_manifests(namespace: str, access_key: str, secret_key: str) -> list[dict[str, Any]]:
    """In apply order: namespace, credential Secret, MinIO, its Service, then the BackupRepo."""
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace, "labels": {HARNESS_LABEL: "openim-kb-poc"}}}
    return [ns, minio_secret(namespace, access_key, secret_key), minio_deployment(namespace), minio_service(namespace),
            backup_repo(namespace)]


# -- the StatefulSet baseline's restored copy ----------------------------------------------------
RESTORE_WAIT_FILE = "/data/.restore-ready"  # redis: the RDB is in place; the server may start


def restored_statefulset_name(engine: str) -> str:
    return engine + RESTORED_SUFFIX


def restored_statefulset(manifests: list[dict[str, Any]], engine: str, node_port: int) -> list[dict[str, Any]]:
    """The baseline's Services and StatefulSet (`statefulset.manifests`, minus its Secret, which the copy
    shares) renamed `<engine>-restored`, with its own labels and node port.

    Redis gets an init container that waits until the harness has copied the RDB file into the new
    volume (`kubectl cp`, then the marker `RESTORE_WAIT_FILE`), and starts with `--appendonly no`, so
    the server loads that RDB rather than an empty append-only file (the copy is only read back)."""
    name = restored_statefulset_name(engine)
    out: list[dict[str, Any]] = []
    for doc in manifests:
        if doc["kind"] == "Secret":
            continue
        d = copy.deepcopy(doc)
        spec = d["spec"]
        if d["kind"] == "Service":
            d["metadata"]["name"] = name if spec.get("clusterIP") == "None" else f"{name}-nodeport"
            spec["selector"] = {"app": name}
            for p in spec["ports"]:
                if "nodePort" in p:
                    p["nodePort"] = node_port
        elif d["kind"] == "StatefulSet":
            d["metadata"]["name"] = name
            spec["serviceName"] = name
            spec["selector"] = {"matchLabels": {"app": name}}
            pod = spec["template"]
            pod["metadata"]["labels"] = {"app": name}
            patch = RESTORED_POD_PATCHES.get(engine)
            if patch is not None:
                patch(pod["spec"])
        out.append(d)
    return out


def _redis_waits_for_its_rdb(pod: dict[str, Any]) -> None:
    main = pod["containers"][0]
    wait = f"until [ -f {RESTORE_WAIT_FILE} ]; do sleep 1; done"
    pod["initContainers"] = [{"name": "restore-wait", "image": main["image"], "imagePullPolicy": "IfNotPresent",
                              "command": ["/bin/sh", "-c", wait],
                              "volumeMounts": [{"name": "data", "mountPath": "/data"}]}]
    main["command"] = ["/bin/sh", "-c", 'exec redis-server --requirepass "$REDIS_PASSWORD" --appendonly no']


# Per-engine table (harness/engines/__init__.py lists it): what a restored StatefulSet's pod needs
# before its server starts (redis: the RDB copied into its volume first).
RESTORED_POD_PATCHES = {"redis": _redis_waits_for_its_rdb}
