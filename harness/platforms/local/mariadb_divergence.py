"""MariaDB's part of the replica divergence check (a `LocalDivergence`): caught up when the replica's
`gtid_slave_pos` reaches the primary's `gtid_binlog_pos` in every domain; then `CHECKSUM TABLE` of every
workload table (information_schema, system schemas skipped) on both, over root's unix socket."""

from __future__ import annotations

from collections.abc import Collection

import pymysql

from harness.errors import HarnessError
from harness.platforms.local.mariadb_admin import query
from harness.platforms.local.pods import Pod
from harness.platforms.local.rolecontroller import parse_gtid
from harness.platforms.local.state import LocalHandle
from harness.platforms.replica_compare import TABLES_SQL, Comparison, checksum_sql, differing, quote_table

METHOD = "CHECKSUM TABLE"
PROBE_TIMEOUT_S = 1.0
SCAN_TIMEOUT_S = 120.0  # CHECKSUM TABLE reads every row of every table


def method(handle: LocalHandle) -> str:
    return METHOD


def lag(handle: LocalHandle, primary: Pod, replica: Pod) -> str | None:
    try:
        written = query(handle, primary, "SELECT @@gtid_binlog_pos AS pos", PROBE_TIMEOUT_S)[0]["pos"]
        applied = query(handle, replica, "SELECT @@gtid_slave_pos AS pos", PROBE_TIMEOUT_S)[0]["pos"]
    except (pymysql.Error, OSError) as e:
        return f"unreachable: {e}"
    done = parse_gtid(applied)
    behind = sum(seq - done.get(d, 0) for d, seq in parse_gtid(written).items() if done.get(d, 0) < seq)
    if not behind:
        return None
    return f"primary gtid_binlog_pos {written or '-'}, replica gtid_slave_pos {applied or '-'} ({behind} transactions behind)"


def _tables(handle: LocalHandle, pod: Pod) -> set[str]:
    return {f"{r['TABLE_SCHEMA']}.{r['TABLE_NAME']}" for r in query(handle, pod, TABLES_SQL, SCAN_TIMEOUT_S)}


def _checksums(handle: LocalHandle, pod: Pod, tables: Collection[str]) -> dict[str, str]:
    """`schema.table` -> checksum; a table the pod lacks is absent."""
    if not tables:
        return {}
    rows = query(handle, pod, checksum_sql(sorted(tables)), SCAN_TIMEOUT_S)
    return {str(r["Table"]): str(r["Checksum"]) for r in rows if r["Checksum"] is not None}


def _rows(handle: LocalHandle, pod: Pod, table: str) -> str:
    try:
        n = query(handle, pod, f"SELECT COUNT(*) AS n FROM {quote_table(*table.split('.', 1))}", SCAN_TIMEOUT_S)[0]["n"]
    except pymysql.Error:
        return f"no such table on {pod.name}"
    return f"{n} rows on {pod.name}"


def compare(handle: LocalHandle, primary: Pod, replica: Pod, only: Collection[str] | None) -> Comparison:
    try:
        tables = set(only) if only is not None else _tables(handle, primary) | _tables(handle, replica)
        found = differing(_checksums(handle, primary, tables), _checksums(handle, replica, tables), tables)
        counts = [f"{t}: {_rows(handle, primary, t)}, {_rows(handle, replica, t)}" for t in found]
    except (pymysql.Error, OSError) as e:
        raise HarnessError(f"{METHOD} on {primary.name} / {replica.name} failed: {e}") from e
    schemas = ", ".join(sorted({t.split(".", 1)[0] for t in tables})) or "none"
    detail = f"{len(tables)} tables ({schemas})" + (f"; {'; '.join(counts)}" if counts else ", every checksum equal")
    return Comparison(len(tables), found, detail)
