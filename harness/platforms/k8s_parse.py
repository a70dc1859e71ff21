"""Pure parsers of what kubectl / docker print: nodes, pods, roles, Sentinel logs, the KubeBlocks
version. No I/O; tested against fake cluster output."""

from __future__ import annotations

import ipaddress
import json
from typing import TYPE_CHECKING, Any

from harness import engines
from harness.contracts import (
    ZONES,
    PodInfo,
)
from harness.manifests import kubeblocks, statefulset
from harness.manifests.common import (
    COMPONENT_LABEL,
    ROLE_LABEL,
    SERVER_PORTS,
    ZONE_LABEL,
    cluster_name,
)
from harness.platforms.k8s_evidence import (
    rfc3339_to_unix,
)

if TYPE_CHECKING:
    pass


def node_zones(nodes_json: str) -> dict[str, str]:
    """node name -> zone label, from `kubectl get nodes -o json`."""
    data = json.loads(nodes_json or '{"items": []}')
    return {
        n["metadata"]["name"]: n["metadata"].get("labels", {}).get(ZONE_LABEL, "")
        for n in data.get("items", [])
    }


def nodes_in_zone(nodes_json: str, zone: str) -> list[str]:
    return sorted(name for name, z in node_zones(nodes_json).items() if z == zone)


def parse_pods(pods_json: str, zones: dict[str, str], engine: str, mode: str) -> list[PodInfo]:
    """PodInfo per pod from `kubectl get pods -o json`; role from `kubeblocks.io/role`."""
    data = json.loads(pods_json or '{"items": []}')
    out: list[PodInfo] = []
    for p in data.get("items", []):
        meta, status = p["metadata"], p.get("status", {})
        labels = meta.get("labels", {})
        ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions", []))
        alive = status.get("phase") == "Running" and ready and not meta.get("deletionTimestamp")
        role: Any
        if labels.get(COMPONENT_LABEL) == "redis-sentinel":
            role = "sentinel"
        elif mode == "statefulset":
            role = "primary" if alive else None
        else:
            role = labels.get(ROLE_LABEL) if labels.get(ROLE_LABEL) in ("primary", "secondary") else None
        node = p.get("spec", {}).get("nodeName", "")
        port = 26379 if role == "sentinel" else SERVER_PORTS[engine]
        out.append(PodInfo(meta["name"], zones.get(node, ""), role, status.get("podIP", ""), port, alive))
    return sorted(out, key=lambda x: x.name)


def expected_pods(engine: str, mode: str) -> list[PodInfo]:
    """The topology the manifests ask for, for dry-run output (replica i in zone i, 0 primary)."""
    if mode == "statefulset":
        return [PodInfo(f"{engine}-0", statefulset.BASELINE_ZONE, "primary", "", SERVER_PORTS[engine], True)]
    name = cluster_name(engine)
    pods = [
        PodInfo(f"{name}-{engine}-{i}", ZONES[i], "primary" if i == 0 else "secondary", "", SERVER_PORTS[engine], True)
        for i in range(kubeblocks.REPLICAS[engine])
    ]
    if sentinels := engines.get(engine).sentinel_component:
        pods += [
            PodInfo(f"{name}-{sentinels}-{i}", ZONES[i], "sentinel", "", 26379, True)
            for i in range(kubeblocks.SENTINELS)
        ]
    return pods


def parse_switch_master(log_text: str) -> list[tuple[float, str]]:
    """(wall, new primary IP) per Sentinel `+switch-master`, from `kubectl logs --timestamps`."""
    found: list[tuple[float, str]] = []
    for line in log_text.splitlines():
        if "+switch-master" not in line:
            continue
        parts = line.split()
        # `--prefix` puts "[pod/...]" first; `--timestamps` puts RFC 3339 before the message.
        stamp = next((w for w in parts if len(w) > 19 and w[4] == "-" and "T" in w), None)
        idx = parts.index("+switch-master")
        fields = parts[idx + 1 :]
        if stamp is None or len(fields) < 5:
            continue
        found.append((rfc3339_to_unix(stamp), fields[3]))
    found.sort()
    return found


def sentinel_pod_name(address: str, by_ip: dict[str, str]) -> str:
    """The pod a Sentinel names: by IP, or by the FQDN KubeBlocks' redis addon announces
    (`resolve-hostnames yes`, `announce-hostnames yes`): `<pod>.<headless service>.<ns>.svc...`."""
    if address in by_ip:
        return by_ip[address]
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return address.split(".", 1)[0]
    return address


def ready_nodes(nodes_json: str) -> dict[str, bool]:
    """node name -> its Ready condition is True, from `kubectl get nodes -o json`."""
    data = json.loads(nodes_json or '{"items": []}')
    return {
        n["metadata"]["name"]: any(
            c.get("type") == "Ready" and c.get("status") == "True" for c in n.get("status", {}).get("conditions", [])
        )
        for n in data.get("items", [])
    }


def zone_ready(nodes_json: str, zone: str) -> bool:
    """Every node of `zone` is Ready (and the zone has one)."""
    ready = ready_nodes(nodes_json)
    nodes = nodes_in_zone(nodes_json, zone)
    return bool(nodes) and all(ready.get(n) for n in nodes)


def kubeblocks_version_of(deployments_json: str) -> str | None:
    """The installed KubeBlocks version, from its operator Deployment (`app.kubernetes.io/version`,
    else the image tag), or None when there is none."""
    data = json.loads(deployments_json or '{"items": []}')
    for d in data.get("items", []):
        version = d.get("metadata", {}).get("labels", {}).get("app.kubernetes.io/version")
        if version:
            return version.lstrip("v")
        for c in d.get("spec", {}).get("template", {}).get("spec", {}).get("containers", []):
            image = c.get("image", "")
            tag = image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else ""
            if tag:
                return tag.lstrip("v")
    return None


def kubeblocks_decision(found: str | None, pinned: str, install: bool) -> tuple[str, str]:
    """("use" | "install" | "refuse", why) for a cluster holding KubeBlocks `found` (None: none)."""
    if found is None:
        return "install", f"no KubeBlocks in this cluster: installing the pinned {pinned}"
    if found == pinned:
        return "use", f"KubeBlocks {found} is installed: used as it is (nothing re-applied)"
    if install:
        return "install", f"KubeBlocks {found} is installed: moving it to {pinned} (--install-kubeblocks)"
    return "refuse", (
        f"KubeBlocks {found} is installed in this cluster and the harness pins {pinned}; it does not upgrade or "
        f"downgrade an operator it did not install: pass --install-kubeblocks to move it to {pinned}, or use a "
        f"cluster with KubeBlocks {pinned} (or none)"
    )


