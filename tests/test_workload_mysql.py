"""MySQL ops against a real mariadbd (local platform, statefulset): openim-chat / OpenIM <=3.4
tables, read-back of every acked insert, Com_* counters, deleted rows reported as lost, and the
worker's database/sql-like connection pool (the server's own counters as the independent source)."""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path

import pymysql
import pytest

from harness import engines
from harness.contracts import Endpoint
from harness.history import HistoryWriter, now_us
from harness.platforms.local.mariadb_admin import query as admin_query
from harness.workload.base import NotApplied, make_actor
from harness.workload.driver import LoadSpec, seed_data, start_load
from harness.workload.model import SeedSize
from harness.workload.mysql import CLIENT_COMMANDS, LOGIN_STREAM, MysqlClient, connect
from harness.workload.mysql_pool import MysqlPool, PoolTimeout
from tests.workload_helpers import check_paths, drive

SIZE = SeedSize(users=30, friends_per_user=3, groups=2, group_size=8)
LOAD_WAIT_S = 60


@pytest.fixture
def mysql_ep(local_platform, fast_spec):
    dep = local_platform.deploy("mysql", "statefulset", fast_spec)
    return local_platform.endpoint(dep)


def _global_status(ep) -> dict[str, int]:
    c = connect(ep, 5.0)
    try:
        with c.cursor() as cur:
            cur.execute("SHOW GLOBAL STATUS WHERE Variable_name IN ('Com_select','Com_insert','Com_begin','Com_commit')")
            return {k: int(v) for k, v in cur.fetchall()}
    finally:
        c.close()


def test_ops_write_openim_chat_rows(mysql_ep, tmp_path):
    info = seed_data(mysql_ep, "mysql", SIZE, seed=3)
    client = MysqlClient(mysql_ep, 1.0)
    actor = make_actor(info, 0, 0, seed=3)
    try:
        reg = client.register(actor, {})
        log1 = client.login(actor, {})
        log2 = client.login(actor, {})
        friends = client.friends(actor, {})
        members = client.group_members(actor, {})
    finally:
        client.close()
    assert log1["stream"] == LOGIN_STREAM and log2["seq"] > log1["seq"]
    assert friends["n"] >= 1  # everyone has at least a ring neighbour
    assert members["n"] in (0, SIZE.group_size)
    c = connect(mysql_ep, 5.0, mysql_ep.database)
    try:
        with c.cursor() as cur:
            for table in ("users", "accounts", "attributes", "registers"):
                cur.execute(f"SELECT COUNT(*) FROM {table} WHERE user_id=%s", (reg["id"],))
                assert cur.fetchone()[0] == 1, f"register did not write {table}"
            cur.execute("SELECT user_id, platform FROM user_login_records WHERE id=%s", (log1["seq"],))
            assert cur.fetchone() == (actor.uid, "Android")
            cur.execute("SELECT COUNT(*) FROM group_members")
            assert cur.fetchone()[0] == SIZE.groups * SIZE.group_size
    finally:
        c.close()


def test_load_reads_back_every_ack_and_matches_com_counters(mysql_ep, registry, tmp_path):
    info = seed_data(mysql_ep, "mysql", SIZE, seed=1)
    before = _global_status(mysql_ep)
    spec = LoadSpec("mysql", {"register": 1, "login": 3, "friends": 3, "group_members": 2}, rate_ops_s=120, users=6,
                    duration_s=4, seed=1, workers=1)
    run = start_load(mysql_ep, spec, info, tmp_path / "out", registry, tmp_path / "load.log")
    try:
        summary = run.wait(LOAD_WAIT_S)
    finally:
        run.stop()
    after = _global_status(mysql_ep)
    assert summary.failed == 0 and summary.unknown == 0 and summary.ok > 300
    pool = summary.workers[0]["client_pool"]  # the worker's one pool, never more than its users at once
    assert 1 <= pool["max_open_seen"] <= spec.users and pool["discarded_total"] == 0, pool
    assert "client pool end " in (tmp_path / "load.log").read_text()
    rb, m = check_paths(mysql_ep, "mysql", run.history_paths, summary.load_start_us)
    assert rb.checked == m.acked_writes == m.by_op["register"]["ok"] + m.by_op["login"]["ok"]
    assert m.lost_writes == 0 and m.duplicate_seqs == 0 and m.seq_regressions == 0
    expected: dict[str, int] = {}
    for op, per in CLIENT_COMMANDS.items():
        for cmd, k in per.items():
            expected[cmd] = expected.get(cmd, 0) + m.by_op.get(op, {}).get("ok", 0) * k
    # the status query itself and the read-back are SELECTs too: both are tiny next to the load
    for cmd in ("Com_insert", "Com_select", "Com_commit"):
        got = after[cmd] - before[cmd]
        assert abs(got - expected[cmd]) <= 0.01 * expected[cmd] + 3, f"{cmd}: server {got}, history {expected[cmd]}"


