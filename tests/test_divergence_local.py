"""Replica divergence on the local platform against real mariadbd / redis-server processes: a replica
in step compares equal table by table (key by key); a row or key planted on the replica is named; a
stopped replica is reported as not caught up; and with `slave_exec_mode=IDEMPOTENT` (KubeBlocks' MySQL
setting) a missing row that would stop a STRICT replica leaves replication "healthy" while the
tables differ: only this check finds it."""

from __future__ import annotations

import pymysql
import pytest

from harness import engines
from harness.platforms.local import sentinel
from harness.platforms.local.mariadb_admin import admin, query
from harness.platforms.replica_compare import KEY_COUNT, NOT_CAUGHT_UP, sample
from harness.workload.base import make_actor
from harness.workload.driver import seed_data
from harness.workload.model import SeedSize

SIZE = SeedSize(users=30, friends_per_user=3, groups=2, group_size=8)
ER_KEY_NOT_FOUND = 1032  # the row event's row is not on the replica (HA_ERR_KEY_NOT_FOUND)


def load(ep, engine, n, tag=""):
    """Seeds, then `n` rounds of the engine's write ops through its own client (what a cell leaves);
    `tag`: a second load on the same database writes new ids."""
    info = seed_data(ep, engine, SIZE, seed=7)
    eng = engines.get(engine)
    client = eng.client(ep, 2.0)
    actor = make_actor(info, 0, 0, seed=7, tag=tag)
    try:
        for _ in range(n):
            for op, writes in eng.ops.items():
                if writes:
                    client.run(op, actor, {})
    finally:
        client.close()


def on_replica(dep, pod, *sqls):
    """Root over the socket: bypasses read_only; sql_log_bin=0 keeps it out of the binlog (no GTID)."""
    c = admin(dep.handle, dep.handle.pods[pod], 5.0)
    try:
        with c.cursor() as cur:
            cur.execute("SET sql_log_bin=0")
            for sql in sqls:
                cur.execute(sql)
    finally:
        c.close()


def on_primary(dep, sql):
    query(dep.handle, dep.handle.pods["mysql-0"], sql, 5.0)


def workload_tables(dep):
    rows = query(dep.handle, dep.handle.pods["mysql-0"],
                 "SELECT TABLE_NAME AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA='openIM_v3'", 5.0)
    return {f"openIM_v3.{r['t']}" for r in rows}


def test_mysql_replica_in_step_compares_every_table_then_a_planted_row_is_named(local_platform, fast_spec):
    dep = local_platform.deploy("mysql", "kubeblocks", fast_spec)
    load(local_platform.endpoint(dep), "mysql", 20)
    [d] = local_platform.divergence(dep)
    tables = workload_tables(dep)
    assert (d.primary, d.replica, d.method) == ("mysql-0", "mysql-1", "CHECKSUM TABLE")
    assert not d.diverged and d.compared == len(tables) >= 8, d
    assert "every checksum equal" in d.detail and d.detail.startswith("caught up after "), d.detail
    on_replica(dep, "mysql-1", "INSERT INTO openIM_v3.users (user_id, name) VALUES ('planted', 'only on the replica')")
    [d] = local_platform.divergence(dep)
    assert d.differing == ("openIM_v3.users",), d
    assert "openIM_v3.users: " in d.detail and "re-checked" in d.detail, d.detail
    primary_rows = query(dep.handle, dep.handle.pods["mysql-0"], "SELECT COUNT(*) AS n FROM openIM_v3.users")[0]["n"]
    assert f"{primary_rows} rows on mysql-0, {primary_rows + 1} rows on mysql-1" in d.detail, d.detail


def test_mysql_stopped_replica_is_reported_not_caught_up_not_compared(local_platform, fast_spec):
    dep = local_platform.deploy("mysql", "kubeblocks", fast_spec)
    load(local_platform.endpoint(dep), "mysql", 2)
    # the applier stopped on purpose (as --safe-slave-backup does): the role controller leaves it alone
    on_replica(dep, "mysql-1", "STOP SLAVE SQL_THREAD")
    load(local_platform.endpoint(dep), "mysql", 5, tag="b")
    [d] = local_platform.divergence(dep, catch_up_s=1.0)
    assert d.differing == (NOT_CAUGHT_UP,) and d.compared == 0 and d.diverged, d
    assert "not caught up within 1 s" in d.detail and "transactions behind" in d.detail, d.detail
    on_replica(dep, "mysql-1", "START SLAVE SQL_THREAD")
    [d] = local_platform.divergence(dep)
    assert not d.diverged and d.compared >= 8, d


