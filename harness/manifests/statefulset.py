"""The plain baseline: OpenIM's StatefulSets (deployments/deploy/*.yml), with their flaws fixed.

Fixed (reference/kubeblocks.md section 6): `volumeClaimTemplates` instead of one shared RWO PVC,
a headless Service whose name matches `serviceName`, a Secret whose name and key match what the
pod references, `replicas: 1` (two unreplicated servers behind one Service is not a baseline).
Pinned to zone-a like the local platform's statefulset pod. Plus a NodePort Service for host
clients, and an upstream exporter sidecar (exporters.py). Pure: the password is passed in; `harness manifests` passes a placeholder.

Added: an exec readiness probe per engine that only passes once the real server takes
connections. The official mysql and mongo images first run a temporary server for their init
scripts (mysql with `--skip-networking`, mongo bound to 127.0.0.1 only) for 10-30 s; a pod with
no probe is Ready, and in the Service, while that happens. So the probes of those two connect to
the pod's own IP (from the downward API), which the temporary server does not listen on.
"""

from __future__ import annotations

from typing import Any

from harness import engines
from harness.contracts import DeploySpec
from harness.manifests.common import (
    HARNESS_LABEL,
    SERVER_PORTS,
    ZONE_LABEL,
    client_service,
    nodeport_service,
    observe_labels,
    password_secret,
)
from harness.manifests.exporters import sidecar

# OpenIM's images (.env of open-im-server v3.8.x); MySQL from OpenIM <= 3.4's chart line.
IMAGES = {"mysql": "mysql:8.0.44", "redis": "redis:7.0.0", "mongodb": "mongo:7.0"}
DATA_PATH = {"mysql": "/var/lib/mysql", "redis": "/data", "mongodb": "/data/db"}
PLACEHOLDER_PASSWORD = "set-at-run-time"
BASELINE_ZONE = "zone-a"

# Readiness probes: what each asks, and why it cannot pass on the image's temporary init server.
# Password variables are expanded inside the container; no value is in the manifest.
READINESS_COMMANDS = {
    # mysqladmin ping exits 0 whenever a server answers (even "access denied"); over TCP to the pod
    # IP it fails while the init server runs with --skip-networking.
    "mysql": 'MYSQL_PWD="$MYSQL_ROOT_PASSWORD" mysqladmin --user=root --host="$POD_IP" --protocol=TCP '
             "--connect-timeout=3 ping",
    # a PONG needs the password (REDISCLI_AUTH keeps it off the command line) and a loaded dataset
    "redis": 'REDISCLI_AUTH="$REDIS_PASSWORD" redis-cli -h 127.0.0.1 ping | grep -q PONG',
    # the init mongod binds 127.0.0.1 only; the real one binds every address (the image adds --bind_ip_all)
    "mongodb": "mongosh --quiet --host \"$POD_IP\" --port 27017 --eval 'db.adminCommand({ping: 1}).ok' | grep -q 1",
}
# mongosh is a node.js program: a second or more of startup at 0.5 CPU, hence the longer timeout.
PROBE_TIMEOUT_S = {"mysql": 5, "redis": 3, "mongodb": 10}


def _labels(engine: str) -> dict[str, str]:
    return {"app": engine}


def secret(engine: str, namespace: str, password: str) -> dict[str, Any]:
    name, key = password_secret(engine, "statefulset")
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace, "labels": {HARNESS_LABEL: "openim-kb-poc"}},
        "type": "Opaque",
        "stringData": {key: password},
    }


def readiness_probe(engine: str) -> dict[str, Any]:
    """Ready only when the real server takes connections (see the module docstring)."""
    return {
        "exec": {"command": ["/bin/sh", "-c", READINESS_COMMANDS[engine]]},
        "initialDelaySeconds": 5,
        "periodSeconds": 5,
        "timeoutSeconds": PROBE_TIMEOUT_S[engine],
        "failureThreshold": 3,
        "successThreshold": 1,
    }


def _container(engine: str, spec: DeploySpec) -> dict[str, Any]:
    port = SERVER_PORTS[engine]
    c: dict[str, Any] = {
        "name": engine,
        "image": IMAGES[engine],
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": engine, "containerPort": port, "protocol": "TCP"}],
        "resources": {
            "limits": {"cpu": spec.cpu, "memory": spec.memory},
            "requests": {"cpu": spec.cpu, "memory": spec.memory},
        },
        "volumeMounts": [{"name": "data", "mountPath": DATA_PATH[engine]}],
        "readinessProbe": readiness_probe(engine),
    }
    c.update(engines.get(engine).statefulset_container(spec))
    return c


def headless_service(engine: str, namespace: str) -> dict[str, Any]:
    port = SERVER_PORTS[engine]
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": engine, "namespace": namespace, "labels": {HARNESS_LABEL: "openim-kb-poc"}},
        "spec": {
            "clusterIP": "None",
            "selector": _labels(engine),
            "ports": [{"name": engine, "port": port, "targetPort": port, "protocol": "TCP"}],
        },
    }


def engine_nodeport_service(engine: str, namespace: str) -> dict[str, Any]:
    return nodeport_service(client_service(engine, "statefulset"), namespace, engine, "statefulset", _labels(engine))


def statefulset(engine: str, namespace: str, spec: DeploySpec) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": engine, "namespace": namespace, "labels": {HARNESS_LABEL: "openim-kb-poc"}},
        "spec": {
            "serviceName": engine,  # the headless Service above
            "replicas": 1,
            "selector": {"matchLabels": _labels(engine)},
            "template": {
                # the selector's labels plus the ones the Prometheus relabels (deployment, engine, mode)
                "metadata": {"labels": {**_labels(engine), **observe_labels(engine, "statefulset")},
                             # `kubectl exec/logs` without -c reach the server, not the exporter sidecar
                             "annotations": {"kubectl.kubernetes.io/default-container": engine}},
                "spec": {
                    "nodeSelector": {ZONE_LABEL: BASELINE_ZONE},
                    "terminationGracePeriodSeconds": 30,
                    "containers": [_container(engine, spec), sidecar(engine)],
                },
            },
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "data"},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": spec.storage}},
                    },
                }
            ],
        },
    }


def manifests(engine: str, namespace: str, spec: DeploySpec, password: str) -> list[dict[str, Any]]:
    """Everything the harness applies for a statefulset deployment, in apply order (Secret first)."""
    if engine not in SERVER_PORTS:
        raise ValueError(f"unknown engine {engine!r}")
    return [
        secret(engine, namespace, password),
        headless_service(engine, namespace),
        engine_nodeport_service(engine, namespace),
        statefulset(engine, namespace, spec),
    ]