def test_checker_reports_exactly_the_rows_deleted_behind_its_back(mysql_ep, tmp_path):
    info = seed_data(mysql_ep, "mysql", SIZE, seed=2)
    client = MysqlClient(mysql_ep, 1.0)
    actor = make_actor(info, 0, 0, seed=2)
    writer = HistoryWriter(tmp_path / "h.jsonl")
    start = now_us()
    logins = drive(client, actor, writer, "login", 30)
    users = drive(client, actor, writer, "register", 10)
    writer.close()
    client.close()
    c = connect(mysql_ep, 5.0, mysql_ep.database)
    with c.cursor() as cur:
        cur.execute("DELETE FROM user_login_records WHERE id IN (%s, %s, %s)", [v["seq"] for v in logins[3:6]])
        cur.execute("DELETE FROM users WHERE user_id=%s", (users[4]["id"],))
    c.close()
    rb, m = check_paths(mysql_ep, "mysql", [tmp_path / "h.jsonl"], start)
    assert m.acked_writes == 40 and m.lost_writes == 4
    assert sorted(x.id for x in m.lost) == sorted([v["id"] for v in logins[3:6]] + [users[4]["id"]])


def test_checker_reports_an_auto_increment_id_handed_out_twice(mysql_ep, tmp_path):
    """A primary that lost its last rows re-issues their ids (what a failover to a lagging replica does)."""
    info = seed_data(mysql_ep, "mysql", SIZE, seed=5)
    client = MysqlClient(mysql_ep, 1.0)
    actor = make_actor(info, 0, 0, seed=5)
    writer = HistoryWriter(tmp_path / "h.jsonl")
    start = now_us()
    logins = drive(client, actor, writer, "login", 10)
    c = connect(mysql_ep, 5.0, mysql_ep.database)
    with c.cursor() as cur:
        cur.execute("DELETE FROM user_login_records WHERE id > %s", (logins[6]["seq"],))
        cur.execute("ALTER TABLE user_login_records AUTO_INCREMENT = 1")  # next id = max(id)+1
    c.close()
    drive(client, actor, writer, "login", 3)
    writer.close()
    client.close()
    rb, m = check_paths(mysql_ep, "mysql", [tmp_path / "h.jsonl"], start)
    assert m.duplicate_seqs == 3 and m.seq_regressions == 3
    assert sorted(d.seq for d in m.duplicates) == [v["seq"] for v in logins[7:]]
    assert m.lost_writes == 3 and {x.reason for x in m.lost} == {"overwritten"}


# -- the pool: database/sql's semantics, with the server's own counters as the independent source ---
class Server:
    """One status connection held open for the whole test (so it counts once in Threads_connected)."""

    def __init__(self, ep):
        self.c = connect(ep, 5.0)

    def status(self, name: str) -> int:
        with self.c.cursor() as cur:
            cur.execute("SHOW GLOBAL STATUS LIKE %s", (name,))
            return int(cur.fetchone()[1])

    def threads(self) -> int:
        return self.status("Threads_connected")

    def kill(self, thread_id: int, poll) -> None:
        with self.c.cursor() as cur:
            cur.execute(f"KILL {int(thread_id)}")
        poll(lambda: not self._listed(thread_id), 10, f"thread {thread_id} gone from the processlist")

    def _listed(self, thread_id: int) -> bool:
        with self.c.cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID=%s", (thread_id,))
            return bool(cur.fetchone()[0])

    def close(self) -> None:
        self.c.close()


@pytest.fixture
def server(mysql_ep):
    s = Server(mysql_ep)
    yield s
    s.close()


def _pool(ep, timeout: float = 1.0, **kw) -> MysqlPool:
    return MysqlPool(lambda: connect(ep, timeout, ep.database), timeout, **kw)


