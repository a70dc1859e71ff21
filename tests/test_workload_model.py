"""The OpenIM data model and the load settings: pure functions, no servers."""

from __future__ import annotations

import json

import pytest

from harness.errors import HarnessError
from harness.workload import model
from harness.workload.base import make_actor
from harness.workload.driver import LoadSpec
from harness.workload.model import SeedInfo, SeedSize, plan_seed


def test_conversation_and_doc_ids_follow_openim():
    assert model.single_cid("1000000002", "1000000001") == "si_1000000001_1000000002"
    assert model.group_cid("3000000000") == "sg_3000000000"
    assert model.doc_id("si_a_b", 1) == "si_a_b:0"
    assert model.doc_id("si_a_b", 100) == "si_a_b:0"
    assert model.doc_id("si_a_b", 101) == "si_a_b:1"
    assert (model.msg_index(1), model.msg_index(100), model.msg_index(101)) == (0, 99, 0)
    assert model.seq_block("sg_1") == 100 and model.seq_block("si_1_2") == 50
    with pytest.raises(ValueError):
        model.doc_id("si_a_b", 0)


def test_message_payload_shapes():
    conv = model.Conversation("si_1_2", model.SESSION_SINGLE, ("1", "2"))
    m = model.message(conv, "1", 5, "cm-1", 1_700_000_000_000, "x" * model.PAYLOAD_TEXT_BYTES)
    assert m["recv_id"] == "2" and m["seq"] == 5 and m["session_type"] == 1
    cached = json.loads(model.msg_cache_json(m))
    assert cached["Msg"]["ClientMsgID"] == "cm-1" and cached["Msg"]["RecvID"] == "2"
    assert 700 <= len(model.msg_cache_json(m)) < 2048  # "a typical text is about 700 B", under 2 KB


def test_seed_plan_is_deterministic_and_everyone_can_talk():
    size = SeedSize(users=20, friends_per_user=2, groups=3, group_size=5)
    a, b = plan_seed("redis", size, 7), plan_seed("redis", size, 7)
    assert a == b and a != plan_seed("redis", size, 8)
    assert SeedInfo.from_json(json.loads(json.dumps(a.to_json()))) == a
    for i in range(len(a.users)):
        actor = make_actor(a, i, 0, seed=7)
        assert actor.convs and actor.friends
    assert sum(c.cid.startswith("sg_") for c in a.conversations) == 3
    assert all(len(m) == 5 for _, m in a.groups)


def test_actors_of_different_workers_never_share_message_ids():
    info = plan_seed("redis", SeedSize(users=4, friends_per_user=1, groups=0, group_size=2), 1)
    ids = {make_actor(info, u, w, 1).next_msg_id() for w in range(3) for u in range(12)}
    assert len(ids) == 36


@pytest.mark.parametrize("bad, match", [
    ({"mix": {"nope": 1}}, "unknown op nope"),
    ({"mix": {}}, "empty op mix"),
    ({"mix": {"login": -1}}, "weights"),
    ({"rate_ops_s": 0}, "rate_ops_s"),
    ({"users": 1, "workers": 2}, "users >= workers"),
    ({"op_timeout_s": 0}, "op_timeout_s"),
    ({"engine": "oracle"}, "unknown engine"),
])
def test_bad_load_settings_are_one_clear_error(bad, match):
    base = dict(engine="redis", mix={"send_message": 1}, rate_ops_s=10, users=2, duration_s=1, seed=1)
    with pytest.raises(HarnessError, match=match):
        LoadSpec(**{**base, **bad}).validate()


def test_bad_seed_size_is_one_clear_error():
    with pytest.raises(HarnessError, match="group_size"):
        SeedSize(users=5, friends_per_user=1, groups=1, group_size=9)
