"""OpenIM's MySQL traffic: open-im-server <=3.4 relationship tables + openim-chat <=1.5 accounts.

Ops (reference/openim-workload.md section 3):
- `register`: one transaction inserting `users`, `accounts`, `attributes`, `registers`.
- `login`: `SELECT` the account, then `INSERT user_login_records` (autocommit).
- `friends`: `SELECT friend_user_id FROM friends WHERE owner_user_id=?`.
- `group_members`: `SELECT user_id FROM group_members WHERE group_id=?` (the hot gorm query).

`user_login_records` has no key in openim-chat; an `id BIGINT AUTO_INCREMENT` primary key is added
so each acknowledged login has a seq: a failover that hands an id out twice, or goes back, shows
up as `duplicate_seqs` / `seq_regressions` on the stream "user_login_records".
"""

from __future__ import annotations

import functools
import ssl
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pymysql
from pymysql.err import IntegrityError, InterfaceError, OperationalError, ProgrammingError

from harness.contracts import Endpoint
from harness.history import AckedWrite
from harness.workload.base import Actor, NotApplied
from harness.workload.connpool import Refused
from harness.workload.model import SeedInfo
from harness.workload.mysql_pool import MysqlPool

DEFAULT_DB = "openIM_v3"
OPS: dict[str, bool] = {"register": True, "login": True, "friends": False, "group_members": False}
# Statements per op, for comparing with the server's Com_* counters
CLIENT_COMMANDS = {
    "register": {"Com_insert": 4, "Com_begin": 1, "Com_commit": 1},
    "login": {"Com_select": 1, "Com_insert": 1},
    "friends": {"Com_select": 1},
    "group_members": {"Com_select": 1},
}
LOGIN_STREAM = "user_login_records"
USERS_STREAM = "users"

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS users (
        user_id VARCHAR(64) PRIMARY KEY, name VARCHAR(255), face_url VARCHAR(255), ex VARCHAR(1024),
        create_time DATETIME(3), app_manger_level INT, global_recv_msg_opt INT, KEY (create_time))""",
    """CREATE TABLE IF NOT EXISTS accounts (
        user_id VARCHAR(64) PRIMARY KEY, password VARCHAR(32), create_time DATETIME(3),
        change_time DATETIME(3), operator_user_id VARCHAR(64))""",
    """CREATE TABLE IF NOT EXISTS attributes (
        user_id VARCHAR(64) PRIMARY KEY, account VARCHAR(64), phone_number VARCHAR(32), area_code VARCHAR(8),
        email VARCHAR(64), nickname VARCHAR(64), face_url VARCHAR(255), gender INT, change_time DATETIME(3),
        birth_time DATETIME(3), level INT, allow_vibration INT, allow_beep INT, allow_add_friend INT,
        global_recv_msg_opt INT, register_type INT, KEY (account))""",
    """CREATE TABLE IF NOT EXISTS registers (
        user_id VARCHAR(64) PRIMARY KEY, device_id VARCHAR(255), ip VARCHAR(64), platform VARCHAR(32),
        account_type VARCHAR(32), mode VARCHAR(32), create_time DATETIME(3))""",
    """CREATE TABLE IF NOT EXISTS user_login_records (
        id BIGINT AUTO_INCREMENT PRIMARY KEY, user_id VARCHAR(64), login_time DATETIME(3), ip VARCHAR(64),
        device_id VARCHAR(255), platform VARCHAR(32), KEY (user_id))""",
    """CREATE TABLE IF NOT EXISTS friends (
        owner_user_id VARCHAR(64), friend_user_id VARCHAR(64), remark VARCHAR(255), create_time DATETIME(3),
        add_source INT, operator_user_id VARCHAR(64), ex VARCHAR(1024), PRIMARY KEY (owner_user_id, friend_user_id))""",
    """CREATE TABLE IF NOT EXISTS `groups` (
        group_id VARCHAR(64) PRIMARY KEY, name VARCHAR(255), notification VARCHAR(255), introduction VARCHAR(255),
        face_url VARCHAR(255), create_time DATETIME(3), ex VARCHAR(1024), status INT, creator_user_id VARCHAR(64),
        group_type INT, need_verification INT, look_member_info INT, apply_member_friend INT)""",
    """CREATE TABLE IF NOT EXISTS group_members (
        group_id VARCHAR(64), user_id VARCHAR(64), nickname VARCHAR(255), face_url VARCHAR(255), role_level INT,
        join_time DATETIME(3), join_source INT, inviter_user_id VARCHAR(64), operator_user_id VARCHAR(64),
        mute_end_time DATETIME(3), ex VARCHAR(1024), PRIMARY KEY (group_id, user_id))""",
]


def connect(endpoint: Endpoint, op_timeout_s: float, database: str | None = None) -> pymysql.connections.Connection:
    """A connection to the current primary (follows the role controller's primary file).

    TLS is decided by the endpoint, never left to PyMySQL: without `ssl_disabled` PyMySQL >= 1.2
    runs in "preferred" mode and builds a fresh `ssl.SSLContext` (loading the system CA store,
    ~40 ms of CPU) in every `connect()`, on the gevent hub: 200 users connecting stalled the load
    worker for seconds. With TLS on, one context per process is shared by every connection."""
    host, port = endpoint.primary_address()
    tls: dict[str, Any] = {"ssl": _shared_tls_context()} if endpoint.tls else {"ssl_disabled": True}
    return pymysql.connect(
        host=host, port=port, user=endpoint.user or "root", password=endpoint.password,
        database=database, connect_timeout=op_timeout_s, read_timeout=op_timeout_s,
        write_timeout=op_timeout_s, autocommit=True, charset="utf8mb4", **tls,
    )


@functools.lru_cache(maxsize=1)
def _shared_tls_context() -> ssl.SSLContext:
    """One client context per process (OpenIM's `tls=skip-verify` equivalent: encrypted, unverified)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def db_name(endpoint: Endpoint) -> str:
    return endpoint.database or DEFAULT_DB


def worker_pool(endpoint: Endpoint, op_timeout_s: float) -> MysqlPool:
    """The load worker's one pool, shared by its users' clients (OpenIM's one `*sql.DB` per process).
    A new connection goes to the current primary (the primary file), as a new connection to
    KubeBlocks' role-selector Service does; open ones stay where they are until they break."""
    db = db_name(endpoint)
    return MysqlPool(lambda: connect(endpoint, op_timeout_s, db), op_timeout_s)


class MysqlClient:
    """Blocking OpenIM-like MySQL client for one simulated user. Each statement (each transaction)
    leases a connection from `pool`, the worker's shared one (`worker_pool`), as gorm does from its
    `*sql.DB`; without one, the client has a pool of its own (tests, benchmarks)."""

    engine = "mysql"
    ops = OPS

    def __init__(self, endpoint: Endpoint, op_timeout_s: float = 1.0, pool: MysqlPool | None = None):
        self.endpoint = endpoint
        self._own_pool = pool is None
        self.pool = pool if pool is not None else worker_pool(endpoint, op_timeout_s)

    def close(self) -> None:
        """Nothing to drop from a shared pool: a failed or timed-out op has discarded its connection
        already. An own pool closes its idle connections."""
        if self._own_pool:
            self.pool.close()

    def warm(self) -> None:
        """The pool's first connection before the first op (gorm.Open's Ping); later ops open more on
        demand during the warm-up, so the measured window finds them idle."""
        self.pool.warm()

    def run(self, op: str, actor: Actor, partial: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = getattr(self, op)(actor, partial)
        return result

    def register(self, actor: Actor, partial: dict[str, Any]) -> dict[str, Any]:
        """One transaction on one leased connection (a gorm Transaction holds its connection)."""
        uid = f"r{actor.next_msg_id()}"
        partial.update(stream=USERS_STREAM, id=uid)
        with self.pool.lease() as c:
            try:
                with c.cursor() as cur:
                    cur.execute("BEGIN")
                    cur.execute("INSERT INTO users (user_id, name, face_url, ex, create_time, app_manger_level,"
                                " global_recv_msg_opt) VALUES (%s, %s, '', '', NOW(3), 1, 0)", (uid, f"user {uid}"))
                    cur.execute("INSERT INTO accounts (user_id, password, create_time, change_time, operator_user_id)"
                                " VALUES (%s, MD5(%s), NOW(3), NOW(3), 'admin')", (uid, uid))
                    cur.execute("INSERT INTO attributes (user_id, account, phone_number, area_code, email, nickname,"
                                " face_url, gender, change_time, birth_time, level, allow_vibration, allow_beep,"
                                " allow_add_friend, global_recv_msg_opt, register_type) VALUES (%s, %s, '', '+86', '',"
                                " %s, '', 1, NOW(3), NOW(3), 1, 1, 1, 1, 0, 1)", (uid, uid, f"nick{uid[-6:]}"))
                    cur.execute("INSERT INTO registers (user_id, device_id, ip, platform, account_type, mode, create_time)"
                                " VALUES (%s, %s, '127.0.0.1', 'Android', 'account', 'user', NOW(3))", (uid, f"dev-{uid}"))
            except Exception as e:  # before COMMIT: rolled back with the connection, which the pool discards
                raise NotApplied(e) from e
            with c.cursor() as cur:
                cur.execute("COMMIT")
        return {"stream": USERS_STREAM, "id": uid}

    def login(self, actor: Actor, partial: dict[str, Any]) -> dict[str, Any]:
        """Two statements, two checkouts (gorm's First, then Create), as openim-chat's login does."""
        with self.pool.lease() as c:
            try:
                with c.cursor() as cur:
                    cur.execute("SELECT user_id, password, create_time FROM accounts WHERE user_id=%s", (actor.uid,))
                    cur.fetchall()
            except Exception as e:
                raise NotApplied(e) from e
        device = f"dev-{actor.next_msg_id()}"  # unique per login: tells a re-issued id from the acked row
        partial.update(stream=LOGIN_STREAM, id=device)
        with self.pool.lease() as c, c.cursor() as cur:
            cur.execute("INSERT INTO user_login_records (user_id, login_time, ip, device_id, platform)"
                        " VALUES (%s, NOW(3), '127.0.0.1', %s, 'Android')", (actor.uid, device))
            rid = int(cur.lastrowid)
        return {"stream": LOGIN_STREAM, "seq": rid, "id": device}

    def friends(self, actor: Actor, partial: dict[str, Any]) -> dict[str, Any]:
        with self.pool.lease() as c, c.cursor() as cur:
            cur.execute("SELECT friend_user_id FROM friends WHERE owner_user_id=%s", (actor.uid,))
            return {"n": len(cur.fetchall())}

    def group_members(self, actor: Actor, partial: dict[str, Any]) -> dict[str, Any]:
        gid = actor.rng.choice(actor.groups) if actor.groups else ""
        with self.pool.lease() as c, c.cursor() as cur:
            cur.execute("SELECT user_id FROM group_members WHERE group_id=%s", (gid,))
            return {"n": len(cur.fetchall())}

    @staticmethod
    def classify(exc: BaseException, write: bool) -> str:
        return classify(exc, write)


_NOT_SENT_CODES = {1045, 1049, 1290, 1836, 2003, 2005}  # access denied, no db, read-only, can't connect


def classify(exc: BaseException, write: bool) -> str:
    """`fail` when the statement surely had no effect; `info` for a write whose COMMIT / INSERT
    may have reached the server (lost connection, timeout)."""
    if isinstance(exc, (NotApplied, IntegrityError, ProgrammingError, InterfaceError)):
        return "fail"
    if isinstance(exc, OperationalError) and exc.args and exc.args[0] in _NOT_SENT_CODES:
        return "fail"
    return "info" if write else "fail"


# -- seeding and read-back ---------------------------------------------------------------------
def seed(endpoint: Endpoint, info: SeedInfo, timeout_s: float = 10.0) -> None:
    """Creates the database and tables, then users, accounts, friendships, groups and members."""
    db = db_name(endpoint)
    c = connect(endpoint, timeout_s)
    try:
        with c.cursor() as cur:
            cur.execute(f"CREATE DATABASE IF NOT EXISTS `{db}`")
            cur.execute(f"USE `{db}`")
            for ddl in SCHEMA:
                cur.execute(ddl)
            cur.execute("BEGIN")
            cur.executemany("INSERT IGNORE INTO users (user_id, name, face_url, ex, create_time, app_manger_level,"
                            " global_recv_msg_opt) VALUES (%s, %s, '', '', NOW(3), 1, 0)",
                            [(u, f"user {u}") for u in info.users])
            cur.executemany("INSERT IGNORE INTO accounts (user_id, password, create_time, change_time, operator_user_id)"
                            " VALUES (%s, MD5(%s), NOW(3), NOW(3), 'admin')", [(u, u) for u in info.users])
            cur.executemany("INSERT IGNORE INTO friends (owner_user_id, friend_user_id, remark, create_time, add_source,"
                            " operator_user_id, ex) VALUES (%s, %s, '', NOW(3), 1, %s, '')",
                            [(a, b, a) for a, b in info.friends])
            cur.executemany("INSERT IGNORE INTO `groups` (group_id, name, create_time, status, creator_user_id, group_type)"
                            " VALUES (%s, %s, NOW(3), 0, %s, 2)", [(g, f"group {g}", m[0]) for g, m in info.groups])
            cur.executemany("INSERT IGNORE INTO group_members (group_id, user_id, role_level, join_time, join_source)"
                            " VALUES (%s, %s, 20, NOW(3), 2)", [(g, u) for g, m in info.groups for u in m])
            cur.execute("COMMIT")
    finally:
        c.close()


def read_rows(endpoint: Endpoint, writes: Iterable[AckedWrite], timeout_s: float = 10.0) -> Iterator[tuple[AckedWrite, str | None]]:
    """For each acknowledged insert: the id found where it should be (None: no row).

    users: looked up by user_id. user_login_records: looked up by its auto-increment id (the seq);
    the row's device_id (unique per login) must be the acknowledged one, else it was overwritten."""
    c = connect(endpoint, timeout_s, db_name(endpoint))
    # stream -> (table, key column, identity column, key of the acked write)
    tables = {USERS_STREAM: ("users", "user_id", "user_id", lambda w: w.id),
              LOGIN_STREAM: ("user_login_records", "id", "device_id", lambda w: int(w.seq or 0))}
    try:
        batch: list[AckedWrite] = []

        def flush(batch: list[AckedWrite]) -> Iterator[tuple[AckedWrite, str | None]]:
            by_stream: dict[str, list[AckedWrite]] = {}
            for w in batch:
                by_stream.setdefault(w.stream, []).append(w)
            for stream, ws in by_stream.items():
                table, col, ident, key = tables[stream]
                with c.cursor() as cur:
                    cur.execute(f"SELECT {col}, {ident} FROM {table} WHERE {col} IN ({','.join(['%s'] * len(ws))})",
                                [key(w) for w in ws])
                    present = {r[0]: str(r[1]) for r in cur.fetchall()}
                for w in ws:
                    yield w, present.get(key(w))

        for w in writes:
            batch.append(w)
            if len(batch) >= 500:
                yield from flush(batch)
                batch = []
        if batch:
            yield from flush(batch)
    finally:
        c.close()


# -- connection limits (the connections cell, harness/connections.py) ----------------------------
ER_CON_COUNT_ERROR = 1040
CONNECTION_SOCKETS = 1
_CONNECTION_COUNTERS = ("Threads_connected", "Max_used_connections", "Connection_errors_max_connections",
                        "Aborted_connects", "Connections")
# MariaDB (and MySQL) admit one connection beyond max_connections for a user holding one of these
_RESERVE_PRIVILEGES = ("SUPER", "CONNECTION ADMIN", "CONNECTION_ADMIN")


def connection_opener(endpoint: Endpoint, timeout_s: float) -> Callable[[], pymysql.connections.Connection]:
    """One authenticated connection per call; the server's 1040 becomes `Refused`, in the words
    go-sql-driver prints for it: a SUPER user such as root is refused before the handshake, in a
    packet without SQLSTATE (a user without SUPER is refused after it, with SQLSTATE 08004)."""

    def open_one() -> pymysql.connections.Connection:
        try:
            return connect(endpoint, timeout_s)
        except OperationalError as e:
            if e.args and e.args[0] == ER_CON_COUNT_ERROR:
                raise Refused(f"Error {e.args[0]}: {e.args[1]}") from e
            raise

    return open_one


class MysqlConnectionMonitor:
    """The harness's one held connection for `max_connections` and the status counters."""

    # refusals at accept time: all of a SUPER user's; a user without SUPER refused after the handshake
    # counts in Aborted_connects only
    refused_counter: str | None = "Connection_errors_max_connections"

    def __init__(self, endpoint: Endpoint, timeout_s: float):
        self._c = connect(endpoint, timeout_s)

    def _rows(self, sql: str, args: Any = None) -> tuple[tuple[Any, ...], ...]:
        with self._c.cursor() as cur:
            cur.execute(sql, args)
            return tuple(cur.fetchall())

    def limit(self) -> tuple[str, int]:
        return "max_connections", int(self._rows("SELECT @@max_connections")[0][0])

    def reserve(self) -> tuple[int, str]:
        granted = self._rows(
            "SELECT COUNT(*) FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = CONCAT(\"'\", "
            "SUBSTRING_INDEX(CURRENT_USER(), '@', 1), \"'@'\", SUBSTRING_INDEX(CURRENT_USER(), '@', -1), \"'\") "
            f"AND PRIVILEGE_TYPE IN ({', '.join(['%s'] * len(_RESERVE_PRIVILEGES))})", _RESERVE_PRIVILEGES)[0][0]
        if granted:
            return 1, ("one more connection for a user with SUPER / CONNECTION ADMIN: the harness's user has it, "
                       "as has the root user OpenIM connects as")
        return 0, "the harness's user has no SUPER / CONNECTION ADMIN: no connection beyond max_connections"

    def counters(self) -> dict[str, int]:
        rows = self._rows("SHOW GLOBAL STATUS WHERE Variable_name IN "
                          f"({', '.join(['%s'] * len(_CONNECTION_COUNTERS))})", _CONNECTION_COUNTERS)
        return {str(k): int(v) for k, v in rows}

    @staticmethod
    def in_use(counters: dict[str, int]) -> int:
        """Connections counted against max_connections: every client thread (a replica's binlog dump too)."""
        return counters["Threads_connected"]

    def close(self) -> None:
        try:
            self._c.close()
        except Exception:  # noqa: BLE001 - already gone
            pass


def connection_monitor(endpoint: Endpoint, timeout_s: float) -> MysqlConnectionMonitor:
    return MysqlConnectionMonitor(endpoint, timeout_s)
