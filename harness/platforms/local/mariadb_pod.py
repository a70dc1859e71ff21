"""A MariaDB pod's configuration: its my.cnf, the init file, and the argv that starts it (mariadb.py
deploys them; mariadb_day2.py adds pods on scale-out)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from harness.platforms.local.mariadb_admin import socket_path
from harness.platforms.local.pods import Pod, binary
from harness.platforms.local.state import LocalHandle, write_secret_file

DATABASE = "openIM_v3"
LOG_FILE_SIZE = "16M"  # the same at install time and at start: no redo-log resize on first start


def server_cnf(handle: LocalHandle, pod: Pod, index: int) -> str:
    """The pod's my.cnf: replication settings only in kubeblocks mode."""
    lines = [
        "[mariadbd]",
        f"datadir={pod.data_dir}",
        f"port={pod.port}",
        "bind-address=127.0.0.1",
        f"socket={socket_path(handle, pod)}",
        f"pid-file={handle.work_dir / 'run' / (pod.name + '.pid')}",
        "user=root",
        "skip-name-resolve",
        f"innodb-log-file-size={LOG_FILE_SIZE}",
        "innodb-data-file-path=ibdata1:10M:autoextend",
        "innodb-buffer-pool-size=64M",
        "innodb-flush-log-at-trx-commit=1",
        "performance-schema=OFF",
        "max-connections=1000",
        f"init-file={handle.work_dir / 'conf' / 'init.sql'}",
    ]
    if handle.mode == "kubeblocks":
        s = handle.spec
        lines += [
            f"server-id={101 + index}",
            "log-bin=mysql-bin",
            "log-slave-updates=ON",
            "binlog-format=ROW",
            "sync-binlog=1",
            "gtid-strict-mode=ON",
            "read-only=ON",  # the role controller makes only the primary writable
            "skip-slave-start=ON",  # the role controller points replication at the current primary
            # only the primary waits for acks: the controller switches it on at promotion (a replica
            # with it on would make its own applier wait for acks that never come)
            "rpl-semi-sync-master-enabled=OFF",
            "rpl-semi-sync-slave-enabled=ON",
            f"rpl-semi-sync-master-timeout={s.semi_sync_timeout_ms}",
            "rpl-semi-sync-master-wait-point=AFTER_SYNC",
        ]
    return "\n".join(lines) + "\n"


def init_sql(root_pw: str, repl_pw: str, fenced_clients: bool) -> str:
    """Runs at every server start, outside the binlog (no GTIDs of its own on any pod)."""
    lines = [
        "SET sql_log_bin=0;",
        f"ALTER USER 'root'@'localhost' IDENTIFIED VIA mysql_native_password USING PASSWORD('{root_pw}');",
        f"CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY '{root_pw}';",
        # ALTER too: a deployment restored from a backup has these users already, with the old passwords
        f"ALTER USER 'root'@'127.0.0.1' IDENTIFIED BY '{root_pw}';",
        "GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;",
        f"CREATE USER IF NOT EXISTS 'repl'@'127.0.0.1' IDENTIFIED BY '{repl_pw}';",
        f"ALTER USER 'repl'@'127.0.0.1' IDENTIFIED BY '{repl_pw}';",
        "GRANT REPLICATION SLAVE, REPLICATION SLAVE ADMIN ON *.* TO 'repl'@'127.0.0.1';",
        f"CREATE DATABASE IF NOT EXISTS `{DATABASE}`;",
    ]
    if fenced_clients:
        lines.append("REVOKE READ_ONLY ADMIN ON *.* FROM 'root'@'127.0.0.1';")
    return "\n".join(lines) + "\n"


def argv_builder(handle: LocalHandle, template: Path, index: int) -> Callable[[Pod], list[str]]:
    """Rebuilds the pod's my.cnf at every start; an empty volume gets a copy of `template` first."""
    server = binary("mariadbd", "mariadb-server")

    def build(pod: Pod) -> list[str]:
        if not (pod.data_dir / "mysql").is_dir():  # first start: the volume is empty
            shutil.rmtree(pod.data_dir, ignore_errors=True)
            shutil.copytree(template, pod.data_dir)
        cnf = handle.work_dir / "conf" / f"{pod.name}.cnf"
        write_secret_file(cnf, server_cnf(handle, pod, index))
        return [server, f"--defaults-file={cnf}"]

    return build
