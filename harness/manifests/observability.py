"""A pinned Prometheus in the cluster (pure): it scrapes both modes' exporters with one job, at 1 s,
and evaluates the same alert rules as the local platform's (harness/observe/rules.py).

KubeBlocks 1.0 creates no PodMonitor, so nothing here needs the Prometheus operator: plain pod
service discovery over the harness's namespaces, keeping the container ports named `http-metrics` or
`exporter` (the addons' names, which the baseline sidecars reuse) on pods carrying the harness's
deployment label. Relabeling gives every series `deployment`, `engine`, `mode`, `pod`, `zone`, `role`
and `kind="exporter"`, which the rules and the report select on. The zone comes from the node
(`attach_metadata.node`, hence the `nodes` permission). The host reaches it on 127.0.0.1 only: kind
maps the NodePort there, the k8s platform runs `kubectl port-forward --address 127.0.0.1`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import yaml

from harness.manifests.common import (
    DEPLOYMENT_LABEL,
    ENGINE_LABEL,
    HARNESS_LABEL,
    INSTANCE_LABEL,
    MODE_LABEL,
    PROMETHEUS_NODE_PORT,
    ROLE_LABEL,
    ZONE_LABEL,
)
from harness.manifests.day2 import RESTORED_SUFFIX
from harness.manifests.exporters import SCRAPE_PORT_NAMES
from harness.observe.metrics import SCRAPE_INTERVAL_S
from harness.observe.rules import rules_text

IMAGE = "prom/prometheus:v2.42.0"  # the version the local platform runs (Debian 12's)
NAME = "prometheus"
PORT = 9090
CONFIG_FILE = "prometheus.yml"
RULES_FILE = "harness-rules.yml"
_PART_OF = {HARNESS_LABEL: "openim-kb-poc"}
_APP = {"app": NAME}


def _meta_label(label: str) -> str:
    """Prometheus's meta label for a Kubernetes label (every non-alphanumeric character becomes `_`)."""
    return "".join(c if c.isalnum() else "_" for c in label)


def _seconds(s: float) -> str:
    return f"{s:g}s"


def _relabel(source: str, target: str) -> dict[str, Any]:
    return {"source_labels": [source], "target_label": target, "action": "replace"}


def prometheus_config(namespaces: Iterable[str]) -> dict[str, Any]:
    """prometheus.yml: one job over the pods of `namespaces`."""
    pod_label = "__meta_kubernetes_pod_label_"
    interval = _seconds(SCRAPE_INTERVAL_S)
    return {
        "global": {"scrape_interval": interval, "evaluation_interval": interval, "scrape_timeout": interval},
        "rule_files": [f"/etc/prometheus/rules/{RULES_FILE}"],
        "scrape_configs": [{
            "job_name": "exporters",
            "kubernetes_sd_configs": [{"role": "pod", "namespaces": {"names": sorted(namespaces)},
                                       "attach_metadata": {"node": True}}],
            "relabel_configs": [
                {"source_labels": ["__meta_kubernetes_pod_container_port_name"], "action": "keep",
                 "regex": "|".join(SCRAPE_PORT_NAMES)},
                {"source_labels": [pod_label + _meta_label(DEPLOYMENT_LABEL)], "action": "keep", "regex": ".+"},
                _relabel(pod_label + _meta_label(DEPLOYMENT_LABEL), "deployment"),
                # a Cluster restored from a backup keeps the original's component labels: its own name
                {"source_labels": [pod_label + _meta_label(INSTANCE_LABEL), "deployment"], "separator": ";",
                 "regex": f".+{RESTORED_SUFFIX};(.+)", "target_label": "deployment",
                 "replacement": "${1}" + RESTORED_SUFFIX, "action": "replace"},
                _relabel(pod_label + _meta_label(ENGINE_LABEL), "engine"),
                _relabel(pod_label + _meta_label(MODE_LABEL), "mode"),
                _relabel("__meta_kubernetes_pod_name", "pod"),
                _relabel("__meta_kubernetes_namespace", "namespace"),
                _relabel("__meta_kubernetes_node_label_" + _meta_label(ZONE_LABEL), "zone"),
                _relabel(pod_label + _meta_label(ROLE_LABEL), "role"),
                {"target_label": "kind", "replacement": "exporter", "action": "replace"},
            ],
        }],
    }


