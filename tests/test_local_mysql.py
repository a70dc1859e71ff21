"""MariaDB on the local platform: real mariadbd processes, GTID semi-sync, the role controller."""

from __future__ import annotations

import pymysql
import pytest
from _helpers import mysql_connect, mysql_execute

from harness.contracts import Fault
from harness.faults import inject

READ_ONLY_ERRORS = (1290, 1836)  # ER_OPTION_PREVENTS_STATEMENT (read_only), ER_READ_ONLY_MODE


connect = mysql_connect
execute = mysql_execute


def pod(platform, dep, name):
    return next(p for p in platform.pods(dep) if p.name == name)


def test_statefulset_takes_writes_and_restarts_in_place(local_platform, fast_spec, poll):
    dep = local_platform.deploy("mysql", "statefulset", fast_spec)
    ep = local_platform.endpoint(dep)
    assert ep.primary_file is None and ep.user == "root"
    execute(ep, "CREATE TABLE t (id INT PRIMARY KEY)")
    execute(ep, "INSERT INTO t VALUES (1), (2), (3)")
    old_pid = dep.handle.pods["mysql-0"].pid
    inject(local_platform, dep, Fault("pod-kill", "primary"))
    poll(lambda: dep.handle.pods["mysql-0"].pid != old_pid and execute(ep, "SELECT COUNT(*) FROM t"), 30,
         "mysql-0 restarted in place")
    assert execute(ep, "SELECT COUNT(*) FROM t") == ((3,),), "committed rows survived the SIGKILL"
    assert dep.version and dep.version.startswith("10.")


def test_statefulset_secondary_is_not_applicable(local_platform, fast_spec):
    from harness.errors import CellNotApplicable

    dep = local_platform.deploy("mysql", "statefulset", fast_spec)
    with pytest.raises(CellNotApplicable):
        inject(local_platform, dep, Fault("pod-kill", "secondary"))


def test_kubeblocks_replicates_with_semisync(local_platform, fast_spec, poll):
    dep = local_platform.deploy("mysql", "kubeblocks", fast_spec)
    ep = local_platform.endpoint(dep)
    assert {p.name: (p.zone, p.role) for p in local_platform.pods(dep)} == {
        "mysql-0": ("zone-a", "primary"), "mysql-1": ("zone-b", "secondary")}
    assert ep.primary_address()[1] == dep.handle.pods["mysql-0"].port
    execute(ep, "CREATE TABLE t (id INT PRIMARY KEY)")
    execute(ep, "INSERT INTO t VALUES (1)")
    status = dict(execute(ep, "SHOW STATUS LIKE 'Rpl_semi_sync_master_status'"))
    assert status["Rpl_semi_sync_master_status"] == "ON"
    replica = dep.handle.pods["mysql-1"].port
    poll(lambda: execute(ep, "SELECT COUNT(*) FROM t", port=replica) == ((1,),), 10, "row on the replica")
    with pytest.raises(pymysql.err.OperationalError) as e:
        execute(ep, "INSERT INTO t VALUES (2)", port=replica)
    assert e.value.args[0] in READ_ONLY_ERRORS


def _write_succeeds(ep, value):
    def attempt():  # idempotent: a timed-out attempt may still have committed
        execute(ep, "REPLACE INTO t VALUES (%s)", (value,))
        return True

    return attempt


def test_kubeblocks_primary_kill_fails_over_and_old_primary_rejoins(local_platform, fast_spec, poll):
    spec = fast_spec.replace(restart_delay_s=3.0)  # longer than 2 probes: the failover happens first
    dep = local_platform.deploy("mysql", "kubeblocks", spec)
    ep = local_platform.endpoint(dep)
    execute(ep, "CREATE TABLE t (id INT PRIMARY KEY)")
    execute(ep, "INSERT INTO t VALUES (1)")
    inj = inject(local_platform, dep, Fault("pod-kill", "primary"))
    assert inj.instances == ("mysql-0",)
    poll(_write_succeeds(ep, 2), 30, "a write through the endpoint after the failover")
    assert ep.primary_address()[1] == dep.handle.pods["mysql-1"].port, "the endpoint follows mysql-1"
    assert execute(ep, "SELECT id FROM t ORDER BY id") == ((1,), (2,)), "the acknowledged row survived"
    changes = local_platform.role_changes(dep)
    assert [c.new_primary for c in changes] == ["mysql-1"]
    assert changes[0].at_wall >= inj.injected_at_wall
    # the old primary comes back as a fenced replica of mysql-1
    poll(lambda: pod(local_platform, dep, "mysql-0").role == "secondary", 30, "mysql-0 back as a replica")
    old = dep.handle.pods["mysql-0"].port
    with pytest.raises(pymysql.err.OperationalError) as e:
        execute(ep, "INSERT INTO t VALUES (99)", port=old)
    assert e.value.args[0] in READ_ONLY_ERRORS
    execute(ep, "INSERT INTO t VALUES (3)")
    poll(lambda: execute(ep, "SELECT COUNT(*) FROM t", port=old) == ((3,),), 20, "mysql-0 replicating mysql-1")
    assert [p.name for p in local_platform.pods(dep) if p.role == "primary"] == ["mysql-1"]


