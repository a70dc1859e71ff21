"""MariaDB pods: one plain server (statefulset) or 2 servers with GTID semi-sync replication
and a role controller (KubeBlocks' semisync topology).

Passwords reach the server through an init file (0600, under work_dir), never argv. Clients use
`root@127.0.0.1`, which lacks READ_ONLY ADMIN, so `read_only=ON` fences them the way MySQL's
`super_read_only` does under KubeBlocks; the controller uses `root@localhost` over the socket.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pymysql

from harness.contracts import ZONES, Endpoint
from harness.errors import DeployError
from harness.platforms.local.mariadb_admin import query
from harness.platforms.local.mariadb_day2 import load_dump, restore_source
from harness.platforms.local.mariadb_pod import (
    DATA_FILE_PATH,
    DATABASE,
    argv_builder,
    init_sql,
    local_config,
    redo_log_size,
)
from harness.platforms.local.pods import Pod, binary, server_errors, wait_ready
from harness.platforms.local.serverconfig import read_back, record
from harness.platforms.local.state import LocalHandle, new_pod, write_secret_file

_VERSION: dict[str, str] = {}


def install_template(dest: Path, log_path: Path, log_file_size: str) -> Path:
    """An initialised data directory with that redo-log size; pods copy it instead of running
    mariadb-install-db each."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(dest, ignore_errors=True)
    tmp = dest.parent / f"{dest.name}.tmp"  # not /tmp: temp tables named by pid collide across pid namespaces
    tmp.mkdir(parents=True, exist_ok=True)
    argv = [binary("mariadb-install-db", "mariadb-server"), "--no-defaults", f"--datadir={dest}", "--skip-test-db",
            "--user=root", f"--innodb-log-file-size={log_file_size}", f"--innodb-data-file-path={DATA_FILE_PATH}",
            f"--tmpdir={tmp}"]
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.SubprocessError) as e:
        raise DeployError(f"mariadb-install-db failed: {e}") from e
    log_path.write_text(out.stdout + out.stderr)
    if out.returncode != 0:
        raise DeployError(f"mariadb-install-db failed (exit {out.returncode}): {server_errors(log_path)}")
    return dest


def version() -> str | None:
    if "v" not in _VERSION:
        from harness.platforms.local.preflight import binary_version

        _VERSION["v"] = binary_version(binary("mariadbd", "mariadb-server"), r"Ver (\S+?)-MariaDB") or ""
    return _VERSION["v"] or None


MAX_SOCKET_PATH = 107  # sun_path holds 108 bytes with the NUL: mariadbd refuses longer paths


def make_socket_dir(handle: LocalHandle) -> Path:
    """`<work_dir>/run` when its socket paths fit the kernel's limit, else a short temp dir.

    A deep work dir (pytest's tmp paths, a long HARNESS_WORK_DIR) would otherwise break every mysql pod."""
    wanted = handle.work_dir / "run"
    if len(str(wanted / "mysql-0.sock")) <= MAX_SOCKET_PATH:
        return wanted
    short = Path(tempfile.mkdtemp(prefix="harness-sock-"))
    handle.registry.add_path(short)  # removed by teardown of the run, or by `harness cleanup`
    return short