def _meta(name: str, namespace: str | None = None) -> dict[str, Any]:
    m: dict[str, Any] = {"name": name, "labels": dict(_PART_OF)}
    if namespace:
        m["namespace"] = namespace
    return m


def cluster_role_name() -> str:
    return f"openim-poc-{NAME}"


def rbac(namespace: str) -> list[dict[str, Any]]:
    """Pod discovery across the harness's namespaces (a ClusterRole: they are several)."""
    role = cluster_role_name()
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(NAME, namespace)},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": _meta(role),
         "rules": [{"apiGroups": [""], "resources": ["pods", "endpoints", "services", "nodes"],
                    "verbs": ["get", "list", "watch"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": _meta(role),
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
         "subjects": [{"kind": "ServiceAccount", "name": NAME, "namespace": namespace}]},
    ]


def config_maps(namespace: str, scraped: Iterable[str], engines: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
    """The config and the rule file (JSON, which YAML reads), each in its own ConfigMap."""
    config = yaml.safe_dump(prometheus_config(scraped), sort_keys=False, default_flow_style=False)
    return [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta(f"{NAME}-config", namespace),
         "data": {CONFIG_FILE: config}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta(f"{NAME}-rules", namespace),
         "data": {RULES_FILE: rules_text(engines)}},
    ]


CONTROL_PLANE_LABEL = "node-role.kubernetes.io/control-plane"


def _on_control_plane() -> dict[str, Any]:
    """kind: on the control-plane node, which no zone fault stops or disconnects."""
    return {"nodeSelector": {CONTROL_PLANE_LABEL: ""},
            "tolerations": [{"key": CONTROL_PLANE_LABEL, "operator": "Exists", "effect": "NoSchedule"}]}


def deployment(namespace: str, control_plane: bool = False) -> dict[str, Any]:
    container = {
        "name": NAME, "image": IMAGE, "imagePullPolicy": "IfNotPresent",
        "args": [f"--config.file=/etc/prometheus/{CONFIG_FILE}", "--storage.tsdb.path=/prometheus",
                 f"--web.listen-address=0.0.0.0:{PORT}", "--storage.tsdb.retention.time=1d"],
        "ports": [{"name": "web", "containerPort": PORT, "protocol": "TCP"}],
        "readinessProbe": {"httpGet": {"path": "/-/ready", "port": PORT}, "periodSeconds": 2, "failureThreshold": 30},
        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
        "volumeMounts": [{"name": "config", "mountPath": "/etc/prometheus"},
                         {"name": "rules", "mountPath": "/etc/prometheus/rules"},
                         {"name": "data", "mountPath": "/prometheus"}],
    }
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": _meta(NAME, namespace),
        "spec": {"replicas": 1, "selector": {"matchLabels": dict(_APP)},
                 "template": {"metadata": {"labels": {**_APP, **_PART_OF}},
                              "spec": {"serviceAccountName": NAME, **(_on_control_plane() if control_plane else {}),
                                       "containers": [container],
                                       "volumes": [{"name": "config", "configMap": {"name": f"{NAME}-config"}},
                                                   {"name": "rules", "configMap": {"name": f"{NAME}-rules"}},
                                                   {"name": "data", "emptyDir": {}}]}}},
    }


def service(namespace: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": _meta(NAME, namespace),
            "spec": {"type": "NodePort", "selector": dict(_APP),
                     "ports": [{"name": "web", "port": PORT, "targetPort": PORT,
                                "nodePort": PROMETHEUS_NODE_PORT, "protocol": "TCP"}]}}


def manifests(namespace: str, scraped: Iterable[str], control_plane: bool = False) -> list[dict[str, Any]]:
    """Everything, in apply order (Namespace first; the Deployment after what it mounts)."""
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": _meta(namespace)}
    return [ns, *rbac(namespace), *config_maps(namespace, scraped), deployment(namespace, control_plane),
            service(namespace)]


def port_forward_args(namespace: str, local_port: int) -> list[str]:
    """`kubectl` arguments that make the Service reachable on 127.0.0.1:`local_port` only (k8s platform)."""
    return ["port-forward", "--address", "127.0.0.1", "-n", namespace, f"service/{NAME}", f"{local_port}:{PORT}"]
