"""Day-2 operations on the local platform, through the nemesis (harness.operations) against real
mariadbd / redis-server / redis-sentinel processes: each completes, the end state is healthy by the
engines' own status, and what was written before is still there (in the restored copy for a backup)."""

from __future__ import annotations

import pytest
import redis
from _helpers import mysql_execute

from harness.contracts import Fault
from harness.errors import CellNotApplicable
from harness.faults import inject
from harness.platforms.local.redis import master_client


def write_rows(ep, engine, ids):
    if engine == "mysql":
        mysql_execute(ep, "CREATE TABLE IF NOT EXISTS day2 (id INT PRIMARY KEY)")
        for i in ids:
            mysql_execute(ep, "INSERT INTO day2 VALUES (%s)", (i,))
    else:
        with master_client(ep, 3.0) as c:
            for i in ids:
                c.set(f"day2:{i}", str(i))


def rows(ep, engine):
    if engine == "mysql":
        return {r[0] for r in mysql_execute(ep, "SELECT id FROM day2")}
    with master_client(ep, 3.0) as c:
        return {int(c.get(k)) for k in c.keys("day2:*")}


def primary(platform, dep):
    return [p.name for p in platform.pods(dep) if p.role == "primary"]


def settled(platform, dep, poll):
    poll(lambda: all(s.healthy for s in platform.replication_state(dep)), 60, "every pod healthy after the operation")
    states = platform.replication_state(dep)
    assert sum(s.role == "primary" for s in states) == 1, states
    return states


@pytest.mark.parametrize("engine", ["mysql", "redis"])
def test_switchover_moves_the_primary_and_keeps_every_write(local_platform, fast_spec, poll, engine):
    dep = local_platform.deploy(engine, "kubeblocks", fast_spec)
    ep = local_platform.endpoint(dep)
    write_rows(ep, engine, range(20))
    before = primary(local_platform, dep)
    active = inject(local_platform, dep, Fault("switchover"))
    assert active.outcome is not None and [s.action for s in active.outcome.steps] == ["switchover"]
    assert active.window().operation and active.recovered, "an operation's window closes when it is done"
    states = settled(local_platform, dep, poll)
    assert primary(local_platform, dep) != before, "the primary moved"
    assert {s.pod for s in states if s.role == "secondary"} == set(before), "the old primary rejoined as a replica"
    write_rows(ep, engine, range(20, 30))
    assert rows(ep, engine) == set(range(30))
    assert [c.new_primary for c in local_platform.role_changes(dep)][-1:] == primary(local_platform, dep)


@pytest.mark.parametrize("engine", ["mysql", "redis"])
def test_switchover_and_scale_out_do_not_apply_to_a_statefulset(local_platform, fast_spec, engine):
    dep = local_platform.deploy(engine, "statefulset", fast_spec)
    for kind in ("switchover", "scale-out"):
        with pytest.raises(CellNotApplicable):
            inject(local_platform, dep, Fault(kind))


@pytest.mark.parametrize(("engine", "mode"), [("mysql", "kubeblocks"), ("mysql", "statefulset"),
                                              ("redis", "kubeblocks"), ("redis", "statefulset")])
def test_rolling_restart_follows_the_instanceset_order(local_platform, fast_spec, poll, engine, mode):
    dep = local_platform.deploy(engine, mode, fast_spec)
    ep = local_platform.endpoint(dep)
    write_rows(ep, engine, range(10))
    pids = {n: p.pid for n, p in dep.handle.pods.items() if p.kind == "data"}
    active = inject(local_platform, dep, Fault("rolling-restart"))
    steps = [(s.pod, s.action, s.ok) for s in active.outcome.steps]
    if mode == "kubeblocks":
        # the secondary (highest ordinal) first, then a switchover away from the primary, then it
        assert steps == [(f"{engine}-1", "restart", True), (f"{engine}-0", "switchover", True),
                         (f"{engine}-0", "restart", True)], steps
    else:
        assert steps == [(f"{engine}-0", "restart", True)], steps
    assert all(dep.handle.pods[n].pid != pid for n, pid in pids.items()), "every data pod was restarted"
    settled(local_platform, dep, poll)
    assert rows(ep, engine) == set(range(10))
    write_rows(ep, engine, [10])


@pytest.mark.parametrize("engine", ["mysql", "redis"])
def test_scale_out_adds_a_replica_that_catches_up(local_platform, fast_spec, poll, engine):
    dep = local_platform.deploy(engine, "kubeblocks", fast_spec)
    ep = local_platform.endpoint(dep)
    write_rows(ep, engine, range(50))
    active = inject(local_platform, dep, Fault("scale-out"))
    assert active.outcome.new_pods == (f"{engine}-2",)
    assert dep.topology.replicas == 3
    states = settled(local_platform, dep, poll)
    assert {s.pod for s in states} == {f"{engine}-0", f"{engine}-1", f"{engine}-2"}
    new = dep.handle.pods[f"{engine}-2"]
    if engine == "mysql":
        from harness.platforms.local.mariadb_admin import query

        got = {r["id"] for r in query(dep.handle, new, "SELECT id FROM openIM_v3.day2")}
    else:
        with redis.Redis(port=new.port, password=ep.password, decode_responses=True) as c:
            got = {int(c.get(k)) for k in c.keys("day2:*")}
    assert got == set(range(50)), "the new replica holds every row, copied by replication"


@pytest.mark.parametrize(("engine", "mode", "method"), [
    ("mysql", "kubeblocks", "mariadb-backup"), ("mysql", "statefulset", "mariadb-dump"),
    ("redis", "kubeblocks", "datafile"), ("redis", "statefulset", "bgsave")])
def test_backup_then_restore_into_a_new_deployment(local_platform, fast_spec, poll, engine, mode, method):
    dep = local_platform.deploy(engine, mode, fast_spec)
    ep = local_platform.endpoint(dep)
    write_rows(ep, engine, range(40))
    if mode == "kubeblocks":
        poll(lambda: all(s.healthy for s in local_platform.replication_state(dep)), 30, "the secondary caught up")
    rejoins = dep.handle.events.path.read_text().count("rejoin")
    active = inject(local_platform, dep, Fault("backup-restore"))
    art = active.outcome.backup
    # --safe-slave-backup stops the secondary's applier on purpose: the role controller must leave it
    # alone (a rejoin stopped its IO thread too, and the semi-sync primary stopped taking writes)
    assert dep.handle.events.path.read_text().count("rejoin") == rejoins
    assert art is not None and art.method == method and art.size_bytes > 0
    if method == "mariadb-backup":
        assert art.consistent_point and art.consistent_point.startswith("gtid 0-101-"), art.consistent_point
    assert art.source_pod == (f"{engine}-1" if mode == "kubeblocks" else f"{engine}-0"), \
        "KubeBlocks backs up the secondary; a StatefulSet has only its pod"
    write_rows(ep, engine, range(40, 45))  # after the backup: not in the restored copy
    restored = local_platform.restore(dep, art)
    try:
        assert restored.id != dep.id and restored.mode == mode
        settled(local_platform, restored, poll)
        assert rows(local_platform.endpoint(restored), engine) == set(range(40))
        assert rows(ep, engine) == set(range(45)), "the live deployment is untouched"
    finally:
        local_platform.teardown(restored)


def test_upgrade_is_not_applicable_with_one_server_version(local_platform, fast_spec):
    dep = local_platform.deploy("redis", "statefulset", fast_spec)
    with pytest.raises(CellNotApplicable, match="one server version"):
        inject(local_platform, dep, Fault("upgrade"))
