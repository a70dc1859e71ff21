"""Server configs rendered from pod limits (harness/configs/): the addons' formulas at the sizes
the reference lists, OpenIM's shipped settings, quantity parsing, and the live-value comparison.
Pure: no server is started (tests/test_configs_local.py checks the servers run what is rendered)."""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace

import pytest

from harness import engines
from harness.configs import cpu_cores, cpu_whole_cores, memory_bytes, parse_quantity
from harness.configs import mysql as mysql_config
from harness.configs import redis as redis_config
from harness.contracts import DeploySpec
from harness.errors import HarnessError

GiB = 2**30


def render(engine, mode, cpu="0.5", memory="0.5Gi"):
    return engines.get(engine).render_config(mode, cpu, memory).as_dict()


# -- quantities ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "value"), [
    ("0.5", Decimal("0.5")), ("500m", Decimal("0.5")), ("2", Decimal(2)), ("1e3", Decimal(1000)),
    ("0.5Gi", Decimal(GiB // 2)), ("512Mi", Decimal(512 * 2**20)), ("1G", Decimal(10**9)),
    ("1073741824", Decimal(GiB)), ("1.5Gi", Decimal(3 * GiB // 2)), ("64Ki", Decimal(65536)),
])
def test_quantities_parse_exactly(text, value):
    assert parse_quantity(text) == value


def test_cpu_rounds_up_to_whole_cores_like_quantity_value():
    assert cpu_cores("500m") == Decimal("0.5")
    assert [cpu_whole_cores(c) for c in ("0.5", "500m", "1", "1.2", "2", "2000m")] == [1, 1, 1, 2, 2, 2]
    assert memory_bytes("0.5Gi") == 536870912 and memory_bytes("1.5") == 2  # bytes round up too


@pytest.mark.parametrize(("what", "text"), [
    ("cpu", ""), ("cpu", "abc"), ("cpu", "0"), ("cpu", "-1"), ("cpu", "1 core"), ("memory", "0.5GB"),
    ("memory", "Gi"), ("memory", "512 Mi"), ("memory", "-512Mi"), ("memory", "0Gi"),
])
def test_a_bad_quantity_is_one_clear_line(what, text):
    parse = cpu_cores if what == "cpu" else memory_bytes
    with pytest.raises(HarnessError) as e:
        parse(text)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(f"{what} {text!r}:")


@pytest.mark.parametrize("engine", engines.ENGINES)
def test_every_renderer_refuses_bad_limits_and_modes_in_one_line(engine):
    with pytest.raises(HarnessError, match="memory '1 GB'"):
        engines.get(engine).render_config("kubeblocks", "0.5", "1 GB")
    with pytest.raises(HarnessError, match="cpu 'half'"):
        engines.get(engine).render_config("statefulset", "half", "1Gi")
    with pytest.raises(HarnessError, match="unknown mode 'helm'"):
        engines.get(engine).render_config("helm", "0.5", "1Gi")


@pytest.mark.parametrize("engine", engines.ENGINES)
@pytest.mark.parametrize("mode", ["kubeblocks", "statefulset"])
def test_every_engine_renders_both_modes_through_its_adapter(engine, mode):
    spec = DeploySpec()
    cfg = engines.get(engine).render_config(mode, spec.cpu, spec.memory)
    assert (cfg.engine, cfg.mode, cfg.cpu, cfg.memory) == (engine, mode, "0.5", "0.5Gi")
    names = [n for n, _ in cfg.params]
    assert names and len(names) == len(set(names)), "each parameter once"
    assert cfg.source and all(isinstance(v, str) for _, v in cfg.params)


# -- mysql kubeblocks: mysql8.0-config.tpl -------------------------------------------------------

@pytest.mark.parametrize(("cpu", "memory", "pool"), [
    ("0.5", "0.5Gi", "128M"),
    ("2", "0.5Gi", "128M"),
    ("1", "1Gi", "256M"),
    ("0.5", "1Gi", "256M"),  # 0.5 CPU is 1 core to Quantity.Value()
    ("1", "4Gi", "256M"),  # the 1-core cap
    ("500m", "4Gi", "256M"),
    ("2", "2Gi", "384M"),
    ("2", "4Gi", "1024M"),
    ("1.5", "4Gi", "1024M"),  # 1.5 CPU rounds up to 2 cores
    ("4", "8Gi", "4096M"),
    ("8", "16Gi", "9216M"),
])
def test_buffer_pool_follows_calMysqlPoolSizeByResource(cpu, memory, pool):
    assert render("mysql", "kubeblocks", cpu, memory)["innodb_buffer_pool_size"] == pool


@pytest.mark.parametrize(("memory", "connections"), [("0.5Gi", 83), ("1Gi", 167), ("2Gi", 334), ("4Gi", 668)])
def test_max_connections_is_a_quarter_of_the_limit_over_the_thread_buffers(memory, connections):
    assert mysql_config.SINGLE_THREAD_MEMORY == 1605632
    assert render("mysql", "kubeblocks", "1", memory)["max_connections"] == str(connections)


def test_performance_schema_is_off_below_8gi_and_on_from_there():
    assert render("mysql", "kubeblocks", "2", "4Gi")["performance_schema"] == "OFF"
    assert render("mysql", "kubeblocks", "2", "8191Mi")["performance_schema"] == "OFF"
    assert render("mysql", "kubeblocks", "4", "8Gi")["performance_schema"] == "ON"  # MySQL's default, set for MariaDB


@pytest.mark.parametrize(("memory", "redo"), [
    ("0.5Gi", 104857600), ("1.9Gi", 104857600), ("2Gi", 512 * 2**20), ("3Gi", GiB),  # round(1.5) = 2: half up
    ("4Gi", 3 * 512 * 2**20), ("12Gi", 8 * 512 * 2**20), ("170Gi", 128 * GiB),
])
def test_redo_capacity_becomes_mariadbs_log_file_size_with_the_same_bytes(memory, redo):
    cfg = engines.get("mysql").render_config("kubeblocks", "2", memory)
    assert cfg.as_dict()["innodb_log_file_size"] == str(redo)
    assert "innodb_redo_log_capacity" not in cfg.as_dict()
    assert any(p == "innodb_log_file_size" and "innodb_redo_log_capacity" in n for p, n in cfg.notes)


def test_kubeblocks_mysql_carries_the_templates_settings_in_mariadb_names():
    cfg = engines.get("mysql").render_config("kubeblocks", "0.5", "0.5Gi")
    want = {
        "general_log": "ON", "slow_query_log": "ON", "long_query_time": "5", "binlog_format": "MIXED",
        "log_slave_updates": "ON", "slave_exec_mode": "IDEMPOTENT", "innodb_flush_method": "O_DIRECT",
        "innodb_io_capacity": "200", "innodb_io_capacity_max": "2000", "binlog_expire_logs_seconds": "604800",
        "max_binlog_size": "134217728", "sync_binlog": "1", "innodb_flush_log_at_trx_commit": "1",
        "plugin_load_add": "server_audit", "server_audit_logging": "ON", "server_audit_events": "CONNECT,QUERY,TABLE",
        "log_bin": "mysql-bin",
    }
    assert {k: cfg.as_dict()[k] for k in want} == want
    notes = dict(cfg.notes)
    assert "log_replica_updates" in notes["log_slave_updates"] and "replica_exec_mode" in notes["slave_exec_mode"]
    assert "audit_log" in notes["plugin_load_add"] and "0" in notes["sync_binlog"]  # MariaDB's default is 0
    assert "gtid_mode" in notes and "replica" not in cfg.as_dict()


# -- mysql statefulset: what OpenIM ships -------------------------------------------------------

@pytest.mark.parametrize(("cpu", "memory"), [("0.5", "0.5Gi"), ("8", "16Gi")])
def test_statefulset_mysql_is_the_baseline_images_defaults_whatever_the_limits(cpu, memory):
    cfg = engines.get("mysql").render_config("statefulset", cpu, memory)
    p = cfg.as_dict()
    assert (p["max_connections"], p["innodb_buffer_pool_size"], p["performance_schema"]) == ("151", "128M", "ON")
    assert (p["log_bin"], p["binlog_format"], p["sync_binlog"], p["general_log"]) == ("binlog", "ROW", "1", "OFF")
    assert p["innodb_log_file_size"] == "104857600" and p["innodb_flush_method"] == "fsync"
    assert "docker-compose.yml" in cfg.source and "infra/mysql-config.yaml" in cfg.source
    assert "OFF" in dict(cfg.notes)["performance_schema"]  # MariaDB's own default, and why it is set


# -- redis ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("memory", "maxmemory"), [("0.5Gi", 429496729), ("1Gi", 858993459), ("512Mi", 429496729)])
def test_kubeblocks_redis_maxmemory_is_80_percent_of_the_limit(memory, maxmemory):
    p = render("redis", "kubeblocks", "0.5", memory)
    assert p["maxmemory"] == str(maxmemory) and p["maxmemory-policy"] == "volatile-lru"


def test_kubeblocks_redis_carries_the_templates_settings():
    p = render("redis", "kubeblocks")
    assert {k: p[k] for k in ("appendonly", "appendfsync", "aof-use-rdb-preamble", "auto-aof-rewrite-percentage",
                              "auto-aof-rewrite-min-size", "repl-diskless-sync", "io-threads", "io-threads-do-reads",
                              "client-output-buffer-limit", "timeout", "tcp-keepalive", "disable-thp")} == {
        "appendonly": "yes", "appendfsync": "everysec", "aof-use-rdb-preamble": "yes",
        "auto-aof-rewrite-percentage": "100", "auto-aof-rewrite-min-size": "64mb", "repl-diskless-sync": "yes",
        "io-threads": "4", "io-threads-do-reads": "yes", "client-output-buffer-limit": "replica 256mb 64mb 60",
        "timeout": "0", "tcp-keepalive": "300", "disable-thp": "yes"}
    assert p["repl-diskless-sync-delay"] == "5"  # the template's; the local platform changes it, with a note


def test_statefulset_redis_is_openims_appendonly_and_redis_defaults():
    cfg = engines.get("redis").render_config("statefulset", "0.5", "0.5Gi")
    assert cfg.as_dict()["appendonly"] == "yes" and cfg.as_dict()["maxmemory"] == "0"
    assert cfg.as_dict()["maxmemory-policy"] == "noeviction"
    assert "deployments/deploy/redis-statefulset.yml" in cfg.source and "--appendonly yes" in cfg.source


# -- mongodb --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("memory", "cache"), [("0.5Gi", "0.25"), ("1.5Gi", "0.25"), ("2Gi", "0.5"), ("4Gi", "1.5")])
def test_kubeblocks_mongodb_cache_is_mongods_default_for_the_limit(memory, cache):
    assert render("mongodb", "kubeblocks", "0.5", memory) == {"storage.wiredTiger.engineConfig.cacheSizeGB": cache}


def test_statefulset_mongodb_cache_is_openims_and_the_manifest_passes_it():
    cfg = engines.get("mongodb").render_config("statefulset", "0.5", "0.5Gi")
    assert cfg.as_dict() == {"storage.wiredTiger.engineConfig.cacheSizeGB": "1"}
    assert "OOM" in cfg.notes[0][1]  # 1 GiB of cache in a 0.5Gi pod, said plainly
    args = engines.get("mongodb").statefulset_container(DeploySpec())["args"]
    assert args == ["--wiredTigerCacheSizeGB", "1"]


# -- live values compared with rendered ones ----------------------------------------------------

@pytest.mark.parametrize(("param", "rendered", "live", "same"), [
    ("innodb_buffer_pool_size", "128M", "134217728", True),
    ("innodb_buffer_pool_size", "256M", "134217728", False),
    ("general_log", "ON", "1", True),
    ("performance_schema", "OFF", "OFF", True),
    ("performance_schema", "ON", "OFF", False),
    ("long_query_time", "5", "5.000000", True),
    ("server_audit_events", "CONNECT,QUERY,TABLE", "TABLE,CONNECT,QUERY", True),
    ("server_audit_output_type", "file", "FILE", True),
    ("max_connections", "83", "151", False),
    ("binlog_format", "MIXED", "ROW", False),
])
def test_mysql_live_values_compare_by_meaning(param, rendered, live, same):
    assert mysql_config.same_value(param, rendered, live) is same


@pytest.mark.parametrize(("param", "rendered", "live", "same"), [
    ("auto-aof-rewrite-min-size", "64mb", "67108864", True),
    ("auto-aof-rewrite-min-size", "64m", "67108864", False),  # 64m is 64,000,000 to Redis
    ("client-output-buffer-limit", "replica 256mb 64mb 60",
     "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60", True),
    ("client-output-buffer-limit", "replica 256mb 64mb 60",
     "normal 0 0 0 slave 268435456 67108864 30 pubsub 33554432 8388608 60", False),
    ("maxmemory", "429496729", "429496729", True),
    ("maxmemory-policy", "volatile-lru", "noeviction", False),
    ("save", "", "", True),
])
def test_redis_live_values_compare_by_meaning(param, rendered, live, same):
    assert redis_config.same_value(param, rendered, live) is same


# -- what the local platform changes --------------------------------------------------------------

def _handle(tmp_path, mode, **spec):
    return SimpleNamespace(engine="mysql", mode=mode, spec=DeploySpec(**spec), work_dir=tmp_path)


def test_local_mariadb_falls_back_from_o_direct_with_a_note(tmp_path, monkeypatch):
    from harness.platforms.local import mariadb_pod

    monkeypatch.setattr(mariadb_pod, "o_direct_works", lambda _d: False)
    monkeypatch.setattr(mariadb_pod, "open_files_cap", lambda: None)
    rendered, run = mariadb_pod.local_config(_handle(tmp_path, "kubeblocks"))
    assert rendered.as_dict()["innodb_flush_method"] == "O_DIRECT", "the render stays the template's"
    assert run.as_dict()["innodb_flush_method"] == "fsync"
    assert any(p == "innodb_flush_method" and "local platform" in n and "O_DIRECT" in n for p, n in run.notes)
    assert {k: v for k, v in run.params if k != "innodb_flush_method"} == {
        k: v for k, v in rendered.params if k != "innodb_flush_method"}


def test_local_mariadb_holds_open_files_to_what_this_machine_allows(tmp_path, monkeypatch):
    from harness.platforms.local import mariadb_pod

    monkeypatch.setattr(mariadb_pod, "o_direct_works", lambda _d: True)
    monkeypatch.setattr(mariadb_pod, "open_files_cap", lambda: 20000)
    _, run = mariadb_pod.local_config(_handle(tmp_path, "kubeblocks"))
    assert run.as_dict()["open_files_limit"] == "20000" and run.as_dict()["innodb_flush_method"] == "O_DIRECT"
    _, stateful = mariadb_pod.local_config(_handle(tmp_path, "statefulset"))
    assert stateful.params == engines.get("mysql").render_config("statefulset", "0.5", "0.5Gi").params


def test_local_redis_changes_only_the_sync_delay_and_the_tests_appendonly_override(tmp_path):
    from harness.platforms.local import redis_pod

    h = SimpleNamespace(engine="redis", mode="kubeblocks", spec=DeploySpec(), work_dir=tmp_path)
    rendered, run = redis_pod.local_config(h)
    changed = {k for k, v in run.params if rendered.as_dict().get(k) != v}
    assert changed == {"repl-diskless-sync-delay"} and run.as_dict()["repl-diskless-sync-delay"] == "0"
    h = SimpleNamespace(engine="redis", mode="statefulset", spec=DeploySpec(redis_appendonly=False), work_dir=tmp_path)
    _, run = redis_pod.local_config(h)
    assert run.as_dict()["appendonly"] == "no" and run.as_dict()["save"] == ""
