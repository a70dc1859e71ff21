"""The kind cluster config (pure): one control-plane node, three zone-labelled workers.

The control plane is never faulted, so the host's port mappings live there: kube-proxy
forwards a NodePort from any node to the pod wherever it runs, and the mappings keep working
while a worker zone is stopped or disconnected. Mappings listen on 127.0.0.1 only.
"""

from __future__ import annotations

from typing import Any

from harness.contracts import ZONES
from harness.manifests.common import NODE_PORTS, PROMETHEUS_NODE_PORT, ZONE_LABEL


def kind_config(node_image: str, host_ports: dict[int, int] | None = None) -> dict[str, Any]:
    """`host_ports`: nodePort -> host port (default: the same number). The engines' NodePorts and the
    in-cluster Prometheus's (observability.py)."""
    ports = host_ports or {p: p for p in sorted([*NODE_PORTS.values(), PROMETHEUS_NODE_PORT])}
    mappings = [
        {"containerPort": node_port, "hostPort": host_port, "listenAddress": "127.0.0.1", "protocol": "TCP"}
        for node_port, host_port in sorted(ports.items())
    ]
    nodes: list[dict[str, Any]] = [{"role": "control-plane", "image": node_image, "extraPortMappings": mappings}]
    nodes += [{"role": "worker", "image": node_image, "labels": {ZONE_LABEL: zone}} for zone in ZONES]
    return {"kind": "Cluster", "apiVersion": "kind.x-k8s.io/v1alpha4", "nodes": nodes}


def worker_container_names(cluster: str) -> dict[str, str]:
    """zone -> node container name, as kind names workers in config order (x-worker, x-worker2, ...).

    The platform reads the real names from the nodes' zone labels; this is the dry-run's guess.
    """
    return {zone: f"{cluster}-worker" + ("" if i == 0 else str(i + 1)) for i, zone in enumerate(ZONES)}
