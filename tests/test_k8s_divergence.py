"""Replica divergence on kind/k8s: the kubectl exec scripts and their pure parsers, on a fake cluster
(no Kubernetes API can exist here, so these tests say "fake"), and the scripts' client halves run for
real against local mariadbd / redis-server (the same `mysql` / `redis-cli` input and output, minus
kubectl). mongodb's scripts are parsed on canned output only: no mongod or mongosh exists here."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess

import pytest
from k8s_fakes import pod
from test_k8s import (
    MYSQL_NS,
    MYSQL_PODS,
    MYSQL_PRIMARY_STATUS,
    MYSQL_REPLICA_STATUS,
    SECRET_VALUE,
    SPEC,
    _day2_fake,
    _k8s,
)

from harness.platforms.commands import CommandResult, DryRunRunner
from harness.platforms.k8s_day2 import READ_PW, STATUS_SCRIPTS
from harness.platforms.k8s_divergence import (
    MONGODB_HASHES,
    MONGODB_POSITION,
    MYSQL_SQL,
    REDIS_COMMANDS,
    REDIS_KEYS,
    SCRIPTS,
)
from harness.platforms.k8s_divergence_parse import (
    gtid_missing,
    gtid_set,
    mongodb_hashes,
    mongodb_lag,
    mysql_checksums,
    mysql_lag,
    mysql_tables,
    redis_digest_commands,
    redis_digests,
    redis_keys,
    redis_lag,
)
from harness.platforms.replica_compare import KEY_COUNT, NO_PRIMARY, NOT_CAUGHT_UP, TABLES_SQL, checksum_sql

UUID = "3e11fa47-71ca-11e1-9e33-c80aa9429562"
REDIS_NS = "openim-poc-redis-kubeblocks"
REDIS_PODS = [pod("redis-kb-redis-0", "openim-poc-worker", "secondary", "redis", "redis-kb", "10.0.0.5"),
              pod("redis-kb-redis-1", "openim-poc-worker2", "primary", "redis", "redis-kb", "10.0.0.6")]
REDIS_MASTER = "# Replication\r\nrole:master\r\nconnected_slaves:1\r\nmaster_repl_offset:5000\r\n"
REDIS_REPLICA = ("# Replication\r\nrole:slave\r\nmaster_host:redis-kb-redis-1.redis-kb-redis-headless."
                 f"{REDIS_NS}.svc.cluster.local\r\nmaster_link_status:up\r\nmaster_sync_in_progress:0\r\n"
                 "slave_repl_offset:5000\r\nmaster_repl_offset:5000\r\n")


def engine_fake(pods, status, answer):
    """The day-2 fake cluster whose `kubectl exec` of a divergence script asks `answer(pod, script, stdin)`
    (stdin without the password line); the status script keeps answering from `status`."""
    runner = _day2_fake(pods, status=status)
    base = runner._responder

    def respond(argv):
        if "exec" in argv and argv[-1] in SCRIPTS:
            stdin = runner.stdins[-1]
            assert stdin.startswith(SECRET_VALUE + "\n"), "the password is the first stdin line"
            out = answer(argv[argv.index("-n") + 2], argv[-1], stdin.split("\n", 1)[1])
            return CommandResult(0, out) if isinstance(out, str) else out
        return base(argv)

    runner._responder = respond
    return runner


def mysql_answers(gtids, sums, counts=None):
    def answer(pod_name, script, sql):
        assert script == MYSQL_SQL or script.startswith(MYSQL_SQL)
        if "gtid_executed" in sql:
            return f"gtid_executed\t{gtids[pod_name]}\n"
        if "information_schema.TABLES" in sql:
            return "".join(f"{t.replace('.', chr(9))}\n" for t in sorted(sums[pod_name]))
        if sql.startswith("CHECKSUM TABLE"):
            asked = re.findall(r"`([^`]+)`\.`([^`]+)`", sql)
            return "".join(f"{s}.{t}\t{sums[pod_name].get(f'{s}.{t}', 'NULL')}\n" for s, t in asked)
        if "SELECT 'rows'" in sql:
            return "".join(f"rows\t{t}\t{n}\n" for t, n in (counts or {}).get(pod_name, {}).items())
        raise AssertionError(sql)
    return answer


MYSQL_STATUS = {"mysql-kb-mysql-1": MYSQL_PRIMARY_STATUS, "mysql-kb-mysql-0": MYSQL_REPLICA_STATUS}
SUMS = {"openIM_v3.users": "111", "openIM_v3.friends": "222", "openIM_v3.groups": "333"}


def test_fake_cluster_mysql_divergence_in_step_then_a_differing_table_named(tmp_path):
    gtids = {"mysql-kb-mysql-1": f"{UUID}:1-57", "mysql-kb-mysql-0": f"{UUID}:1-57"}
    sums = {"mysql-kb-mysql-1": dict(SUMS), "mysql-kb-mysql-0": dict(SUMS)}
    counts = {"mysql-kb-mysql-1": {"openIM_v3.users": 50}, "mysql-kb-mysql-0": {"openIM_v3.users": 51}}
    runner = engine_fake({MYSQL_NS: list(MYSQL_PODS)}, MYSQL_STATUS, mysql_answers(gtids, sums, counts))
    k8s = _k8s(runner, tmp_path)
    dep = k8s.deploy("mysql", "kubeblocks", SPEC)
    [d] = k8s.divergence(dep)
    assert (d.primary, d.replica, d.method, d.compared, d.differing) == (
        "mysql-kb-mysql-1", "mysql-kb-mysql-0", "CHECKSUM TABLE", 3, ())
    assert "3 tables (openIM_v3), every checksum equal" in d.detail
    sums["mysql-kb-mysql-0"]["openIM_v3.users"] = "999"
    [d] = k8s.divergence(dep)
    assert d.differing == ("openIM_v3.users",) and d.compared == 3
    assert "openIM_v3.users: 50 rows on mysql-kb-mysql-1, 51 rows on mysql-kb-mysql-0" in d.detail, d.detail
    execs = [c for c in runner.commands() if " exec " in c and "read -r PW" in c]
    assert all(c.endswith(("< the password, then the client's input (not shown)", "< the password (not shown)"))
               for c in execs)
    assert SECRET_VALUE not in "\n".join(map(str, runner.steps))


def test_fake_cluster_mysql_replica_behind_is_not_caught_up_and_missing_tables_count(tmp_path):
    gtids = {"mysql-kb-mysql-1": f"{UUID}:1-57,{UUID[:-1]}3:1-4", "mysql-kb-mysql-0": f"{UUID}:1-50"}
    sums = {"mysql-kb-mysql-1": dict(SUMS), "mysql-kb-mysql-0": dict(SUMS)}
    runner = engine_fake({MYSQL_NS: list(MYSQL_PODS)}, MYSQL_STATUS, mysql_answers(gtids, sums))
    k8s = _k8s(runner, tmp_path)
    dep = k8s.deploy("mysql", "kubeblocks", SPEC)
    [d] = k8s.divergence(dep, catch_up_s=5)
    assert d.differing == (NOT_CAUGHT_UP,) and d.compared == 0
    assert "not caught up within 5 s" in d.detail and "(11 transactions behind)" in d.detail, d.detail
    gtids["mysql-kb-mysql-0"] = gtids["mysql-kb-mysql-1"]
    del sums["mysql-kb-mysql-0"]["openIM_v3.groups"]
    [d] = k8s.divergence(dep)
    assert d.differing == ("openIM_v3.groups",) and "no such table on mysql-kb-mysql-0" in d.detail, d.detail


def test_fake_cluster_no_single_primary_is_reported_per_pod(tmp_path):
    status = {"mysql-kb-mysql-1": MYSQL_REPLICA_STATUS, "mysql-kb-mysql-0": MYSQL_REPLICA_STATUS}
    runner = engine_fake({MYSQL_NS: list(MYSQL_PODS)}, status, lambda *a: "")
    k8s = _k8s(runner, tmp_path)
    out = k8s.divergence(k8s.deploy("mysql", "kubeblocks", SPEC), catch_up_s=0.1)  # it asks again until then
    assert [(d.replica, d.differing) for d in out] == [("mysql-kb-mysql-0", (NO_PRIMARY,)), ("mysql-kb-mysql-1", (NO_PRIMARY,))]


def _digest(value):
    return "hash:" + hashlib.sha1(value.encode()).hexdigest()


def test_fake_cluster_redis_divergence_samples_keys_and_names_a_changed_and_a_replica_only_key(tmp_path):
    data = {"redis-kb-redis-1": {f"MSG_CACHE:si_1_2:{i}": _digest(str(i)) for i in range(40)}}
    data["redis-kb-redis-0"] = dict(data["redis-kb-redis-1"])

    def answer(pod_name, script, stdin):
        keys = data[pod_name]
        if script == REDIS_KEYS:
            return f"{len(keys)}\n" + "".join(f"{k}\n" for k in keys)
        assert script == REDIS_COMMANDS and stdin.startswith("EVAL_RO ")
        asked = [k for line in stdin.splitlines() for k in re.findall(r'"([^"\\]*)"', line.split('return out" ', 1)[1])]
        return "".join(keys.get(k, "none:" + "0" * 40) + "\n" for k in asked)

    status = {"redis-kb-redis-1": REDIS_MASTER, "redis-kb-redis-0": REDIS_REPLICA}
    runner = engine_fake({REDIS_NS: list(REDIS_PODS)}, status, answer)
    k8s = _k8s(runner, tmp_path)
    dep = k8s.deploy("redis", "kubeblocks", SPEC)
    [d] = k8s.divergence(dep)
    assert (d.primary, d.replica, d.compared, d.differing) == ("redis-kb-redis-1", "redis-kb-redis-0", 40, ())
    assert "DBSIZE 40 on redis-kb-redis-1, 40 on redis-kb-redis-0; 40 keys sampled, every digest equal" in d.detail
    data["redis-kb-redis-0"]["MSG_CACHE:si_1_2:7"] = _digest("changed")
    data["redis-kb-redis-0"]["planted"] = _digest("x")
    [d] = k8s.divergence(dep)
    assert d.differing == (KEY_COUNT, "MSG_CACHE:si_1_2:7", "planted") and d.compared == 41, d
    runner.state["status"]["redis-kb-redis-0"] = REDIS_REPLICA.replace("slave_repl_offset:5000", "slave_repl_offset:4000")
    [d] = k8s.divergence(dep, catch_up_s=5)
    assert d.differing == (NOT_CAUGHT_UP,) and "replica slave_repl_offset 4000" in d.detail, d.detail


def test_fake_cluster_a_failed_exec_is_not_compared_rather_than_all_different(tmp_path):
    gtids = {"mysql-kb-mysql-1": f"{UUID}:1-5", "mysql-kb-mysql-0": f"{UUID}:1-5"}
    sums = {"mysql-kb-mysql-1": dict(SUMS), "mysql-kb-mysql-0": dict(SUMS)}
    ok = mysql_answers(gtids, sums)

    def answer(pod_name, script, sql):
        if sql.startswith("CHECKSUM TABLE") and pod_name == "mysql-kb-mysql-0":
            return CommandResult(1, "openIM_v3.friends\t222\n")
        return ok(pod_name, script, sql)

    runner = engine_fake({MYSQL_NS: list(MYSQL_PODS)}, MYSQL_STATUS, answer)
    k8s = _k8s(runner, tmp_path)
    [d] = k8s.divergence(k8s.deploy("mysql", "kubeblocks", SPEC))
    assert d.differing == ("not compared",) and "exit 1" in d.detail, d


def test_dry_run_divergence_notes_what_it_would_compare_and_a_statefulset_has_nothing(tmp_path):
    from harness.platforms.k8s_preflight import ClusterSettings
    from harness.platforms.kubernetes import KubernetesPlatform

    runner = DryRunRunner(out=None)
    k8s = KubernetesPlatform(runner, tmp_path, ClusterSettings(node_address="127.0.0.1", tools_dir=tmp_path))
    k8s._ready = True
    dep = k8s.deploy("redis", "kubeblocks", SPEC)
    before = len(runner.steps)
    assert k8s.divergence(dep) == []
    assert [s.kind for s in runner.steps[before:]] == ["note"]
    assert "compared with the primary by DBSIZE + content digests" in runner.steps[-1].text
    one = {"openim-poc-mysql-statefulset": [pod("mysql-0", "openim-poc-worker", None, "", "", "10.0.2.1")]}
    fake = _k8s(engine_fake(one, {}, lambda *a: ""), tmp_path)
    dep = fake.deploy("mysql", "statefulset", SPEC)
    assert [p.name for p in fake.pods(dep)] == ["mysql-0"] and fake.divergence(dep) == []


def test_divergence_scripts_are_valid_shell_and_read_the_password_first():
    for script in SCRIPTS:
        assert script.startswith(READ_PW)
        assert subprocess.run(["sh", "-n", "-c", script], capture_output=True).returncode == 0, script
    assert SECRET_VALUE not in "".join(SCRIPTS)


# -- pure parsers --------------------------------------------------------------------------------
def test_gtid_sets_and_what_a_replica_lacks():
    primary = gtid_set(f"{UUID.upper()}:1-57:60-62,\nabcd:tag1:1-3:5")
    assert primary == {UUID: [(1, 57), (60, 62)], "abcd:tag1": [(1, 3), (5, 5)]}
    assert gtid_missing(primary, gtid_set(f"{UUID}:1-62,abcd:tag1:1-5")) == 0
    assert gtid_missing(primary, gtid_set(f"{UUID}:1-50")) == 7 + 3 + 4
    assert gtid_missing(gtid_set(""), gtid_set(f"{UUID}:1-3")) == 0
    assert mysql_lag(f"gtid_executed\t{UUID}:1-5\n", f"gtid_executed\t{UUID}:1-5,{UUID[:-1]}0:1\n") is None
    assert mysql_lag("", f"gtid_executed\t{UUID}:1-5\n") == "no answer from mysql on the primary"
    assert "1 transactions behind" in mysql_lag(f"gtid_executed\t{UUID}:1-5\n", f"gtid_executed\t{UUID}:1-4\n")


def test_mysql_and_mongodb_output_readers():
    assert mysql_tables("openIM_v3\tusers\nopenIM_v3\tgroups\n") == {"openIM_v3.users", "openIM_v3.groups"}
    assert mysql_checksums("a.b\t12\na.c\tNULL\n", {"a.b", "a.c"}) == {"a.b": "12"}
    with pytest.raises(Exception, match="answered 1 of 2 tables"):
        mysql_checksums("a.b\t12\n", {"a.b", "a.c"})
    assert mongodb_lag('{"t": 10, "i": 3}', '{"t": 10, "i": 3}') is None
    assert mongodb_lag('{"t": 10, "i": 3}', '{"t": 10, "i": 2}') == "primary lastWrite 10.3, replica lastWrite 10.2"
    assert mongodb_lag("", '{"t": 1}') == "no optime from the primary"
    assert mongodb_hashes('noise\n{"openim_v3.msg": "abc", "openim_v3.seq": "def"}') == {
        "openim_v3.msg": "abc", "openim_v3.seq": "def"}
    assert "dbHash" in MONGODB_HASHES and "lastWrite" in MONGODB_POSITION and "'" not in MONGODB_HASHES.split("--eval '")[1][:-1]


def test_redis_readers():
    from harness.contracts import PodInfo

    primary = PodInfo("redis-kb-redis-1", "zone-b", "primary", "10.0.0.6", 6379, True)
    assert redis_lag(REDIS_MASTER, REDIS_REPLICA, primary) is None
    behind = redis_lag(REDIS_MASTER.replace(":5000", ":6000"), REDIS_REPLICA, primary)
    assert behind == "primary master_repl_offset 6000, replica slave_repl_offset 5000 (link up)"
    assert "not a replica of redis-kb-redis-1" in redis_lag(REDIS_MASTER, REDIS_REPLICA.replace("redis-1", "redis-2"), primary)
    assert redis_keys("3\na\nb c\nd\n") == (3, {"a", "b c", "d"})
    assert redis_keys("") == (None, set())
    with pytest.raises(Exception, match="gave 1 digests for 2 keys: ERR"):
        redis_digests(["a", "b"], "string:" + "0" * 40 + "\nERR Error compiling script\n")


# -- the scripts' client halves, run for real against local servers -------------------------------
def _local(script: str, port: int, password: str, stdin: str) -> str:
    """The pod script run here: the same client, the local server's port instead of the pod's own."""
    script = script.replace("-p 6379", f"-p {port}").replace("--protocol=TCP", f"--protocol=TCP --port={port}")
    r = subprocess.run(["sh", "-c", script], input=password + "\n" + stdin, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_mysql_scripts_list_and_checksum_like_the_local_check(local_platform, fast_spec):
    from harness.platforms.local.mariadb_admin import query

    dep = local_platform.deploy("mysql", "kubeblocks", fast_spec)
    ep = local_platform.endpoint(dep)
    primary = dep.handle.pods["mysql-0"]
    for sql in ("CREATE TABLE openIM_v3.`we'ird``name` (id INT PRIMARY KEY, v TEXT)",
                "INSERT INTO openIM_v3.`we'ird``name` VALUES (1, 'a\\tb\\nc')"):
        query(dep.handle, primary, sql, 5.0)
    tables = mysql_tables(_local(MYSQL_SQL, primary.port, ep.password, TABLES_SQL + ";\n"))
    assert tables == {"openIM_v3.harness_ready", "openIM_v3.we'ird`name"}, tables
    sums = mysql_checksums(_local(MYSQL_SQL, primary.port, ep.password, checksum_sql(sorted(tables)) + ";\n"), tables)
    direct = {r["Table"]: str(r["Checksum"]) for r in query(dep.handle, primary, checksum_sql(sorted(tables)), 5.0)}
    assert sums == direct and len(sums) == 2


def test_redis_scripts_scan_and_digest_like_the_local_check(local_platform, fast_spec):
    from harness.platforms.local import sentinel
    from harness.platforms.replica_compare import REDIS_DIGEST_LUA

    dep = local_platform.deploy("redis", "kubeblocks", fast_spec)
    ep = local_platform.endpoint(dep)
    port = dep.handle.pods["redis-0"].port
    with sentinel.client(port, ep.password, 5.0) as c:
        c.set('a "quoted" key\\ with spaces', "v")
        c.hset("MSG_CACHE:si_1_2:1", mapping={"value": json.dumps({"text": "héllo\n"})})
        c.zadd("ONLINE:1", {"1": 1.5, "2": 2.0})
        c.sadd("s", "x", "y")
        c.rpush("l", "1", "2")
        c.xadd("st", {"f": "v"})
        size, keys = redis_keys(_local(REDIS_KEYS, port, ep.password, ""))
        assert size == c.dbsize() and keys == set(c.scan_iter())
        ordered = sorted(keys) + ["absent"]
        many = ordered * 60  # several EVAL_RO lines (REDIS_DIGEST_BATCH keys each)
        got = redis_digests(many, _local(REDIS_COMMANDS, port, ep.password, redis_digest_commands(many)))
        direct = c.execute_command("EVAL_RO", REDIS_DIGEST_LUA, len(ordered), *ordered)
    assert got == dict(zip(ordered, direct, strict=True)) and got["absent"].startswith("none:")
    assert {v.split(":")[0] for v in got.values()} == {"string", "hash", "zset", "set", "list", "stream", "none"}


def test_status_script_of_redis_is_what_the_catch_up_reads():
    assert STATUS_SCRIPTS["redis"].endswith("INFO replication")
