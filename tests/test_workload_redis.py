"""Redis ops against a real redis-server (local platform, statefulset): OpenIM's key shapes,
read-back of every acked write, server-side command counts, and the checker catching
deleted messages and a seq handed out twice."""

from __future__ import annotations

import json
import time

import pytest

from harness.history import HistoryWriter, now_us
from harness.workload import model
from harness.workload.base import make_actor
from harness.workload.driver import LoadSpec, seed_data, start_load
from harness.workload.model import SeedSize
from harness.workload.redis import CLIENT_COMMANDS, RedisClient, connect
from tests.workload_helpers import check_paths, drive

SIZE = SeedSize(users=30, friends_per_user=3, groups=2, group_size=8)
LOAD_WAIT_S = 60  # a 4 s load + worker start-up on a busy 2-core box


@pytest.fixture
def redis_ep(local_platform, fast_spec):
    dep = local_platform.deploy("redis", "statefulset", fast_spec)
    return local_platform.endpoint(dep)


def test_ops_write_openim_keys_and_shapes(redis_ep):
    info = seed_data(redis_ep, "redis", SIZE, seed=3)
    r = connect(redis_ep, 2.0)
    client = RedisClient(redis_ep, 1.0)
    actor = make_actor(info, 0, 0, seed=3)
    try:
        sent = client.send_message(actor, {})
        cid, seq = sent["stream"], sent["seq"]
        assert cid.startswith(("si_", "sg_")) and seq == 1
        assert set(r.hgetall(f"MALLOC_SEQ:{cid}")) == {"CURR", "LAST", "TIME"}
        assert r.hget(f"MALLOC_SEQ:{cid}", "CURR") == "1"
        assert int(r.hget(f"MALLOC_SEQ:{cid}", "LAST")) == 1 + model.seq_block(cid)
        key = f"MSG_CACHE:{cid}:{seq}"
        assert r.type(key) == "hash" and set(r.hgetall(key)) == {"value"}
        assert 86_000 < r.ttl(key) <= 86_400
        value = json.loads(r.hget(key, "value"))
        assert set(value) == {"Msg", "Revoke", "DelList", "IsRead"}
        assert value["Msg"]["ClientMsgID"] == sent["id"] and value["Msg"]["Seq"] == seq
        assert value["Msg"]["SendID"] == actor.uid and len(value["Msg"]["Content"]) > 600
        assert client.send_message(actor, {})["seq"] >= 1  # the next one (maybe another conversation)

        out = client.login(actor, {})
        tok = f"UID_PID_TOKEN_STATUS:{actor.uid}:{out['platform']}"
        assert r.type(tok) == "hash" and "0" in r.hgetall(tok).values()
        assert r.ttl(tok) > 89 * 24 * 3600

        on = client.online(actor, {})
        assert r.type(f"ONLINE:{actor.uid}") == "zset"
        assert r.zscore(f"ONLINE:{actor.uid}", str(on["platform_id"])) > time.time()

        synced = client.sync(actor, {})
        assert synced["msgs"] >= 1
    finally:
        client.close()
        r.close()


def test_load_reads_back_every_ack_and_matches_commandstats(redis_ep, registry, tmp_path):
    info = seed_data(redis_ep, "redis", SIZE, seed=1)
    r = connect(redis_ep, 2.0)
    r.config_resetstat()
    spec = LoadSpec("redis", {"send_message": 6, "login": 1, "sync": 1, "online": 1}, rate_ops_s=150, users=6,
                    duration_s=4, seed=1, workers=2)
    run = start_load(redis_ep, spec, info, tmp_path / "out", registry, tmp_path / "load.log")
    try:
        summary = run.wait(LOAD_WAIT_S)
    finally:
        run.stop()
    stats = r.info("commandstats")
    r.close()
    assert len(run.history_paths) == 2
    assert summary.failed == 0 and summary.unknown == 0 and summary.ok == summary.invokes > 300
    assert summary.peak_rss_mb > 0
    rb, m = check_paths(redis_ep, "redis", run.history_paths, summary.load_start_us)
    assert rb.checked == m.acked_writes == m.by_op["send_message"]["ok"] > 200
    assert rb.lost_count == 0 and m.lost_writes == 0 and m.duplicate_seqs == 0 and m.seq_regressions == 0
    assert m.ops["total"] == summary.invokes

    expected: dict[str, int] = {}
    for op, per in CLIENT_COMMANDS.items():
        n = m.by_op.get(op, {}).get("ok", 0)
        for cmd, k in per.items():
            expected[cmd] = expected.get(cmd, 0) + n * k
    for cmd in ("evalsha", "hgetall", "publish"):
        got = stats.get(f"cmdstat_{cmd}", {}).get("calls", 0)
        assert abs(got - expected[cmd]) <= 0.01 * expected[cmd], f"{cmd}: server {got}, history {expected[cmd]}"