def test_idempotent_replica_hides_a_missing_row_that_stops_a_strict_one(local_platform, fast_spec, poll):
    """The finding the report needs: under KubeBlocks' IDEMPOTENT the replica's own status stays healthy."""
    dep = local_platform.deploy("mysql", "kubeblocks", fast_spec)
    load(local_platform.endpoint(dep), "mysql", 5)
    assert not local_platform.divergence(dep)[0].diverged
    # KubeBlocks renders IDEMPOTENT and MIXED (under which this UPDATE is a statement event that finds no
    # row and fails nowhere): first the defaults that would stop, STRICT on the replica and ROW events
    on_replica(dep, "mysql-1", "STOP SLAVE SQL_THREAD", "SET GLOBAL slave_exec_mode='STRICT'", "START SLAVE SQL_THREAD")
    on_primary(dep, "SET GLOBAL binlog_format='ROW'")
    victim = query(dep.handle, dep.handle.pods["mysql-0"], "SELECT user_id FROM openIM_v3.users ORDER BY user_id LIMIT 1")[0]["user_id"]
    on_replica(dep, "mysql-1", f"DELETE FROM openIM_v3.users WHERE user_id='{victim}'")
    on_primary(dep, f"UPDATE openIM_v3.users SET name='renamed' WHERE user_id='{victim}'")
    # STRICT (MariaDB's and MySQL's default): the row event finds no row, the applier stops
    poll(lambda: query(dep.handle, dep.handle.pods["mysql-1"], "SHOW SLAVE STATUS")[0]["Last_SQL_Errno"] == ER_KEY_NOT_FOUND,
         30, "the STRICT replica's applier stopped on the missing row")
    assert not _replica_state(local_platform, dep).healthy
    [d] = local_platform.divergence(dep, catch_up_s=1.0)
    assert d.differing == (NOT_CAUGHT_UP,), d
    # IDEMPOTENT (KubeBlocks' addon): the same event is skipped; the role controller restarts the applier
    on_replica(dep, "mysql-1", "SET GLOBAL slave_exec_mode='IDEMPOTENT'")
    poll(lambda: _replica_state(local_platform, dep).healthy, 30, "the IDEMPOTENT replica replicating and caught up")
    status = query(dep.handle, dep.handle.pods["mysql-1"], "SHOW SLAVE STATUS")[0]
    assert (status["Slave_SQL_Running"], status["Last_SQL_Errno"]) == ("Yes", 0), "no error anywhere"
    [d] = local_platform.divergence(dep)
    assert d.differing == ("openIM_v3.users",), d
    n = query(dep.handle, dep.handle.pods["mysql-0"], "SELECT COUNT(*) AS n FROM openIM_v3.users")[0]["n"]
    assert f"{n} rows on mysql-0, {n - 1} rows on mysql-1" in d.detail, d.detail
    # a duplicate key under IDEMPOTENT (row events) is not skipped but overwritten: the replica's own row
    # is replaced by the primary's, silently; that table converges, so the check has nothing to name there
    on_replica(dep, "mysql-1", "INSERT INTO openIM_v3.`groups` (group_id, name) VALUES ('g-planted', 'replica')")
    on_primary(dep, "INSERT INTO openIM_v3.`groups` (group_id, name) VALUES ('g-planted', 'primary')")
    [d] = local_platform.divergence(dep)
    assert d.differing == ("openIM_v3.users",), d
    row = query(dep.handle, dep.handle.pods["mysql-1"], "SELECT name FROM openIM_v3.`groups` WHERE group_id='g-planted'")
    assert row == [{"name": "primary"}]
    assert query(dep.handle, dep.handle.pods["mysql-1"], "SHOW SLAVE STATUS")[0]["Last_SQL_Errno"] == 0


def _replica_state(platform, dep):
    return next(s for s in platform.replication_state(dep) if s.pod == "mysql-1")