def test_users_of_a_worker_share_one_pool_that_reuses_one_connection(mysql_ep, server, poll):
    """Sequential ops of several users open one connection (the server counts one more), and the
    single-flight warm-up of 20 users connects once."""
    info = seed_data(mysql_ep, "mysql", SIZE, seed=4)
    mysql = engines.get("mysql")
    pool = mysql.client_pool(mysql_ep, 1.0)
    clients = [mysql.client(mysql_ep, 1.0, None, pool) for _ in range(3)]
    actors = [make_actor(info, i, 0, seed=4) for i in range(3)]
    threads0, conns0 = server.threads(), server.status("Connections")
    warmers = [threading.Thread(target=clients[i % 3].warm) for i in range(20)]
    for t in warmers:
        t.start()
    for t in warmers:
        t.join()
    for i in range(30):
        c = clients[i % 3]
        c.run(("login", "friends", "register", "group_members")[i % 4], actors[i % 3], {})
    assert server.status("Connections") - conns0 == 1
    assert server.threads() - threads0 == 1
    st = pool.stats()
    assert (st["open"], st["idle"], st["max_open_seen"], st["opened_total"], st["discarded_total"]) == (1, 1, 1, 1, 0)
    for c in clients:
        c.close()  # shared pool: the clients leave it alone
    assert pool.stats()["open"] == 1
    pool.close()
    poll(lambda: server.threads() == threads0, 10, "the pool's connection closed on the server")


def test_the_pool_keeps_at_most_max_idle_and_reuses_the_last_returned_first(mysql_ep, server, poll):
    pool = _pool(mysql_ep, max_open=10, max_idle=2)
    threads0 = server.threads()
    with contextlib.ExitStack() as held:
        ids = [held.enter_context(pool.lease()).thread_id() for _ in range(5)]  # none idle: 5 connects
        assert server.threads() - threads0 == 5 and pool.stats()["in_use"] == 5
    # returned last-leased first: ids[4], ids[3] stay idle, ids[3] on top; the other 3 are closed
    st = pool.stats()
    assert (st["open"], st["idle"], st["idle_closed_total"], st["max_open_seen"]) == (2, 2, 3, 5)
    poll(lambda: server.threads() - threads0 == 2, 10, "3 connections closed over the idle cap")
    with pool.lease() as c:
        assert c.thread_id() == ids[3]  # freeConn[last]: the most recently returned
    pool.close()


def test_a_connection_killed_while_idle_is_dropped_at_checkout_and_the_op_succeeds(mysql_ep, server, poll):
    """go-sql-driver's liveness check at checkout + database/sql's retry: nothing was sent on the
    killed connection, so the op runs on a fresh one and succeeds."""
    info = seed_data(mysql_ep, "mysql", SIZE, seed=6)
    client = MysqlClient(mysql_ep, 1.0)
    actor = make_actor(info, 0, 0, seed=6)
    client.run("friends", actor, {})
    conns0 = server.status("Connections")
    with client.pool.lease() as c:
        killed = c.thread_id()
    server.kill(killed, poll)
    value = client.run("login", actor, {})
    assert value["seq"] > 0
    st = client.pool.stats()
    assert (st["stale_total"], st["opened_total"], st["open"], st["discarded_total"]) == (1, 2, 1, 0)
    assert server.status("Connections") - conns0 == 1  # one fresh connection, then reused
    with client.pool.lease() as c:
        assert c.thread_id() != killed
    client.close()


def test_a_connection_broken_during_an_op_is_discarded_and_the_next_op_opens_a_fresh_one(mysql_ep, server, poll):
    info = seed_data(mysql_ep, "mysql", SIZE, seed=8)
    client = MysqlClient(mysql_ep, 1.0)
    actor = make_actor(info, 0, 0, seed=8)
    with pytest.raises(pymysql.err.Error):
        with client.pool.lease() as c:
            killed = c.thread_id()
            server.kill(killed, poll)
            with c.cursor() as cur:
                cur.execute("SELECT 1")
    st = client.pool.stats()
    assert (st["discarded_total"], st["open"], st["idle"]) == (1, 0, 0)
    client.run("login", actor, {})
    st = client.pool.stats()
    assert (st["opened_total"], st["open"], st["idle"]) == (2, 1, 1)
    client.close()


def test_an_expired_connection_is_closed_when_returned(mysql_ep, server, poll):
    """SetConnMaxLifetime: here so short that every connection expires before it is returned."""
    pool = _pool(mysql_ep, max_lifetime_s=1e-9)
    conns0 = server.status("Connections")
    for _ in range(3):
        with pool.lease() as c, c.cursor() as cur:
            cur.execute("SELECT 1")
    st = pool.stats()
    assert (st["opened_total"], st["expired_total"], st["open"]) == (3, 3, 0)
    assert server.status("Connections") - conns0 == 3


