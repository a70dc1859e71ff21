"""The connection-limit cell's measuring parts: OpenIM's pool facts, the plan, the thread-pooled
opener, and real MariaDB / Redis servers refusing at their limits, counted by both sides."""

from __future__ import annotations

import resource

import pymysql
import pytest

from harness import engines
from harness.connections import ConnectionsPlan, ConnectionsResult, measure_connections, spread
from harness.errors import HarnessError
from harness.openim_pools import POOLS, pool_of
from harness.workload import connpool
from harness.workload.connpool import Refused, ensure_fd_budget, open_fds, open_many

# KubeBlocks' MySQL max_connections for a 0.5Gi limit: (0.5Gi / 4) / 1605632 (reference/kubeblocks-day2.md 3)
KUBEBLOCKS_MAX_CONNECTIONS_05GI = 83


# -- OpenIM's pools (data) -------------------------------------------------------------------------
def test_openim_pool_facts():
    assert set(POOLS) == set(engines.ENGINES)
    redis, mongo, mysql = pool_of("redis"), pool_of("mongodb"), pool_of("mysql")
    assert (redis.services, redis.processes, redis.pool) == (10, 20, 100)
    assert (mongo.services, mongo.processes, mongo.pool) == (7, 14, 100)
    assert (mysql.services, mysql.processes, mysql.pool, mysql.pool_max) == (6, 6, 100, 1000)
    assert "openim-api" not in {u.service for u in redis.users}, "the api opens no Redis pool at v3.8.3"
    assert {u.service for u in mongo.users} < {u.service for u in redis.users}
    for facts in POOLS.values():
        assert all(len(s.commit) == 40 and s.ref.startswith("v") for s in facts.sources)
        assert facts.to_json()["processes"] == facts.processes


def test_unknown_engine_has_no_pool_facts():
    with pytest.raises(HarnessError, match="no OpenIM pool facts for engine 'oracle'; known: "):
        pool_of("oracle")


# -- the plan --------------------------------------------------------------------------------------
def test_plan_defaults_to_openim_own_deployment():
    plan = ConnectionsPlan.default("redis")
    assert (plan.processes, plan.pool, plan.wanted) == (20, 100, 2000)
    assert "10 services" in plan.source and "poolSize 100" in plan.source


def test_plan_settings_override_and_say_so():
    plan = ConnectionsPlan.from_settings("mysql", processes=3)
    assert (plan.processes, plan.pool) == (3, 100)
    assert plan.source.startswith("processes 3 from settings (OpenIM's deployment: 6)")


@pytest.mark.parametrize("kw, message", [
    ({"processes": 0}, "connections.processes must be an integer in [1, 200], got 0"),
    ({"pool": 1001}, "connections.pool must be an integer in [1, 1000], got 1001"),
    ({"pool": True}, "connections.pool must be an integer in [1, 1000], got True"),
])
def test_plan_bad_numbers_are_one_line(kw, message):
    with pytest.raises(HarnessError) as e:
        ConnectionsPlan.from_settings("redis", **kw)
    assert str(e.value) == message


def test_spread_names_runs_of_processes():
    assert spread((100, 100, 100, 47, 0, 0), 100) == "processes 1-3 got all 100, process 4 got 47 of 100, processes 5-6 got none"
    assert spread((83, 0), 100) == "process 1 got 83 of 100, process 2 got none"
    assert spread((5,), 5) == "process 1 got all 5"


# -- the opener and the descriptor budget ----------------------------------------------------------
class FakeConn:
    closed = 0

    def close(self):
        FakeConn.closed += 1


def test_open_many_counts_refusals_apart_from_errors_and_closes_all():
    FakeConn.closed = 0
    calls = iter(range(10_000))

    def connect():
        i = next(calls)
        if i % 3 == 1:
            raise Refused("ERR max number of clients reached")
        if i % 3 == 2:
            raise TimeoutError("timed out")
        return FakeConn()

    held = open_many(connect, 3000)
    assert (held.wanted, held.opened, held.refused, held.errors) == (3000, 1000, 1000, 1000)
    assert held.first_refusal == "ERR max number of clients reached"
    assert held.first_error == "TimeoutError: timed out"
    held.close()
    held.close()
    assert FakeConn.closed == 1000


def test_fd_budget_raises_the_soft_limit_up_to_the_hard_one():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    low = open_fds() + connpool.FD_MARGIN + 10
    if hard != resource.RLIM_INFINITY and hard < low + 100:
        pytest.skip(f"the hard RLIMIT_NOFILE ({hard}) leaves no room to test a raise")
    resource.setrlimit(resource.RLIMIT_NOFILE, (low, hard))
    try:
        assert ensure_fd_budget(5) == low, "enough room: nothing changes"
        raised = ensure_fd_budget(100)
        assert raised >= low + 100 and resource.getrlimit(resource.RLIMIT_NOFILE) == (raised, hard)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_fd_budget_beyond_the_hard_limit_is_one_clear_error(monkeypatch):
    monkeypatch.setattr(connpool.resource, "getrlimit", lambda _: (1024, 1024))
    with pytest.raises(HarnessError) as e:
        ensure_fd_budget(5000)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("holding 5000 connections needs about")
    assert "at most 1024 (RLIMIT_NOFILE hard limit)" in msg and "connections.pool" in msg


def test_measure_checks_the_budget_before_opening_anything(monkeypatch):
    monkeypatch.setattr(connpool.resource, "getrlimit", lambda _: (256, 256))

    class NoEngine:
        name = "redis"

        def connection_monitor(self, *a):
            raise AssertionError("nothing may be opened when the connections cannot fit")

    with pytest.raises(HarnessError, match="RLIMIT_NOFILE hard limit"):
        measure_connections(None, NoEngine(), ConnectionsPlan.from_settings("redis", processes=20, pool=100))