def test_redis_planted_key_and_changed_value_are_named_and_a_frozen_replica_is_not_compared(local_platform, fast_spec):
    dep = local_platform.deploy("redis", "kubeblocks", fast_spec)
    ep = local_platform.endpoint(dep)
    load(ep, "redis", 30)
    [d] = local_platform.divergence(dep)
    primary, replica = dep.handle.pods["redis-0"], dep.handle.pods["redis-1"]
    with sentinel.client(primary.port, ep.password, 5.0) as c:
        size = c.dbsize()
        some_hash = next(k for k in sorted(c.scan_iter(count=1000)) if c.type(k) == "hash")
        original = c.hgetall(some_hash)
    assert (d.primary, d.replica) == ("redis-0", "redis-1") and not d.diverged, d
    assert d.compared == min(size, 500) and f"DBSIZE {size} on redis-0, {size} on redis-1" in d.detail, d
    with sentinel.client(replica.port, ep.password, 5.0) as c:
        c.config_set("replica-read-only", "no")
        c.set("divergence:planted", "only on the replica")
        c.hset(some_hash, next(iter(original)), "changed on the replica")
    [d] = local_platform.divergence(dep)
    assert set(d.differing) == {KEY_COUNT, "divergence:planted", some_hash}, d
    assert f"DBSIZE {size} on redis-0, {size + 1} on redis-1" in d.detail, d.detail
    # past the sample size: 500 keys a side are compared; a replica-only key is named when it falls among
    # the sample's smallest hashes, else only the key count tells
    with sentinel.client(primary.port, ep.password, 5.0) as c:
        c.mset({f"bulk:{i}": str(i) for i in range(3000)})
        keys = set(c.scan_iter(count=1000))
    inside = next(k for k in (f"planted:{i}" for i in range(10**6)) if k in sample(keys | {k}))
    outside = next(k for k in (f"unsampled:{i}" for i in range(10**6)) if k not in sample(keys | {inside, k}))
    with sentinel.client(replica.port, ep.password, 5.0) as c:
        c.delete("divergence:planted")
        c.hset(some_hash, mapping=original)
        c.set(inside, "x")
        c.set(outside, "y")
    [d] = local_platform.divergence(dep)
    assert d.compared == 501 and d.differing == (KEY_COUNT, inside), d
    assert f"DBSIZE {len(keys)} on redis-0, {len(keys) + 2} on redis-1" in d.detail, d.detail
    info = next(p for p in local_platform.pods(dep) if p.name == "redis-1")
    local_platform.pause(dep, info)
    try:
        with sentinel.client(primary.port, ep.password, 5.0) as c:
            c.set("divergence:after-the-freeze", "1")
        [d] = local_platform.divergence(dep, catch_up_s=1.0)
    finally:
        local_platform.resume(dep, info)
    assert d.differing == (NOT_CAUGHT_UP,) and d.compared == 0 and "unreachable" in d.detail, d


@pytest.mark.parametrize("engine", ["mysql", "redis"])
def test_a_statefulset_has_nothing_to_compare(local_platform, fast_spec, engine):
    dep = local_platform.deploy(engine, "statefulset", fast_spec)
    assert local_platform.divergence(dep) == []


def test_admin_socket_bypasses_read_only_so_planting_is_possible(local_platform, fast_spec):
    """The tests' planting relies on it; a client over TCP is fenced."""
    dep = local_platform.deploy("mysql", "kubeblocks", fast_spec)
    on_replica(dep, "mysql-1", "CREATE TABLE openIM_v3.planted (id INT PRIMARY KEY)")
    ep = local_platform.endpoint(dep)
    conn = pymysql.connect(host="127.0.0.1", port=dep.handle.pods["mysql-1"].port, user=ep.user, password=ep.password)
    try:
        with conn.cursor() as cur, pytest.raises(pymysql.err.OperationalError):
            cur.execute("INSERT INTO openIM_v3.planted VALUES (1)")
    finally:
        conn.close()
    [d] = local_platform.divergence(dep)
    assert d.differing == ("openIM_v3.planted",) and "no such table on mysql-0, 0 rows on mysql-1" in d.detail, d
