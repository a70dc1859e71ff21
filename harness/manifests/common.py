"""Names, labels and ports shared by the manifest builders and the kind/k8s platforms.

Kept in one place because the Services, the kind port mappings and the platforms' Endpoints
must agree on every number.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ZONE_LABEL = "topology.kubernetes.io/zone"
ROLE_LABEL = "kubeblocks.io/role"
INSTANCE_LABEL = "app.kubernetes.io/instance"
COMPONENT_LABEL = "apps.kubeblocks.io/component-name"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
HARNESS_LABEL = "openim-kb-poc/part-of"
# On the data pods, for the in-cluster Prometheus's relabeling (observability.py): which deployment,
# engine and mode a series is from. KubeBlocks' instance label is the Cluster name and the baseline
# pods have none, so the harness labels its pods itself.
DEPLOYMENT_LABEL = "openim-kb-poc/deployment"
ENGINE_LABEL = "openim-kb-poc/engine"
MODE_LABEL = "openim-kb-poc/mode"

NAMESPACE_PREFIX = "openim-poc"

# The server port each engine listens on inside its pod.
SERVER_PORTS: dict[str, int] = {"mysql": 3306, "redis": 6379, "mongodb": 27017}

# Host-reachable NodePorts (kind maps each to the same port on 127.0.0.1 of the host).
NODE_PORTS: dict[tuple[str, str], int] = {
    ("mysql", "kubeblocks"): 30306,
    ("redis", "kubeblocks"): 30379,
    ("mongodb", "kubeblocks"): 30017,
    ("mysql", "statefulset"): 30307,
    ("redis", "statefulset"): 30380,
    ("mongodb", "statefulset"): 30018,
}
# The in-cluster Prometheus's NodePort (kind maps it to 127.0.0.1 of the host like the others).
PROMETHEUS_NODE_PORT = 30090


def deployment_id(engine: str, mode: str) -> str:
    """The kind/k8s `Deployment.id`, and the `deployment` label on its series."""
    return f"{engine}-{mode}"


def observe_labels(engine: str, mode: str) -> dict[str, str]:
    """The labels the Prometheus relabeling turns into `deployment`, `engine` and `mode`."""
    return {DEPLOYMENT_LABEL: deployment_id(engine, mode), ENGINE_LABEL: engine, MODE_LABEL: mode}


def namespace_for(engine: str, mode: str, prefix: str = NAMESPACE_PREFIX) -> str:
    """One namespace per deployment, so teardown is a namespace delete and nothing else leaks."""
    return f"{prefix}-{engine}-{mode}"


def observability_namespace(prefix: str = NAMESPACE_PREFIX) -> str:
    """Where the in-cluster Prometheus runs: apart from the deployments, whose teardown deletes theirs."""
    return f"{prefix}-observability"


def harness_namespaces(prefix: str = NAMESPACE_PREFIX) -> list[str]:
    """Every deployment namespace, which the Prometheus discovers pods in."""
    from harness.contracts import ENGINES, MODES

    return [namespace_for(e, m, prefix) for e in ENGINES for m in MODES]


def cluster_name(engine: str) -> str:
    """The KubeBlocks Cluster name; Services, Secrets and the Sentinel master derive from it."""
    return f"{engine}-kb"


@dataclass(frozen=True)
class DataComponent:
    """The data-bearing component of a deployment: what its pods are labelled with."""

    name: str  # KubeBlocks component name, or the StatefulSet name
    selector: dict[str, str]  # labels of its pods (no role)


def data_component(engine: str, mode: str) -> DataComponent:
    if mode == "kubeblocks":
        return DataComponent(engine, {INSTANCE_LABEL: cluster_name(engine), COMPONENT_LABEL: engine})
    return DataComponent(engine, {"app": engine})


def password_secret(engine: str, mode: str) -> tuple[str, str]:
    """(Secret name, key) holding the password clients use (reference/kubeblocks.md section 3)."""
    if mode == "kubeblocks":
        account = {"mysql": "root", "redis": "default", "mongodb": "root"}[engine]
        return f"{cluster_name(engine)}-{engine}-account-{account}", "password"
    return f"{engine}-secret", f"{engine}-password"


def statefulset_secret_env(engine: str, var: str) -> dict[str, Any]:
    """An env var of the baseline container read from the Secret `password_secret` names."""
    name, key = password_secret(engine, "statefulset")
    return {"name": var, "valueFrom": {"secretKeyRef": {"name": name, "key": key}}}


def pod_ip_env() -> dict[str, Any]:
    """POD_IP from the downward API: readiness probes connect to it (see statefulset.py)."""
    return {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}


def client_service(engine: str, mode: str) -> str:
    """The harness-owned NodePort Service clients connect through (its endpoints are the evidence of
    where new connections go during a fault)."""
    return f"{cluster_name(engine)}-primary-nodeport" if mode == "kubeblocks" else f"{engine}-nodeport"


def nodeport_service(name: str, namespace: str, engine: str, mode: str, selector: dict[str, str]) -> dict[str, Any]:
    """A NodePort Service on the engine's port, at the node port kind maps to 127.0.0.1 for this mode."""
    port = SERVER_PORTS[engine]
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "labels": {HARNESS_LABEL: "openim-kb-poc"}},
        "spec": {
            "type": "NodePort",
            "selector": selector,
            "ports": [
                {
                    "name": engine,
                    "port": port,
                    "targetPort": port,
                    "nodePort": NODE_PORTS[(engine, mode)],
                    "protocol": "TCP",
                }
            ],
        },
    }


def restored_node_port(engine: str, mode: str) -> int:
    """The node port of a restored copy: the other mode's port of the same engine. Cells run one at a
    time, so that port is free while this cell runs, and kind already maps it to the host's loopback
    (a new port would change the kind cluster's configuration)."""
    other = "statefulset" if mode == "kubeblocks" else "kubeblocks"
    return NODE_PORTS[(engine, other)]
