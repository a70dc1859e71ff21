"""Root over a mysql pod's unix socket: what the deploy and the role controller both ask a server.

Apart from `mariadb.py` so the role controller (which `mariadb.deploy` starts) can use it without
importing the module that imports it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pymysql

from harness.platforms.local.pods import Pod
from harness.platforms.local.state import LocalHandle


def socket_path(handle: LocalHandle, pod: Pod) -> Path:
    assert handle.socket_dir is not None, "deploy() sets the socket dir first"
    return handle.socket_dir / f"{pod.name}.sock"


def admin(handle: LocalHandle, pod: Pod, timeout: float = 1.0) -> pymysql.Connection:
    """The controller's connection: root over the pod's socket (not fenced by read_only)."""
    return pymysql.connect(unix_socket=str(socket_path(handle, pod)), user="root",
                           password=handle.secrets["root"], connect_timeout=timeout, read_timeout=timeout,
                           write_timeout=timeout, autocommit=True)


def query(handle: LocalHandle, pod: Pod, sql: str, timeout: float = 1.0) -> list[dict[str, Any]]:
    conn = admin(handle, pod, timeout)
    try:
        with conn.cursor(pymysql.cursors.DictCursor) as cur:
            cur.execute(sql)
            return list(cur.fetchall())
    finally:
        conn.close()
