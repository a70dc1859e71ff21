"""mongodb: OpenIM's message store; a 3-member replica set on kubeblocks. Optional locally."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.engines.base import Defaults, Engine

if TYPE_CHECKING:
    from harness.contracts import DeploySpec, Endpoint
    from harness.history import AckedWrite
    from harness.platforms.local.pods import Pod
    from harness.platforms.local.state import LocalHandle
    from harness.workload.base import EngineClient
    from harness.workload.model import SeedInfo


class Mongodb(Defaults):
    name: str = "mongodb"
    binaries: tuple[str, ...] = ("mongod",)
    software: str = "mongodb"

    @property
    def ops(self) -> Mapping[str, bool]:
        from harness.workload.mongodb import OPS

        return OPS

    def client(self, endpoint: Endpoint, op_timeout_s: float) -> EngineClient:
        from harness.workload.mongodb import MongoClientOps

        return MongoClientOps(endpoint, op_timeout_s)

    def seed(self, endpoint: Endpoint, info: SeedInfo) -> None:
        from harness.workload.mongodb import seed

        seed(endpoint, info)

    def read_back(self, endpoint: Endpoint, writes: Iterable[AckedWrite]) -> Iterator[tuple[AckedWrite, str | None]]:
        from harness.workload.mongodb import read_slots

        return read_slots(endpoint, writes)

    def check_available(self) -> None:
        """mongod is optional: without it the cell is skipped, with the reason and the fix."""
        from harness.platforms.local import mongodb

        mongodb.check_available()

    def deploy(self, handle: LocalHandle, deadline: float, template: Callable[[], Path]) -> None:
        from harness.platforms.local import mongodb

        mongodb.deploy(handle, deadline)

    def version(self) -> str | None:
        from harness.platforms.local import mongodb

        return mongodb.version()

    def role_of(self, handle: LocalHandle, pod: Pod) -> str | None:
        from harness.platforms.local import mongodb

        return mongodb.role_of(handle, pod)

    def statefulset_container(self, spec: DeploySpec) -> dict[str, Any]:
        """The official image's init creates the root user and turns auth on."""
        from harness.manifests.common import pod_ip_env, statefulset_secret_env

        return {"env": [{"name": "MONGO_INITDB_ROOT_USERNAME", "value": "root"},
                        statefulset_secret_env(self.name, "MONGO_INITDB_ROOT_PASSWORD"),
                        {"name": "MONGO_INITDB_DATABASE", "value": "openim_v3"}, pod_ip_env()],
                "args": ["--wiredTigerCacheSizeGB", "0.25"]}


ENGINE: Engine = Mongodb()