def test_checker_reports_exactly_the_messages_deleted_behind_its_back(redis_ep, tmp_path):
    info = seed_data(redis_ep, "redis", SIZE, seed=2)
    client = RedisClient(redis_ep, 1.0)
    actor = make_actor(info, 0, 0, seed=2)
    writer = HistoryWriter(tmp_path / "h.jsonl")
    start = now_us()
    sent = drive(client, actor, writer, "send_message", 60)
    writer.close()
    client.close()
    victims = sent[5:12]  # N = 7
    r = connect(redis_ep, 2.0)
    r.delete(*[f"MSG_CACHE:{v['stream']}:{v['seq']}" for v in victims])
    r.close()
    rb, m = check_paths(redis_ep, "redis", [tmp_path / "h.jsonl"], start)
    assert m.acked_writes == 60
    assert m.lost_writes == 7
    assert sorted(x.id for x in m.lost) == sorted(v["id"] for v in victims)
    assert all(x.reason == "missing" for x in m.lost)


def test_checker_reports_a_seq_handed_out_twice(redis_ep, tmp_path):
    info = seed_data(redis_ep, "redis", SIZE, seed=4)
    client = RedisClient(redis_ep, 1.0)
    actor = make_actor(info, 0, 0, seed=4)
    actor.convs = actor.convs[:1]  # one conversation, so seqs are 1, 2, 3, ...
    cid = actor.convs[0].cid
    writer = HistoryWriter(tmp_path / "h.jsonl")
    start = now_us()
    drive(client, actor, writer, "send_message", 10)
    r = connect(redis_ep, 2.0)
    r.hset(f"MALLOC_SEQ:{cid}", "CURR", 7)  # the allocator forgets seqs 8..10
    r.close()
    drive(client, actor, writer, "send_message", 3)  # seqs 8, 9, 10 again
    writer.close()
    client.close()
    rb, m = check_paths(redis_ep, "redis", [tmp_path / "h.jsonl"], start)
    assert m.duplicate_seqs == 3
    assert sorted(d.seq for d in m.duplicates) == [8, 9, 10]
    assert m.seq_regressions == 3
    assert m.lost_writes == 3 and {x.reason for x in m.lost} == {"overwritten"}  # the first 8..10 were replaced


def test_clients_follow_switch_master_like_go_redis(local_platform, fast_spec, poll):
    """After Sentinel's +switch-master a client with the worker's watch drops its connection and the
    next command reaches the new master; one without it keeps writing to the demoted one (what lost
    ~10 s of writes in a planned switchover before the watch existed)."""
    from harness.platforms.local import sentinel
    from harness.workload.redis import RedisClient, SwitchMasterWatch

    dep = local_platform.deploy("redis", "kubeblocks", fast_spec)
    ep = local_platform.endpoint(dep)
    watch = SwitchMasterWatch(ep, 1.0)
    watch.start()
    try:
        poll(watch.subscribed.is_set, 10, "a Sentinel confirmed the watch's subscription")
        followed, stays = RedisClient(ep, 1.0, watch), RedisClient(ep, 1.0)
        old = {c.r.info("server")["tcp_port"] for c in (followed, stays)}
        assert len(old) == 1
        with sentinel.client(ep.addresses[0][1], ep.sentinel_password or "", 2.0) as s:
            s.execute_command("SENTINEL", "FAILOVER", ep.sentinel_master)
        poll(lambda: watch.epoch == 1, 30, "the watch heard +switch-master")
        followed._follow_master()
        new_port = followed.r.info("server")["tcp_port"]
        assert new_port not in old and followed.r.info("replication")["role"] == "master"
        assert stays.r.info("server")["tcp_port"] in old, "redis-py alone keeps its connection to the old master"
        followed.close()
        stays.close()
    finally:
        watch.stop()

