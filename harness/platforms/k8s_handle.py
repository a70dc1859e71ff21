"""The kind/k8s platforms' private state of one deployment (`Deployment.handle`)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from harness.contracts import DeploySpec

if TYPE_CHECKING:
    from harness.platforms.k8s_evidence import FaultWatch, SeenPrimary


@dataclass
class K8sHandle:
    """The platform's private state of one deployment."""

    namespace: str
    engine: str
    mode: str
    service_version: str | None
    primary_seen: list[SeenPrimary] = field(default_factory=list)  # on change
    # faults in force: (kind, zone) -> the undo that recovers it (the nemesis calls it; teardown runs any left)
    in_force: dict[tuple[str, str], Callable[[], None]] = field(default_factory=dict)
    watch: FaultWatch | None = None  # the last fault's EndpointSlice / role watch
    settle_zones: list[str] = field(default_factory=list)  # zones whose nodes must be Ready before teardown ends
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    # The Cluster (kubeblocks) or StatefulSet (statefulset) name; "" for the deployment's own
    # (`cluster_name(engine)` / the engine). A restored copy has its own name and node port, and lives
    # in the original's namespace, which it does not own (its teardown deletes only what it added).
    name: str = ""
    node_port: int | None = None
    owns_namespace: bool = True
    spec: DeploySpec | None = None  # what it was deployed with (a restored StatefulSet copies it)
    footprint: Any = None  # the open footprint window's begin readings (k8s_footprint._Window)

    def __post_init__(self) -> None:
        if not self.name:
            from harness.manifests.common import cluster_name

            self.name = cluster_name(self.engine) if self.mode == "kubeblocks" else self.engine

    def restored(self, name: str, node_port: int) -> K8sHandle:
        """The handle of a copy restored beside this deployment."""
        return K8sHandle(self.namespace, self.engine, self.mode, self.service_version, name=name, node_port=node_port,
                         owns_namespace=False, spec=self.spec)
