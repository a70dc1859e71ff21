"""MongoDB ops. No mongod can be installed here: the real-server test skips with the reason;
the "fake" test checks the pure document builders against OpenIM's shapes."""

from __future__ import annotations

import shutil

import pytest

from harness.workload import model
from harness.workload.mongodb import slot_doc


def test_fake_100_slot_doc_matches_openim_msg_doc():
    conv = model.Conversation("sg_3000000000", model.SESSION_GROUP, ("1", "2", "3"), "3000000000")
    msg = model.message(conv, "1", 105, "cm-9", 0, "hello")
    doc = slot_doc(conv.cid, 105, msg)
    assert doc["doc_id"] == "sg_3000000000:1"
    assert len(doc["msgs"]) == 100
    assert doc["msgs"][4]["msg"]["client_msg_id"] == "cm-9" and doc["msgs"][4]["msg"]["seq"] == 105
    assert doc["msgs"][0] == {"msg": None, "revoke": None, "del_list": [], "is_read": False}
    assert msg["recv_id"] == "" and msg["group_id"] == "3000000000"


@pytest.mark.skipif(shutil.which("mongod") is None,
                    reason="mongod is not installed (MongoDB is not installable on this machine); install "
                           "mongodb-org-server to run the MongoDB workload against a real server")
def test_ops_write_openim_docs_and_read_back(local_platform, fast_spec, tmp_path):
    from harness.history import HistoryWriter, now_us
    from harness.workload.base import make_actor
    from harness.workload.driver import seed_data
    from harness.workload.mongodb import MongoClientOps
    from tests.workload_helpers import check_paths, drive

    dep = local_platform.deploy("mongodb", "statefulset", fast_spec)
    ep = local_platform.endpoint(dep)
    info = seed_data(ep, "mongodb", model.SeedSize(users=20, friends_per_user=2, groups=1, group_size=5), 1)
    client = MongoClientOps(ep, 2.0)
    actor = make_actor(info, 0, 0, 1)
    w = HistoryWriter(tmp_path / "h.jsonl")
    start = now_us()
    drive(client, actor, w, "send_message", 120)
    drive(client, actor, w, "pull", 5)
    w.close()
    client.close()
    _rb, m = check_paths(ep, "mongodb", [tmp_path / "h.jsonl"], start)
    assert m.acked_writes == 120 and m.lost_writes == 0 and m.duplicate_seqs == 0