def deploy(handle: LocalHandle, deadline: float, template_for: Callable[[str], Path]) -> Endpoint:
    """`template_for(redo_log_size)`: the platform's initialised data directory for that size."""
    rendered, handle.config = local_config(handle)
    record(handle, rendered)
    handle.secrets["root"] = secrets.token_urlsafe(24)
    handle.secrets["repl"] = secrets.token_urlsafe(24)
    kb = handle.mode == "kubeblocks"
    (handle.work_dir / "run").mkdir(parents=True, exist_ok=True)  # pid files
    handle.socket_dir = make_socket_dir(handle)
    write_secret_file(handle.work_dir / "conf" / "init.sql", init_sql(handle.secrets["root"], handle.secrets["repl"], kb))
    template = restore_source(handle, template_for(redo_log_size(handle)))  # a restored one: from its backup
    handle.seed_dir = template
    pods = [new_pod(handle, f"mysql-{i}", ZONES[i], argv_builder(handle, template, i)) for i in range(2 if kb else 1)]
    for p in pods:
        p.start(handle.registry)
    for p in pods:
        wait_ready(p, lambda: bool(query(handle, p, "SELECT 1")), deadline, "accepting connections")  # noqa: B023 - polled here
    if kb:
        from harness.platforms.local.rolecontroller import RoleController

        primary_file = handle.work_dir / "primary"
        controller = RoleController(handle, primary_file)
        handle.controller = controller
        controller.bootstrap("mysql-0", deadline)
        controller.start()
        handle.endpoint = Endpoint(engine="mysql", mode=handle.mode, addresses=tuple((p.host, p.port) for p in pods),
                                   password=handle.secrets["root"], user="root", database=DATABASE,
                                   primary_file=str(primary_file))
    else:
        handle.endpoint = Endpoint(engine="mysql", mode=handle.mode, addresses=((pods[0].host, pods[0].port),),
                                   password=handle.secrets["root"], user="root", database=DATABASE)
    check_write(handle.endpoint, deadline)
    load_dump(handle, pods[0])
    return handle.endpoint


def client(ep: Endpoint, timeout: float = 2.0) -> pymysql.Connection:
    """A client connection the way the workload makes one: to the Endpoint's current primary."""
    host, port = ep.primary_address()
    return pymysql.connect(host=host, port=port, user=ep.user, password=ep.password, database=ep.database,
                           connect_timeout=timeout, read_timeout=timeout, write_timeout=timeout, autocommit=True)


def check_write(ep: Endpoint, deadline: float) -> None:
    last = ""
    while time.monotonic() < deadline:
        try:
            conn = client(ep)
            try:
                with conn.cursor() as cur:
                    cur.execute("CREATE TABLE IF NOT EXISTS harness_ready (id INT PRIMARY KEY, v INT)")
                    cur.execute("REPLACE INTO harness_ready VALUES (1, 1)")
                    cur.execute("SELECT v FROM harness_ready WHERE id=1")
                    if cur.fetchone() == (1,):
                        return
            finally:
                conn.close()
        except (pymysql.Error, OSError) as e:
            last = str(e)
        time.sleep(0.05)
    raise DeployError(f"mysql did not take a write before the deadline: {last}")


def role_of(handle: LocalHandle, pod: Pod) -> str | None:
    """Asks the server: read_only=OFF is the primary, a configured replica is a secondary."""
    if not pod.alive() or pod.frozen:
        return None
    try:
        ro = query(handle, pod, "SELECT @@read_only AS ro", timeout=0.5)[0]["ro"]
    except (pymysql.Error, OSError):
        return None
    return "secondary" if ro else "primary"


def after_thaw(handle: LocalHandle, pod: Pod) -> None:
    """A thawed old primary is fenced at once, before the next probe period."""
    if handle.controller is not None:
        handle.controller.fence_if_stale(pod.name)


ABSENT = "(no such variable)"


def live_variables(handle: LocalHandle, pod: Pod) -> dict[str, str]:
    """SHOW GLOBAL VARIABLES, plus the two rendered options that are not variables: `log_bin` (its
    basename, or OFF) and `plugin_load_add` (the plugin libraries loaded, without .so)."""
    live = {str(r["Variable_name"]).lower(): str(r["Value"]) for r in query(handle, pod, "SHOW GLOBAL VARIABLES")}
    live["log_bin"] = Path(live.get("log_bin_basename", "")).name if live.get("log_bin") == "ON" else "OFF"
    libs = query(handle, pod, "SELECT DISTINCT PLUGIN_LIBRARY AS lib FROM information_schema.PLUGINS "
                              "WHERE PLUGIN_STATUS='ACTIVE' AND PLUGIN_LIBRARY IS NOT NULL")
    live["plugin_load_add"] = ",".join(sorted(str(r["lib"]).removesuffix(".so") for r in libs))
    return live


def applied_config(handle: LocalHandle) -> dict[str, dict[str, str]]:
    """SHOW GLOBAL VARIABLES of every answering data pod, for the parameters it was started with."""
    from harness.configs.mysql import same_value

    return read_back(handle, lambda pod: live_variables(handle, pod), (pymysql.Error, OSError),
                                  same_value, ABSENT)
