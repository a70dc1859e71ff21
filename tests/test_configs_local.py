"""The local servers run what is rendered for the pod limits (DeploySpec's default 0.5 CPU /
0.5Gi): `applied_config` reads the live values back and they equal the rendered ones; the record in
the run directory holds the config and no password."""

from __future__ import annotations

import json

import redis
from _helpers import mysql_execute
from redis.backoff import NoBackoff
from redis.retry import Retry

from harness import engines
from harness.contracts import Fault
from harness.faults import inject


def rendered(platform, dep):
    cfg = platform.rendered_config(dep)
    assert cfg is not None and (cfg.cpu, cfg.memory) == ("0.5", "0.5Gi")
    return cfg.as_dict()


def variables(ep, port, *names):
    rows = mysql_execute(ep, "SHOW GLOBAL VARIABLES WHERE Variable_name IN (" + ",".join(["%s"] * len(names)) + ")",
                         names, port=port)
    return dict(rows)


def redis_direct(ep, port):
    return redis.Redis(host="127.0.0.1", port=port, password=ep.password, socket_timeout=1, socket_connect_timeout=1,
                       decode_responses=True, retry=Retry(NoBackoff(), 0))


def test_kubeblocks_mysql_runs_the_addons_config_for_its_limits(local_platform, fast_spec):
    dep = local_platform.deploy("mysql", "kubeblocks", fast_spec)
    want = rendered(local_platform, dep)
    applied = local_platform.applied_config(dep)
    assert sorted(applied) == ["mysql-0", "mysql-1"]
    for pod, live in applied.items():
        assert live == want, f"{pod} differs: { {k: (want[k], v) for k, v in live.items() if v != want[k]} }"
        assert (live["max_connections"], live["general_log"], live["slave_exec_mode"], live["binlog_format"]) == (
            "83", "ON", "IDEMPOTENT", "MIXED")
    ep = local_platform.endpoint(dep)
    raw = variables(ep, dep.handle.pods["mysql-0"].port, "innodb_buffer_pool_size", "max_connections",
                    "performance_schema", "server_audit_logging")
    assert raw == {"innodb_buffer_pool_size": "134217728", "max_connections": "83", "performance_schema": "OFF",
                   "server_audit_logging": "ON"}, "the server itself, not the normalised read-back"
    logs = dep.handle.work_dir / "server-logs" / "mysql-0"
    assert (logs / "mysqld.log").stat().st_size > 0 and (logs / "audit.log").stat().st_size > 0


def test_statefulset_mysql_runs_the_baseline_images_defaults(local_platform, fast_spec):
    dep = local_platform.deploy("mysql", "statefulset", fast_spec)
    want = rendered(local_platform, dep)
    applied = local_platform.applied_config(dep)
    assert applied == {"mysql-0": want}
    assert (want["max_connections"], want["innodb_buffer_pool_size"], want["performance_schema"], want["log_bin"]) == (
        "151", "128M", "ON", "binlog")
    mysql_execute(local_platform.endpoint(dep), "SET GLOBAL max_connections=100")
    assert local_platform.applied_config(dep)["mysql-0"]["max_connections"] == "100", "read back live, not echoed"


def test_redis_maxmemory_is_the_limits_in_kubeblocks_and_none_in_statefulset(local_platform, fast_spec, poll):
    kb = local_platform.deploy("redis", "kubeblocks", fast_spec)
    st = local_platform.deploy("redis", "statefulset", fast_spec)
    for dep, maxmemory, policy in ((kb, "429496729", "volatile-lru"), (st, "0", "noeviction")):
        want = rendered(local_platform, dep)
        applied = local_platform.applied_config(dep)
        assert applied and all(live == want for live in applied.values()), applied
        assert {(live["maxmemory"], live["maxmemory-policy"]) for live in applied.values()} == {(maxmemory, policy)}
    assert sorted(local_platform.applied_config(kb)) == ["redis-0", "redis-1"], "data pods only, not Sentinels"
    ep = local_platform.endpoint(st)
    c = redis_direct(ep, ep.addresses[0][1])
    assert c.config_get("maxmemory") == {"maxmemory": "0"}
    c.config_set("maxmemory-policy", "allkeys-lru")
    assert local_platform.applied_config(st)["redis-0"]["maxmemory-policy"] == "allkeys-lru"
    old = st.handle.pods["redis-0"].pid
    inject(local_platform, st, Fault("pod-kill", "primary"))
    poll(lambda: st.handle.pods["redis-0"].pid != old and local_platform.applied_config(st), 30, "redis-0 restarted")
    assert local_platform.applied_config(st)["redis-0"] == rendered(local_platform, st), "a restart runs the render again"


def test_the_run_directory_holds_each_config_without_a_password(local_platform, fast_spec, tmp_path):
    deps = [local_platform.deploy("mysql", "kubeblocks", fast_spec), local_platform.deploy("redis", "kubeblocks", fast_spec)]
    secrets = [s for d in deps for s in d.handle.secrets.values()]
    for dep in deps:
        log_dir = tmp_path / "run" / "logs" / dep.id
        record = json.loads((log_dir / "config.json").read_text())
        assert record["params"] == rendered(local_platform, dep) and record["mode"] == "kubeblocks"
        assert record["rendered"] == dict(engines.get(dep.engine).render_config("kubeblocks", "0.5", "0.5Gi").params)
        assert any(n["note"].startswith("local platform: ") for n in record["notes"]), "what local changed, said"
        copies = sorted(log_dir.glob("config-*"))
        assert [c.name.split(".")[0] for c in copies] == [f"config-{p.name}" for p in dep.handle.data_pods()]
        for f in [log_dir / "config.json", *copies]:
            text = f.read_text()
            assert not any(s in text for s in secrets), f"a password in {f}"
        assert "requirepass" not in "".join(c.read_text() for c in copies)
    assert "max_connections=83" in (tmp_path / "run" / "logs" / deps[0].id / "config-mysql-0.cnf").read_text()
