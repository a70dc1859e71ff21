"""`apps.kubeblocks.io/v1` Clusters (pure: settings in, dicts out).

mysql `semisync` (2 replicas), redis `replication` (2 + 3 Sentinels), mongodb `replicaset` (3),
each component spread across zones, with the addon's exporter on (`disableExporter: false`). The `serviceVersion` is passed in: the platform picks it
from the addon's ComponentVersion (`choose_service_version`), so a newer addon that dropped a
version does not break the run. Plus one harness-owned NodePort Service per Cluster that selects
`kubeblocks.io/role=primary`, so a host client keeps reaching the primary after a failover.
"""

from __future__ import annotations

import json
import re
from typing import Any

from harness import engines
from harness.contracts import DeploySpec
from harness.manifests.common import (
    COMPONENT_LABEL,
    HARNESS_LABEL,
    INSTANCE_LABEL,
    ROLE_LABEL,
    ZONE_LABEL,
    client_service,
    cluster_name,
    nodeport_service,
    observe_labels,
)

TOPOLOGY = {"mysql": "semisync", "redis": "replication", "mongodb": "replicaset"}
REPLICAS = {"mysql": 2, "redis": 2, "mongodb": 3}
SENTINELS = 3
# ComponentVersion objects to read, and which release line to prefer from what they offer.
COMPONENT_VERSION = {"mysql": "mysql", "redis": "redis", "mongodb": "mongodb"}
PREFERRED_LINE = {"mysql": "8.0", "redis": "7.2", "mongodb": "6.0"}
# Only for `harness manifests` and dry-run output, where no addon can be asked. All three are in
# the v1.0.2 addons' lists (reference/kubeblocks.md section 1).
REVIEW_SERVICE_VERSION = {"mysql": "8.0.44", "redis": "7.2.4", "mongodb": "6.0.27"}
# Where each addon mounts the data volume (its values.yaml `dataMountPath`; the Sentinel's cmpd mounts
# its `data` volume at /data): what the footprint measures with `du`.
DATA_PATH = {"mysql": "/var/lib/mysql", "redis": "/data", "mongodb": "/data/mongodb"}
SENTINEL_DATA_PATH = "/data"


def _resources(spec: DeploySpec) -> dict[str, Any]:
    amount = {"cpu": spec.cpu, "memory": spec.memory}
    return {"limits": dict(amount), "requests": dict(amount)}


def _volume(spec: DeploySpec) -> list[dict[str, Any]]:
    # storageClassName omitted: the cluster's default StorageClass (kind: `standard`, local-path).
    return [
        {
            "name": "data",
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": spec.storage}}},
        }
    ]


def zone_spread(cluster: str, component: str) -> dict[str, Any]:
    """At most one pod of this component per zone (hard rule: 3 zones hold up to 3 replicas).

    Matching the instance label too keeps different Clusters from repelling each other.
    """
    return {
        "affinity": {
            "podAntiAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "labelSelector": {
                            "matchLabels": {INSTANCE_LABEL: cluster, COMPONENT_LABEL: component}
                        },
                        "topologyKey": ZONE_LABEL,
                    }
                ]
            }
        }
    }


def _component(
    cluster: str, name: str, replicas: int, spec: DeploySpec, service_version: str
) -> dict[str, Any]:
    return {
        "name": name,
        "serviceVersion": service_version,
        "replicas": replicas,
        # false: the addon's exporter container runs and the headless Service gets the
        # monitor.kubeblocks.io scrape annotations (nil would keep the container, without them)
        "disableExporter": False,
        "resources": _resources(spec),
        "volumeClaimTemplates": _volume(spec),
        "schedulingPolicy": zone_spread(cluster, name),
    }


def cluster(engine: str, namespace: str, spec: DeploySpec, service_version: str) -> dict[str, Any]:
    """The Cluster for `engine`, as KubeBlocks' own examples write it, spread across zones."""
    if engine not in TOPOLOGY:
        raise ValueError(f"unknown engine {engine!r}")
    name, eng = cluster_name(engine), engines.get(engine)
    components = [_component(name, engine, REPLICAS[engine], spec, service_version)]
    # the data pods only: the Prometheus keeps pods carrying them (the Sentinels are not the deployment's data)
    components[0]["labels"] = observe_labels(engine, "kubeblocks")
    if env := eng.kubeblocks_env(spec):
        components[0]["env"] = env
    if eng.sentinel_component:
        components.append(_component(name, eng.sentinel_component, SENTINELS, spec, service_version))
    return {
        "apiVersion": "apps.kubeblocks.io/v1",
        "kind": "Cluster",
        "metadata": {"name": name, "namespace": namespace, "labels": {HARNESS_LABEL: "openim-kb-poc"}},
        "spec": {
            "clusterDef": engine,
            "topology": TOPOLOGY[engine],
            "terminationPolicy": "Delete",
            "componentSpecs": components,
        },
    }


def primary_nodeport_service(engine: str, namespace: str) -> dict[str, Any]:
    """A NodePort Service selecting the current primary by its role label.

    KubeBlocks' own role-selector Services are ClusterIP; the host (through kind's port
    mappings) needs a NodePort. Sentinel / replica-set discovery would hand out pod addresses
    the host cannot reach, so clients connect here directly.
    """
    name = cluster_name(engine)
    return nodeport_service(client_service(engine, "kubeblocks"), namespace, engine, "kubeblocks",
                            {INSTANCE_LABEL: name, COMPONENT_LABEL: engine, ROLE_LABEL: "primary"})


def manifests(engine: str, namespace: str, spec: DeploySpec, service_version: str) -> list[dict[str, Any]]:
    """Everything the harness applies for a kubeblocks deployment, in apply order."""
    return [cluster(engine, namespace, spec, service_version), primary_nodeport_service(engine, namespace)]


def version_key(v: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", v))


def offered_service_versions(cmpv: dict[str, Any]) -> list[str]:
    """serviceVersions a ComponentVersion object offers (`kubectl get cmpv X -o json`)."""
    versions = {r.get("serviceVersion") for r in cmpv.get("spec", {}).get("releases", []) if r.get("serviceVersion")}
    status = cmpv.get("status", {}).get("serviceVersions") or ""
    versions |= {v.strip() for v in status.split(",") if v.strip()}
    return sorted(versions, key=version_key)


def choose_service_version(engine: str, cmpv_json: str) -> str:
    """The newest offered version on the preferred release line, else the newest offered."""
    try:
        offered = offered_service_versions(json.loads(cmpv_json))
    except (ValueError, AttributeError) as e:
        raise ValueError(f"ComponentVersion {COMPONENT_VERSION[engine]} is not valid JSON: {e}") from e
    if not offered:
        raise ValueError(f"ComponentVersion {COMPONENT_VERSION[engine]} offers no serviceVersion")
    line = PREFERRED_LINE[engine]
    preferred = [v for v in offered if v == line or v.startswith(line + ".")]
    return (preferred or offered)[-1]
