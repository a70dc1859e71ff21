"""Redis on the local platform: real redis-server and redis-sentinel processes."""

from __future__ import annotations

import time

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel

from harness.contracts import Fault
from harness.faults import inject


def direct(ep, port=None):
    host, p = ep.addresses[0]
    return redis.Redis(host=host, port=port or p, password=ep.password, socket_timeout=1,
                       socket_connect_timeout=1, decode_responses=True, retry=Retry(NoBackoff(), 0))


def via_sentinel(ep):
    s = Sentinel(list(ep.addresses), sentinel_kwargs={"password": ep.sentinel_password, "socket_timeout": 0.5},
                 password=ep.password, socket_timeout=1, socket_connect_timeout=1, decode_responses=True)
    return s, s.master_for(ep.sentinel_master)


def pod(platform, dep, name):
    return next(p for p in platform.pods(dep) if p.name == name)


def test_statefulset_takes_writes_with_aof(local_platform, fast_spec):
    dep = local_platform.deploy("redis", "statefulset", fast_spec)
    ep = local_platform.endpoint(dep)
    c = direct(ep)
    c.set("k", "v")
    assert c.get("k") == "v"
    assert c.config_get("appendonly")["appendonly"] == "yes"
    assert [(p.name, p.zone, p.role) for p in local_platform.pods(dep)] == [("redis-0", "zone-a", "primary")]
    assert "secret" not in repr(ep) and ep.password not in repr(ep)


def test_statefulset_appendonly_off_is_honoured(local_platform, fast_spec):
    dep = local_platform.deploy("redis", "statefulset", fast_spec.replace(redis_appendonly=False))
    c = direct(local_platform.endpoint(dep))
    assert c.config_get("appendonly")["appendonly"] == "no"
    assert c.config_get("save")["save"] == ""


def test_statefulset_pod_kill_restarts_in_place_with_data(local_platform, fast_spec, poll):
    dep = local_platform.deploy("redis", "statefulset", fast_spec)
    ep = local_platform.endpoint(dep)
    c = direct(ep)
    for i in range(100):
        c.set(f"key:{i}", i)
    old_pid = dep.handle.pods["redis-0"].pid
    inj = inject(local_platform, dep, Fault("pod-kill", "primary"))
    assert inj.instances == ("redis-0",)
    assert not dep.handle.pods["redis-0"].alive()
    poll(lambda: dep.handle.pods["redis-0"].pid != old_pid and direct(ep).ping(), 20, "redis-0 restarted")
    assert pod(local_platform, dep, "redis-0").port == ep.addresses[0][1]
    assert direct(ep).get("key:99") == "99", "data of the AOF volume survived the restart"
    assert "pod redis-0 restarted in place" in dep.handle.events.path.read_text()
    inj.recover()
    inj.recover()


def test_statefulset_zone_outage_stays_down_until_recovered(local_platform, fast_spec, poll):
    dep = local_platform.deploy("redis", "statefulset", fast_spec)
    ep = local_platform.endpoint(dep)
    direct(ep).set("before", "outage")
    inj = inject(local_platform, dep, Fault("zone-outage", "primary"))
    assert inj.zone == "zone-a"
    # down for 3 restart delays: the supervisor must not bring it back while the zone is down
    end = time.monotonic() + 3 * fast_spec.restart_delay_s
    while time.monotonic() < end:
        assert not dep.handle.pods["redis-0"].alive(), "a pod of a down zone was restarted"
        with pytest.raises(redis.ConnectionError):
            direct(ep).ping()
        time.sleep(0.2)
    inj.recover()
    assert inj.recovered
    poll(lambda: direct(ep).ping(), 20, "redis-0 back after zone recovery")
    assert direct(ep).get("before") == "outage"


def test_pod_freeze_then_thaw(local_platform, fast_spec, poll):
    dep = local_platform.deploy("redis", "statefulset", fast_spec)
    ep = local_platform.endpoint(dep)
    inj = inject(local_platform, dep, Fault("pod-freeze", "redis-0", duration_s=30))
    with pytest.raises(redis.TimeoutError):
        direct(ep).ping()
    assert pod(local_platform, dep, "redis-0").alive is False
    inj.recover()
    poll(lambda: direct(ep).ping(), 10, "redis-0 answering after SIGCONT")
    inj.recover()