CR_SERVER_LOST = 2013  # the fence kills the clients' connections: a write in flight then sees this


def _old_primary_refuses(ep, port) -> bool:
    """True on a read-only refusal; False while the fence is still killing connections (retry); any
    other outcome, a write accepted included, fails the test."""
    try:
        execute(ep, "INSERT INTO t VALUES (51)", port=port)
    except pymysql.err.OperationalError as e:
        if e.args[0] == CR_SERVER_LOST:
            return False
        assert e.args[0] in READ_ONLY_ERRORS, e.args
        return True
    raise AssertionError("the thawed old primary accepted a write")


def test_kubeblocks_frozen_primary_is_fenced_when_thawed(local_platform, fast_spec, poll):
    dep = local_platform.deploy("mysql", "kubeblocks", fast_spec)
    ep = local_platform.endpoint(dep)
    execute(ep, "CREATE TABLE t (id INT PRIMARY KEY)")
    old_port = dep.handle.pods["mysql-0"].port
    stale = connect(ep)  # a client connection opened on the old primary before the freeze
    inj = inject(local_platform, dep, Fault("pod-freeze", "primary", duration_s=60))
    poll(lambda: ep.primary_address()[1] != old_port, 30, "the controller promoting mysql-1")
    poll(_write_succeeds(ep, 1), 30, "a write on the new primary")
    inj.recover()
    assert dep.handle.pods["mysql-0"].alive() and not dep.handle.pods["mysql-0"].frozen
    with pytest.raises(pymysql.err.Error):
        with stale.cursor() as cur:
            cur.execute("INSERT INTO t VALUES (50)")
    poll(lambda: _old_primary_refuses(ep, old_port), 10, "the thawed old primary refusing writes as read-only")
    poll(lambda: pod(local_platform, dep, "mysql-0").role == "secondary", 20, "mysql-0 rejoined")


def test_kubeblocks_zone_outage_fails_over_then_zone_returns(local_platform, fast_spec, poll):
    dep = local_platform.deploy("mysql", "kubeblocks", fast_spec)
    ep = local_platform.endpoint(dep)
    execute(ep, "CREATE TABLE t (id INT PRIMARY KEY)")
    inj = inject(local_platform, dep, Fault("zone-outage", "primary"))
    assert inj.zone == "zone-a" and inj.instances == ("mysql-0",)
    poll(_write_succeeds(ep, 1), 30, "a write after the zone-a outage")
    assert not dep.handle.pods["mysql-0"].alive(), "no restart while zone-a is down"
    inj.recover()
    old = dep.handle.pods["mysql-0"].port
    poll(lambda: execute(ep, "SELECT COUNT(*) FROM t", port=old) == ((1,),), 30,
         "mysql-0 back in zone-a, replicating the new primary")


def test_a_deep_work_dir_still_deploys_mysql(registry, tmp_path, fast_spec):
    """Unix socket paths are limited to 107 bytes: a deep work dir must not break mariadbd."""
    from harness.platforms.local import LocalPlatform

    deep = tmp_path / ("very-long-work-directory-name-" * 4)
    platform = LocalPlatform(registry, tmp_path / "run", deep)
    dep = platform.deploy("mysql", "kubeblocks", fast_spec)
    try:
        sock = dep.handle.socket_dir / "mysql-0.sock"
        assert len(str(deep / dep.id / "run" / "mysql-0.sock")) > 107, "the test must use a path over the limit"
        assert len(str(sock)) <= 107 and sock.exists()
        ep = platform.endpoint(dep)
        execute(ep, "CREATE TABLE deep (id INT PRIMARY KEY)")
        execute(ep, "INSERT INTO deep VALUES (1)")
        assert execute(ep, "SELECT COUNT(*) FROM deep") == ((1,),)
    finally:
        platform.teardown(dep)
