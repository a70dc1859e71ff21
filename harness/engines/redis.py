"""redis: OpenIM's cache; on kubeblocks 2 servers + 3 Sentinels that decide failover."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from harness.engines.base import Defaults, Engine

if TYPE_CHECKING:
    from harness.contracts import DeploySpec, Endpoint, RoleChange
    from harness.platforms.local.state import LocalHandle


class Redis(Defaults):
    name: str = "redis"
    binaries: tuple[str, ...] = ("redis-server",)
    software: str = "redis"
    workload_module = "harness.workload.redis"
    client_class = "RedisClient"
    reader = "read_messages"
    server_module = "harness.platforms.local.redis"
    config_module = "harness.configs.redis"
    day2_module = "harness.platforms.local.redis_day2"
    divergence_module = "harness.platforms.local.redis_divergence"
    sentinel_component: str | None = "redis-sentinel"

    def primary_watch(self, endpoint: Endpoint, op_timeout_s: float) -> Any:
        """go-redis' +switch-master subscription, when the endpoint is Sentinel's."""
        if not endpoint.sentinel_master:
            return None
        return self._workload().SwitchMasterWatch(endpoint, op_timeout_s)

    def role_changes(self, handle: LocalHandle) -> list[RoleChange]:
        """Sentinel's own `+switch-master` log lines."""
        return self._server().role_changes(handle)

    def statefulset_container(self, spec: DeploySpec) -> dict[str, Any]:
        """OpenIM's manifest: the password from the Secret, `--appendonly yes`."""
        from harness.manifests.common import statefulset_secret_env

        aof = "yes" if spec.redis_appendonly else "no"
        return {"env": [statefulset_secret_env(self.name, "REDIS_PASSWORD")],
                "command": ["/bin/sh", "-c", f'exec redis-server --requirepass "$REDIS_PASSWORD" --appendonly {aof}']}


ENGINE: Engine = Redis()