def test_the_nemesis_heals_a_zone_partition_after_its_duration(local_platform, fast_spec, poll, tmp_path):
    from harness.faults import Nemesis, read_windows
    from harness.history import now_us

    dep = local_platform.deploy("redis", "statefulset", fast_spec)
    ep = local_platform.endpoint(dep)
    nemesis = Nemesis(local_platform, dep, Fault("zone-partition", "zone-a", duration_s=3.0), at_us=now_us(),
                      history=tmp_path / "nemesis.jsonl").start()
    poll(lambda: nemesis.injected, 10, "the partition in force")
    with pytest.raises(redis.TimeoutError):
        direct(ep).ping()
    poll(lambda: (w := nemesis.window()) is not None and w.recovered_at_us is not None and direct(ep).ping(), 15,
         "zone-a healed after its duration")
    nemesis.stop()
    (w,) = read_windows(tmp_path / "nemesis.jsonl")
    assert (w.kind, w.zone, w.instances) == ("zone-partition", "zone-a", ("redis-0",))
    assert 3.0 <= w.duration_s < 10, "healed by the nemesis's schedule, once"


def test_kubeblocks_topology_and_sentinel_endpoint(local_platform, fast_spec):
    dep = local_platform.deploy("redis", "kubeblocks", fast_spec)
    ep = local_platform.endpoint(dep)
    roles = {p.name: (p.zone, p.role) for p in local_platform.pods(dep)}
    assert roles == {
        "redis-0": ("zone-a", "primary"), "redis-1": ("zone-b", "secondary"),
        "redis-sentinel-0": ("zone-a", "sentinel"), "redis-sentinel-1": ("zone-b", "sentinel"),
        "redis-sentinel-2": ("zone-c", "sentinel"),
    }
    assert ep.sentinel_master == "redis-redis" and len(ep.addresses) == 3
    _, master = via_sentinel(ep)
    master.set("hello", "world")
    assert master.get("hello") == "world"
    assert local_platform.role_changes(dep) == []


def test_kubeblocks_primary_kill_fails_over_without_split_brain(local_platform, fast_spec, poll):
    # the restart delay is longer than Sentinel's detection, so the failover happens first
    spec = fast_spec.replace(restart_delay_s=4.0)
    dep = local_platform.deploy("redis", "kubeblocks", spec)
    ep = local_platform.endpoint(dep)
    sentinel, master = via_sentinel(ep)
    master.set("acked", "1")
    master.execute_command("WAIT", 1, 2000)
    inj = inject(local_platform, dep, Fault("pod-kill", "primary"))
    assert inj.instances == ("redis-0",)

    def write_via_endpoint():
        _, m = via_sentinel(ep)
        return m.set("after", "failover")

    poll(write_via_endpoint, 30, "a write through the Sentinel endpoint after the failover")
    new = sentinel.discover_master(ep.sentinel_master)
    assert new[1] == dep.handle.pods["redis-1"].port, "the new primary is redis-1 (zone-b)"
    assert via_sentinel(ep)[1].get("acked") == "1"
    changes = poll(lambda: local_platform.role_changes(dep), 10, "+switch-master in the Sentinel logs")
    assert changes[0].new_primary == "redis-1" and changes[0].at_wall >= inj.injected_at_wall - 1
    # the old primary comes back (restart in place) as a replica and refuses writes
    poll(lambda: pod(local_platform, dep, "redis-0").role == "secondary", 30, "redis-0 back as a replica")
    old = direct(ep, dep.handle.pods["redis-0"].port)
    with pytest.raises(redis.ReadOnlyError):
        old.set("split", "brain")
    masters = [p.name for p in local_platform.pods(dep) if p.role == "primary"]
    assert masters == ["redis-1"]
    poll(lambda: old.get("after") == "failover", 10, "redis-0 replicating from the new primary")
