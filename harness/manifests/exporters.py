"""The baseline's exporter sidecars: the upstream exporters an SRE would add beside each server pod.

KubeBlocks' addons ship forks (apecloud/mysqld-exporter, apecloud/mongodb_exporter) and, for Redis,
another collector (agamotto); the baseline runs the upstream ones at the same versions where they
exist. Ports and port names are the addons', so one Prometheus job scrapes both modes. Passwords come
from the baseline's Secret through `secretKeyRef` only: no value is in the manifest or on a command line.
"""

from __future__ import annotations

from typing import Any

from harness.manifests.common import SERVER_PORTS, statefulset_secret_env

IMAGES = {
    "mysql": "prom/mysqld-exporter:v0.15.1",
    "redis": "oliver006/redis_exporter:v1.45.0",
    "mongodb": "percona/mongodb_exporter:0.44.0",
}
# What the v1.0.2 addons run in the KubeBlocks pods (the addon picks the image; shown, not applied)
KUBEBLOCKS_IMAGES = {
    "mysql": "apecloud/mysqld-exporter:0.15.1",
    "redis": "apecloud/agamotto:0.1.2-beta.1",
    "mongodb": "apecloud/mongodb_exporter:0.44.0",
}
# (port, port name), as the KubeBlocks addons name them (kubeblocks-day2.md section 4)
PORTS = {"mysql": (9104, "http-metrics"), "redis": (9121, "http-metrics"), "mongodb": (9216, "exporter")}
SCRAPE_PORT_NAMES = ("http-metrics", "exporter")
RESOURCES = {"requests": {"cpu": "50m", "memory": "32Mi"}, "limits": {"cpu": "200m", "memory": "128Mi"}}


def _mysql() -> dict[str, Any]:
    return {"args": ["--mysqld.username=root", f"--mysqld.address=127.0.0.1:{SERVER_PORTS['mysql']}"],
            "env": [statefulset_secret_env("mysql", "MYSQLD_EXPORTER_PASSWORD")]}


def _redis() -> dict[str, Any]:
    return {"env": [{"name": "REDIS_ADDR", "value": f"redis://127.0.0.1:{SERVER_PORTS['redis']}"},
                    statefulset_secret_env("redis", "REDIS_PASSWORD")]}


def _mongodb() -> dict[str, Any]:
    return {"args": ["--compatible-mode", "--mongodb.direct-connect", "--collect-all"],
            "env": [{"name": "MONGODB_URI", "value": f"mongodb://127.0.0.1:{SERVER_PORTS['mongodb']}"},
                    {"name": "MONGODB_USER", "value": "root"},
                    statefulset_secret_env("mongodb", "MONGODB_PASSWORD")]}


SETTINGS = {"mysql": _mysql, "redis": _redis, "mongodb": _mongodb}


def sidecar(engine: str) -> dict[str, Any]:
    """The exporter container for the baseline pod of `engine`."""
    port, port_name = PORTS[engine]
    return {"name": "exporter", "image": IMAGES[engine], "imagePullPolicy": "IfNotPresent",
            **SETTINGS[engine](),
            "ports": [{"name": port_name, "containerPort": port, "protocol": "TCP"}],
            "resources": {k: dict(v) for k, v in RESOURCES.items()}}
