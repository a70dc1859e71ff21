"""redis: OpenIM's cache; on kubeblocks 2 servers + 3 Sentinels that decide failover."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.engines.base import Defaults, Engine

if TYPE_CHECKING:
    from harness.contracts import DeploySpec, Endpoint, RoleChange
    from harness.history import AckedWrite
    from harness.platforms.local.pods import Pod
    from harness.platforms.local.state import LocalHandle
    from harness.workload.base import EngineClient
    from harness.workload.model import SeedInfo


class Redis(Defaults):
    name: str = "redis"
    binaries: tuple[str, ...] = ("redis-server",)
    software: str = "redis"
    sentinel_component: str | None = "redis-sentinel"

    @property
    def ops(self) -> Mapping[str, bool]:
        from harness.workload.redis import OPS

        return OPS

    def client(self, endpoint: Endpoint, op_timeout_s: float) -> EngineClient:
        from harness.workload.redis import RedisClient

        return RedisClient(endpoint, op_timeout_s)

    def seed(self, endpoint: Endpoint, info: SeedInfo) -> None:
        from harness.workload.redis import seed

        seed(endpoint, info)

    def read_back(self, endpoint: Endpoint, writes: Iterable[AckedWrite]) -> Iterator[tuple[AckedWrite, str | None]]:
        from harness.workload.redis import read_messages

        return read_messages(endpoint, writes)

    def deploy(self, handle: LocalHandle, deadline: float, template: Callable[[], Path]) -> None:
        from harness.platforms.local import redis

        redis.deploy(handle, deadline)

    def version(self) -> str | None:
        from harness.platforms.local import redis

        return redis.version()

    def role_of(self, handle: LocalHandle, pod: Pod) -> str | None:
        from harness.platforms.local import redis

        return redis.role_of(handle, pod)

    def role_changes(self, handle: LocalHandle) -> list[RoleChange]:
        """Sentinel's own `+switch-master` log lines."""
        from harness.platforms.local import redis

        return redis.role_changes(handle)

    def statefulset_container(self, spec: DeploySpec) -> dict[str, Any]:
        """OpenIM's manifest: the password from the Secret, `--appendonly yes`."""
        from harness.manifests.common import statefulset_secret_env

        aof = "yes" if spec.redis_appendonly else "no"
        return {"env": [statefulset_secret_env(self.name, "REDIS_PASSWORD")],
                "command": ["/bin/sh", "-c", f'exec redis-server --requirepass "$REDIS_PASSWORD" --appendonly {aof}']}


ENGINE: Engine = Redis()
