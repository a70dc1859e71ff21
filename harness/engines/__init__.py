"""The engine registry: THE one map from an engine name to its engine object.

Everything that differs between mysql, redis and mongodb is reached through `get(name)`; no module
outside this package compares an engine name. The map holds module names, not modules: importing
the registry (contracts does, for `ENGINES`) imports no engine code, no client library and nothing
Kubernetes-related, and no import circle runs through it. `get` imports one adapter on first use
(pymongo only when mongodb is asked for); Python's module cache makes later calls a dict lookup.

A new engine is an adapter module here, its client code (harness/workload/<engine>.py), its local
server (harness/platforms/local/<server>.py) and one line in `_ADAPTERS`; then the per-engine
tables that are data, not code, get a row: manifests/common.py (SERVER_PORTS, NODE_PORTS, the
account in password_secret), manifests/statefulset.py (IMAGES, DATA_PATH, READINESS_COMMANDS,
PROBE_TIMEOUT_S), manifests/kubeblocks.py (TOPOLOGY, REPLICAS, COMPONENT_VERSION, PREFERRED_LINE,
REVIEW_SERVICE_VERSION, DATA_PATH), manifests/day2.py (BACKUP_METHOD, UPGRADES, RESTORED_POD_PATCHES),
platforms/k8s_day2.py (STATUS_SCRIPTS, REPLICATION_STATES, STATEFULSET_BACKUPS),
platforms/k8s_divergence.py (DIVERGENCE),
platforms/k8s_install.py (ADDONS), platforms/kubernetes.py (USERS),
scenario.py (DEFAULT_MIX), results_schema.json (the engine enum), platforms/local/preflight.py and
software.py (the server binary and the client library).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING

from harness.errors import HarnessError

if TYPE_CHECKING:
    from harness.engines.base import Engine

_ADAPTERS: Mapping[str, str] = MappingProxyType({
    "mysql": "harness.engines.mysql",
    "redis": "harness.engines.redis",
    "mongodb": "harness.engines.mongodb",
})

ENGINES: tuple[str, ...] = tuple(_ADAPTERS)  # the source of truth; harness.contracts re-exports it


def get(name: str) -> Engine:
    """The engine object for `name`; an unknown name is one clear line."""
    module = _ADAPTERS.get(name)
    if module is None:
        raise HarnessError(f"unknown engine {name!r}; accepted: {', '.join(ENGINES)}")
    engine: Engine = importlib.import_module(module).ENGINE
    return engine


__all__ = ["ENGINES", "get"]
