"""mongodb: OpenIM's message store; a 3-member replica set on kubeblocks. Optional locally."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from harness.engines.base import Defaults, Engine

if TYPE_CHECKING:
    from harness.contracts import DeploySpec
    from harness.platforms.local.state import LocalHandle


class Mongodb(Defaults):
    name: str = "mongodb"
    binaries: tuple[str, ...] = ("mongod",)
    software: str = "mongodb"
    workload_module = "harness.workload.mongodb"
    client_class = "MongoClientOps"
    reader = "read_slots"
    server_module = "harness.platforms.local.mongodb"
    config_module = "harness.configs.mongodb"

    def check_available(self) -> None:
        """mongod is optional: without it the cell is skipped, with the reason and the fix."""
        self._server().check_available()

    def applied_config(self, handle: LocalHandle) -> dict[str, dict[str, str]]:
        """Nothing to read back: the local mongod is not configured from the render (yet)."""
        return {}

    def statefulset_container(self, spec: DeploySpec) -> dict[str, Any]:
        """The official image's init creates the root user and turns auth on; the cache size is
        OpenIM's (harness/configs/mongodb.py)."""
        from harness.configs.mongodb import CACHE_PARAM
        from harness.manifests.common import pod_ip_env, statefulset_secret_env

        cache = self.render_config("statefulset", spec.cpu, spec.memory).as_dict()[CACHE_PARAM]
        return {"env": [{"name": "MONGO_INITDB_ROOT_USERNAME", "value": "root"},
                        statefulset_secret_env(self.name, "MONGO_INITDB_ROOT_PASSWORD"),
                        {"name": "MONGO_INITDB_DATABASE", "value": "openim_v3"}, pod_ip_env()],
                "args": ["--wiredTigerCacheSizeGB", cache]}


ENGINE: Engine = Mongodb()
