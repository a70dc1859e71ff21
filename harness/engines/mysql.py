"""mysql: OpenIM <= 3.4's tables; locally MariaDB (GTID semi-sync + a role controller on kubeblocks)."""

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


class Mysql(Defaults):
    name: str = "mysql"
    binaries: tuple[str, ...] = ("mariadbd", "mysqld")
    software: str = "mariadb"

    @property
    def ops(self) -> Mapping[str, bool]:
        from harness.workload.mysql import OPS

        return OPS

    def client(self, endpoint: Endpoint, op_timeout_s: float) -> EngineClient:
        from harness.workload.mysql import MysqlClient

        return MysqlClient(endpoint, op_timeout_s)

    def seed(self, endpoint: Endpoint, info: SeedInfo) -> None:
        from harness.workload.mysql import seed

        seed(endpoint, info)

    def read_back(self, endpoint: Endpoint, writes: Iterable[AckedWrite]) -> Iterator[tuple[AckedWrite, str | None]]:
        from harness.workload.mysql import read_rows

        return read_rows(endpoint, writes)

    def deploy(self, handle: LocalHandle, deadline: float, template: Callable[[], Path]) -> None:
        """Each pod copies the platform's mariadb-install-db template (fast deploys)."""
        from harness.platforms.local import mariadb

        mariadb.deploy(handle, deadline, template())

    def version(self) -> str | None:
        from harness.platforms.local import mariadb

        return mariadb.version()

    def role_of(self, handle: LocalHandle, pod: Pod) -> str | None:
        from harness.platforms.local import mariadb

        return mariadb.role_of(handle, pod)

    def after_thaw(self, handle: LocalHandle, pod: Pod) -> None:
        """A thawed old primary is fenced at once, before the next probe period."""
        from harness.platforms.local import mariadb

        mariadb.after_thaw(handle, pod)

    def kubeblocks_env(self, spec: DeploySpec) -> list[dict[str, Any]]:
        """The addon's semi-sync timeout, as the local emulation uses it."""
        return [{"name": "SEMI_SYNC_TIMEOUT", "value": str(spec.semi_sync_timeout_ms)}]

    def statefulset_container(self, spec: DeploySpec) -> dict[str, Any]:
        from harness.manifests.common import pod_ip_env, statefulset_secret_env

        return {"env": [statefulset_secret_env(self.name, "MYSQL_ROOT_PASSWORD"),
                        {"name": "MYSQL_DATABASE", "value": "openIM_v3"}, pod_ip_env()]}


ENGINE: Engine = Mysql()