def test_at_max_open_an_op_waits_for_a_returned_connection_and_fails_at_its_deadline(mysql_ep, server, poll):
    info = seed_data(mysql_ep, "mysql", SIZE, seed=9)
    pool = _pool(mysql_ep, 0.5, max_open=1)
    client = MysqlClient(mysql_ep, 0.5, pool=pool)
    actor = make_actor(info, 0, 0, seed=9)
    outcome: list = []

    def op() -> None:
        try:
            outcome.append(client.run("friends", actor, {}))
        except Exception as e:  # noqa: BLE001 - recorded for the assertion
            outcome.append(e)

    with pool.lease() as held:
        held_id = held.thread_id()
        waiter = threading.Thread(target=op)
        waiter.start()
        poll(lambda: pool.stats()["waiting"] == 1, 10, "the op waiting for the pool's only connection")
    waiter.join(10)
    assert outcome and isinstance(outcome[0], dict), outcome  # it got the returned connection
    st = pool.stats()
    assert (st["waits_total"], st["opened_total"], st["max_open_seen"], st["wait_timeouts_total"]) == (1, 1, 1, 0)
    with pool.lease() as held:
        assert held.thread_id() == held_id
        with pytest.raises(NotApplied) as e:
            client.run("login", actor, {})  # nothing is returned: it gives up at the deadline
    assert isinstance(e.value.cause, PoolTimeout)
    assert client.classify(e.value, write=True) == "fail"  # nothing was sent
    st = pool.stats()
    assert (st["wait_timeouts_total"], st["open"], st["max_open_seen"], st["waiting"]) == (1, 1, 1, 0)
    pool.close()


def test_new_connections_follow_the_primary_file_and_a_demoted_primarys_are_discarded(local_platform, fast_spec):
    """Two servers and a primary file, as the role controller keeps it. A pooled connection stays on
    its server after the file changes (as one through KubeBlocks' Service does); when the old primary
    turns read-only, the failed write discards it and the next connection goes to the new primary."""
    deps = [local_platform.deploy("mysql", "statefulset", fast_spec) for _ in range(2)]
    eps = [local_platform.endpoint(d) for d in deps]
    info = seed_data(eps[0], "mysql", SIZE, seed=11)
    seed_data(eps[1], "mysql", SIZE, seed=11)
    handles = [d.handle for d in deps]
    pods = [h.pods["mysql-0"] for h in handles]
    # one password for both (the role controller's pods share theirs); mysql-A's clients fenced by read_only
    admin_query(handles[1], pods[1], f"ALTER USER 'root'@'127.0.0.1' IDENTIFIED BY '{eps[0].password}'")
    admin_query(handles[0], pods[0], "REVOKE READ_ONLY ADMIN ON *.* FROM 'root'@'127.0.0.1'")
    primary = Path(handles[0].work_dir) / "primary-test"
    (a_host, a_port), (b_host, b_port) = eps[0].addresses[0], eps[1].addresses[0]
    primary.write_text(f"{a_host}:{a_port}\n")
    ep = Endpoint(engine="mysql", mode="kubeblocks", addresses=(eps[0].addresses[0], eps[1].addresses[0]),
                  password=eps[0].password, user="root", database=eps[0].database, primary_file=str(primary))

    def logins() -> tuple[int, int]:
        q = f"SELECT COUNT(*) AS n FROM `{ep.database}`.user_login_records"
        a, b = (int(admin_query(h, p, q)[0]["n"]) for h, p in zip(handles, pods, strict=True))
        return a, b

    client = MysqlClient(ep, 1.0)
    actor = make_actor(info, 0, 0, seed=11)
    client.run("login", actor, {})
    primary.write_text(f"{b_host}:{b_port}\n")  # the failover's new primary
    client.run("login", actor, {})
    assert logins() == (2, 0)  # the pooled connection is still on mysql-A
    admin_query(handles[0], pods[0], "SET GLOBAL read_only=ON")  # mysql-A demoted, still up
    with pytest.raises(pymysql.err.OperationalError) as e:
        client.run("login", actor, {})
    assert e.value.args[0] in (1290, 1836) and client.classify(e.value, write=True) == "fail"
    assert client.pool.stats()["discarded_total"] == 1
    client.run("login", actor, {})
    assert logins() == (2, 1)
    assert client.pool.stats()["opened_total"] == 2
    client.close()
