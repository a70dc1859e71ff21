"""mysql: OpenIM <= 3.4's tables; locally MariaDB (GTID semi-sync + a role controller on kubeblocks)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.engines.base import Defaults, Engine

if TYPE_CHECKING:
    from harness.contracts import DeploySpec, Endpoint
    from harness.platforms.local.pods import Pod
    from harness.platforms.local.state import LocalHandle


class Mysql(Defaults):
    name: str = "mysql"
    binaries: tuple[str, ...] = ("mariadbd", "mysqld")
    software: str = "mariadb"
    workload_module = "harness.workload.mysql"
    client_class = "MysqlClient"
    reader = "read_rows"
    server_module = "harness.platforms.local.mariadb"
    config_module = "harness.configs.mysql"
    day2_module = "harness.platforms.local.mariadb_day2"
    divergence_module = "harness.platforms.local.mariadb_divergence"

    def client_pool(self, endpoint: Endpoint, op_timeout_s: float) -> Any:
        """OpenIM's one database/sql pool per process (gorm: maxOpenConn 1000, maxIdleConn 100)."""
        return self._workload().worker_pool(endpoint, op_timeout_s)

    def deploy(self, handle: LocalHandle, deadline: float, template: Callable[[str], Path]) -> None:
        """Each pod copies the platform's mariadb-install-db template (fast deploys), made with the
        rendered redo-log size (no resize at first start)."""
        self._server().deploy(handle, deadline, template)

    def after_thaw(self, handle: LocalHandle, pod: Pod) -> None:
        """A thawed old primary is fenced at once, before the next probe period."""
        self._server().after_thaw(handle, pod)

    def kubeblocks_env(self, spec: DeploySpec) -> list[dict[str, Any]]:
        """The addon's semi-sync timeout, as the local emulation uses it."""
        return [{"name": "SEMI_SYNC_TIMEOUT", "value": str(spec.semi_sync_timeout_ms)}]

    def statefulset_container(self, spec: DeploySpec) -> dict[str, Any]:
        from harness.manifests.common import pod_ip_env, statefulset_secret_env

        return {"env": [statefulset_secret_env(self.name, "MYSQL_ROOT_PASSWORD"),
                        {"name": "MYSQL_DATABASE", "value": "openIM_v3"}, pod_ip_env()]}


ENGINE: Engine = Mysql()
