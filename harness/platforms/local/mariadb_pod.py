"""A MariaDB pod's configuration: its my.cnf (the rendered parameters, harness/configs/mysql.py, plus
the emulation's own lines), the init file, and the argv that starts it (mariadb.py deploys them;
mariadb_day2.py adds pods on scale-out)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from harness.contracts import RenderedConfig
from harness.platforms.local.mariadb_admin import socket_path
from harness.platforms.local.pods import Pod, binary
from harness.platforms.local.serverconfig import adjusted, o_direct_works, open_files_cap, write_pod_copy
from harness.platforms.local.state import LocalHandle, write_secret_file

DATABASE = "openIM_v3"
DATA_FILE_PATH = "ibdata1:10M:autoextend"  # the same at install time and at start
REDO_PARAM = "innodb_log_file_size"  # rendered; the template is installed with it (no resize at first start)
AUDIT_PLUGIN = "server_audit"


def local_config(handle: LocalHandle) -> tuple[RenderedConfig, RenderedConfig]:
    """(the render for the deployment's mode and limits, what the servers here run): O_DIRECT and
    open_files_limit are the values this machine may refuse; each change carries a note."""
    from harness import engines

    rendered = engines.get(handle.engine).render_config(handle.mode, handle.spec.cpu, handle.spec.memory)
    params = rendered.as_dict()
    changes: list[tuple[str, str | None, str]] = []
    if params.get("innodb_flush_method", "").upper() == "O_DIRECT" and not o_direct_works(handle.work_dir):
        changes.append(("innodb_flush_method", "fsync", "the work dir's filesystem refuses O_DIRECT (tmpfs?)"))
    cap = open_files_cap()
    if "open_files_limit" in params and cap is not None and int(params["open_files_limit"]) > cap:
        changes.append(("open_files_limit", str(cap), f"this machine's hard RLIMIT_NOFILE is {cap} and the harness "
                                                       "lacks CAP_SYS_RESOURCE: MariaDB would stop there anyway"))
    return rendered, adjusted(rendered, changes)


def redo_log_size(handle: LocalHandle) -> str:
    assert handle.config is not None, "deploy() renders the config first"
    return handle.config.as_dict()[REDO_PARAM]


def pod_log_dir(handle: LocalHandle, pod: Pod) -> Path:
    """The general, slow and audit logs: on the pod's volume, like KubeBlocks' <data>/log (MariaDB
    writes passwords into the general log verbatim, so it never goes to the run directory)."""
    return handle.work_dir / "server-logs" / pod.name


def pod_tmp_dir(handle: LocalHandle, pod: Pod) -> Path:
    return handle.work_dir / "tmp" / pod.name


def server_cnf(handle: LocalHandle, pod: Pod, index: int) -> str:
    """The pod's my.cnf: the emulation's own lines, the rendered parameters, replication in kubeblocks mode."""
    assert handle.config is not None, "deploy() renders the config first"
    logs = pod_log_dir(handle, pod)
    params = handle.config.as_dict()
    lines = [
        "[mariadbd]",
        f"datadir={pod.data_dir}",
        f"port={pod.port}",
        "bind-address=127.0.0.1",
        f"socket={socket_path(handle, pod)}",
        f"pid-file={handle.work_dir / 'run' / (pod.name + '.pid')}",
        "user=root",
        "skip-name-resolve",
        f"innodb-data-file-path={DATA_FILE_PATH}",
        f"init-file={handle.work_dir / 'conf' / 'init.sql'}",
        f"tmpdir={pod_tmp_dir(handle, pod)}",  # not /tmp: temp tables named by pid collide across pid namespaces
        f"general-log-file={logs / 'mysqld.log'}",
        f"slow-query-log-file={logs / 'mysqld-slowquery.log'}",
    ]
    if AUDIT_PLUGIN in params.get("plugin_load_add", "").split(","):
        lines.append(f"server-audit-file-path={logs / 'audit.log'}")
    lines += [f"{name}={value}" for name, value in handle.config.params]
    if handle.mode == "kubeblocks":
        s = handle.spec
        lines += [
            f"server-id={101 + index}",
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
        pod_log_dir(handle, pod).mkdir(parents=True, exist_ok=True)
        pod_tmp_dir(handle, pod).mkdir(parents=True, exist_ok=True)
        cnf = handle.work_dir / "conf" / f"{pod.name}.cnf"
        text = server_cnf(handle, pod, index)
        write_secret_file(cnf, text)
        write_pod_copy(handle, pod.name, ".cnf", text)  # no secret in it: passwords reach the server by init-file
        return [server, f"--defaults-file={cnf}"]

    return build
