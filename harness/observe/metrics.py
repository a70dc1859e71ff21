"""Which exporter series say what, per engine (names from kubeblocks-day2.md section 4; the Debian
exporters here are upstream prometheus/mysqld_exporter 0.14 and oliver006/redis_exporter 1.45).

A table, not code: the engine registry's rule is that only harness/engines compares engine names.
"""

from __future__ import annotations

from dataclasses import dataclass

SCRAPE_INTERVAL_S = 1.0  # local and the in-cluster Prometheus: fine enough to see a 2 s outage
KUBEBLOCKS_REDIS_COLLECTION_S = 15.0  # agamotto's `collection_interval: 15s` (KubeBlocks' Redis exporter)


@dataclass(frozen=True)
class EngineMetrics:
    up: str
    primary: str  # PromQL, 1 per pod that is primary (only while its exporter reaches the server)
    primary_sample: tuple[str, dict[str, str], float]  # the same on raw series: metric, labels, value
    commands: str  # the per-command counter
    command_label: str
    clients: str
    lag: str  # replication lag, seconds
    replication_ok: str  # PromQL: 1 while the pod's replication link works (replicas only)
    uptime: str
    compared: dict[str, str]  # the workload's CLIENT_COMMANDS key -> the counter's label value
    exported: tuple[str, ...]  # every metric name kept in a cell's series file
    exporter: str  # the Debian binary
    package: str


METRICS: dict[str, EngineMetrics] = {
    "mysql": EngineMetrics(
        up="mysql_up",
        primary="(mysql_global_variables_read_only == bool 0)",
        primary_sample=("mysql_global_variables_read_only", {}, 0.0),
        commands="mysql_global_status_commands_total", command_label="command",
        clients="mysql_global_status_threads_connected",
        lag="mysql_slave_status_seconds_behind_master",
        replication_ok="(mysql_slave_status_slave_io_running * mysql_slave_status_slave_sql_running)",
        uptime="mysql_global_status_uptime",
        # SELECT is shared with the role controller's probes and the exporter's own queries: not compared
        compared={"Com_insert": "insert", "Com_begin": "begin", "Com_commit": "commit"},
        exported=("up", "mysql_up", "mysql_global_variables_read_only", "mysql_global_status_commands_total",
                  "mysql_global_status_threads_connected", "mysql_global_status_threads_running",
                  "mysql_slave_status_seconds_behind_master", "mysql_slave_status_slave_io_running",
                  "mysql_slave_status_slave_sql_running", "mysql_global_status_uptime",
                  "mysql_global_status_rpl_semi_sync_master_status", "mysql_global_status_rpl_semi_sync_master_clients",
                  "mysql_global_status_connection_errors_total", "scrape_duration_seconds", "ALERTS"),
        exporter="prometheus-mysqld-exporter", package="prometheus-mysqld-exporter"),
    "redis": EngineMetrics(
        up="redis_up",
        primary='(redis_instance_info{role="master"})',
        primary_sample=("redis_instance_info", {"role": "master"}, 1.0),
        commands="redis_commands_total", command_label="cmd",
        clients="redis_connected_clients",
        lag="redis_connected_slave_lag_seconds",
        replication_ok="redis_master_link_up",
        uptime="redis_uptime_in_seconds",
        # HSET and EXPIRE are also called inside the seq script (how often depends on the block), PUBLISH
        # also by the Sentinels' hello messages: those are not compared
        compared={"evalsha": "evalsha", "hgetall": "hgetall"},
        exported=("up", "redis_up", "redis_instance_info", "redis_commands_total", "redis_connected_clients",
                  "redis_connected_slaves", "redis_connected_slave_lag_seconds", "redis_master_link_up",
                  "redis_master_repl_offset", "redis_uptime_in_seconds", "redis_rejected_connections_total",
                  "scrape_duration_seconds", "ALERTS"),
        exporter="prometheus-redis-exporter", package="prometheus-redis-exporter"),
}


def of(engine: str) -> EngineMetrics | None:
    """None: no exporter here for that engine (mongodb: Debian's is a 2018 snapshot; no mongod to try it on)."""
    return METRICS.get(engine)