# -- real servers ------------------------------------------------------------------------------------
def _mysql_set_limit(ep, value):
    conn = pymysql.connect(host=ep.primary_address()[0], port=ep.primary_address()[1], user=ep.user,
                           password=ep.password, autocommit=True, connect_timeout=5)
    try:
        with conn.cursor() as cur:
            cur.execute(f"SET GLOBAL max_connections = {int(value)}")
    finally:
        conn.close()


@pytest.fixture
def mariadb(local_platform, fast_spec):
    dep = local_platform.deploy("mysql", "statefulset", fast_spec)
    return local_platform.endpoint(dep)


@pytest.fixture
def redis_ep(local_platform, fast_spec):
    dep = local_platform.deploy("redis", "statefulset", fast_spec)
    return local_platform.endpoint(dep)


def assert_server_agrees(r: ConnectionsResult):
    assert r.disagreements == ()
    assert r.server_opened == r.opened and r.server_refused == r.refused
    assert r.returned_to_baseline, "every connection the cell opened is closed on the server too"


def test_mariadb_refuses_openim_pools_beyond_kubeblocks_max_connections(mariadb):
    """OpenIM v3.4's 6 processes x 100 against KubeBlocks' 0.5Gi max_connections: 83, + 1 for SUPER."""
    _mysql_set_limit(mariadb, KUBEBLOCKS_MAX_CONNECTIONS_05GI)
    fds = open_fds()
    r = measure_connections(mariadb, "mysql", ConnectionsPlan.default("mysql"))
    assert (r.server_limit.name, r.server_limit.value, r.server_limit.reserve) == ("max_connections", 83, 1)
    assert r.baseline == 1, "only the harness's monitor is connected before the pools"
    assert (r.opened, r.refused, r.errors) == (83, 600 - 83, 0), "83 + 1 (SUPER) - the monitor"
    assert r.per_process_opened == (83, 0, 0, 0, 0, 0)
    assert r.spread() == "process 1 got 83 of 100, processes 2-6 got none"
    assert r.first_refusal == "Error 1040: Too many connections"
    assert r.refused_counter == "Connection_errors_max_connections"
    assert r.counters_during["Threads_connected"] == 84 and r.counters_during["Max_used_connections"] >= 84
    assert_server_agrees(r)
    assert r.counters_after["Threads_connected"] == 1
    assert "Error 1040: Too many connections" in r.openim_sees and "processes 2-6 got none" in r.openim_sees
    assert open_fds() <= fds, "no socket left open here either"
    assert ConnectionsResult.from_results(r.to_results()) == r


def test_mariadb_pools_below_the_limit_all_open(mariadb):
    _mysql_set_limit(mariadb, KUBEBLOCKS_MAX_CONNECTIONS_05GI)
    r = measure_connections(mariadb, "mysql", ConnectionsPlan.from_settings("mysql", processes=2, pool=41))
    assert (r.opened, r.refused, r.per_process_opened) == (82, 0, (41, 41))
    assert_server_agrees(r)
    assert "OpenIM sees no refusal" in r.openim_sees


def test_redis_refuses_beyond_maxclients_and_rejected_connections_agrees(redis_ep):
    eng = engines.get("redis")
    import redis as redis_py

    host, port = redis_ep.primary_address()
    admin = redis_py.Redis(host=host, port=port, password=redis_ep.password)
    admin.config_set("maxclients", 50)
    admin.close()
    assert eng.connection_limit(redis_ep) == ("maxclients", 50)
    r = measure_connections(redis_ep, eng, ConnectionsPlan.from_settings("redis", processes=4, pool=20))
    assert (r.server_limit.reserve, r.baseline) == (0, 1)
    assert (r.opened, r.refused, r.errors) == (49, 31, 0), "maxclients 50 - the monitor"
    assert r.per_process_opened == (20, 20, 9, 0)
    assert r.first_refusal == "ERR max number of clients reached"
    assert r.refused_counter == "rejected_connections"
    assert_server_agrees(r)
    assert r.counters_after["connected_clients"] == 1


def test_redis_takes_openim_default_pools_in_thousands(redis_ep):
    """20 processes x poolSize 100 against Redis' default maxclients 10000: 2000 held at once."""
    r = measure_connections(redis_ep, "redis", ConnectionsPlan.default("redis"))
    assert r.server_limit == r.server_limit.__class__("maxclients", 10000, 0, r.server_limit.reserve_note)
    assert (r.opened, r.refused, r.per_process_opened) == (2000, 0, (100,) * 20)
    assert_server_agrees(r)
    assert r.counters_during["connected_clients"] == 2001


def test_redis_baseline_counts_sentinels_and_the_replica(local_platform, fast_spec):
    """maxclients counts every client, replicas too (INFO's connected_clients leaves them out)."""
    import redis as redis_py

    from harness.workload.redis import primary_address

    ep = local_platform.endpoint(local_platform.deploy("redis", "kubeblocks", fast_spec))
    host, port = primary_address(ep, 2.0)
    admin = redis_py.Redis(host=host, port=port, password=ep.password)
    admin.config_set("maxclients", 50)
    admin.close()
    r = measure_connections(ep, "redis", ConnectionsPlan.from_settings("redis", processes=4, pool=20))
    assert r.counters_before["connected_slaves"] == 1
    assert r.baseline == 1 + 3 * 2 + 1, "the monitor, each Sentinel's command and pub/sub links, the replica"
    assert (r.opened, r.refused, r.per_process_opened) == (50 - r.baseline, 80 - 50 + r.baseline, (20, 20, 2, 0))
    assert_server_agrees(r)
