"""MySQL ops against a real mariadbd (local platform, statefulset): openim-chat / OpenIM <=3.4
tables, read-back of every acked insert, Com_* counters, and deleted rows reported as lost."""

from __future__ import annotations

import pytest

from harness.history import HistoryWriter, now_us
from harness.workload.base import make_actor
from harness.workload.driver import LoadSpec, seed_data, start_load
from harness.workload.model import SeedSize
from harness.workload.mysql import CLIENT_COMMANDS, LOGIN_STREAM, MysqlClient, connect
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
