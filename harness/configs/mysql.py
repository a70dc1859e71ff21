"""MySQL's server parameters per mode, in MariaDB 10.11's names (the local server is MariaDB).

kubeblocks: the addon's `mysql8.0-config.tpl` (apecloud/kubeblocks-addons v1.0.2) with the
built-in `callBufferSizeByResource` (apecloud/kubeblocks pkg/controller/render/builtin_functions.go
`calMysqlPoolSizeByResource`), both reading the container's limits, plus the command line of
`cmpd-mysql80.yaml` (audit_log plugin). Go's integer and sprig's float arithmetic are reproduced
exactly: a formula off by one byte would be a different config.

statefulset: OpenIM ships no MySQL settings, so the baseline image's (mysql:8.0.44) defaults,
written out where MariaDB's own defaults differ and for the parameters the template sets.
"""

from __future__ import annotations

import math

from harness.configs.quantity import cpu_whole_cores, memory_bytes
from harness.contracts import RenderedConfig
from harness.errors import HarnessError

GiB = 2**30
MiB = 2**20
# thread_stack + binlog_cache + join + sort + read + read_rnd buffers: the template's divisor
THREAD_STACK, BINLOG_CACHE, JOIN_BUFFER, SORT_BUFFER, READ_BUFFER, READ_RND_BUFFER = 262144, 32768, 262144, 262144, 262144, 524288
SINGLE_THREAD_MEMORY = THREAD_STACK + BINLOG_CACHE + JOIN_BUFFER + SORT_BUFFER + READ_BUFFER + READ_RND_BUFFER  # 1605632

KUBEBLOCKS_SOURCE = ("KubeBlocks addon mysql v1.0.2: addons/mysql/config/mysql8.0-config.tpl and cmpd-mysql80.yaml; "
                     "innodb_buffer_pool_size by calMysqlPoolSizeByResource (kubeblocks pkg/controller/render/"
                     "builtin_functions.go); in MariaDB 10.11's names")
STATEFULSET_SOURCE = ("OpenIM ships no MySQL server settings (open-im-server v3.4.0 docker-compose.yml: mysql:5.7 with "
                      "MYSQL_ROOT_PASSWORD only; openimsdk/helm-charts infra/mysql-config.yaml: auth, database and "
                      "persistence only), so the baseline image mysql:8.0.44's defaults, in MariaDB 10.11's names")


def _go_div(a: int, b: int) -> int:
    """Go's integer division (truncates toward zero; Python's // floors)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def buffer_pool_size(memory: int, cores: int) -> str:
    """calMysqlPoolSizeByResource(resource, isShared=false): memory / cores are the container's limits
    (cores as Quantity.Value(), rounded up). A 1-core limit caps the pool at 256M whatever the RAM."""
    if cores == 0 or memory == 0:
        return "128M"
    mem_mb = memory // 1024 // 1024
    reserve = min(mem_mb >> 1, 2048) + max(cores << 6, mem_mb >> 6) + (mem_mb >> 6) + 285
    total = mem_mb - reserve
    if memory < GiB or cores < 1:
        return "128M"
    if memory == GiB or cores == 1:
        return "256M"
    size = _go_div(total * 75, 100)
    aligned = 1024 if size > 1024 else 128
    return f"{_go_div(size, aligned) * aligned}M"


def max_connections(memory: int) -> int:
    """`div (div $phy_memory 4) $single_thread_memory`: a quarter of the limit over per-thread buffers."""
    return memory // 4 // SINGLE_THREAD_MEMORY


def _sprig_round(x: float) -> float:
    """sprig's `round x 0`: half away from zero for the positive values here (not banker's)."""
    frac, _ = math.modf(x)
    return math.ceil(x) if frac >= 0.5 else math.floor(x)


def redo_log_capacity(memory: int) -> int:
    """The template's innodb_redo_log_capacity, by whole GiB of the limit (MySQL's dedicated-server rule)."""
    gb = memory // GiB
    if gb < 2:
        return 104857600
    factor = 0.5 if gb < 4 else 0.75 if gb < 11 else 0.6525 if gb < 170 else None
    if factor is None:
        return 128 * GiB
    return int(_sprig_round(gb * factor) * 512 * 1024 * 1024)


def render(mode: str, cpu: str, memory: str) -> RenderedConfig:
    if mode == "kubeblocks":
        return _kubeblocks(cpu, memory)
    if mode == "statefulset":
        return _statefulset(cpu, memory)
    raise HarnessError(f"unknown mode {mode!r}; accepted: kubeblocks, statefulset")


# MySQL 8 parameters of the template that MariaDB 10.11 has no counterpart for (not rendered).
_NOT_IN_MARIADB = (
    ("gtid_mode", "ON in the template; MariaDB's GTIDs are always on (the emulation adds gtid_strict_mode)"),
    ("enforce_gtid_consistency", "ON in the template; no MariaDB counterpart"),
    ("persisted_globals_load", "OFF in the template; MySQL only (SET PERSIST)"),
    ("authentication_policy", "mysql_native_password in the template; MariaDB's users here use it already"),
    ("mysqlx", "0 in the template; MariaDB has no X plugin"),
    ("innodb_doublewrite_batch_size", "16 in the template; MySQL only"),
    ("innodb_doublewrite_pages", "32 in the template; MySQL only"),
    ("performance_schema_digests_size", "10000 in the template; moot with performance_schema OFF"),
    ("binlog_order_commits", "ON in the template; MariaDB always commits in binlog order"),
    ("log_statements_unsafe_for_binlog", "OFF in the template; MySQL only"),
    ("log_error_verbosity", "2 in the template; MySQL only (MariaDB: log_warnings)"),
    ("loose_audit_log_strategy", "ASYNCHRONOUS in the template; server_audit writes each record as it happens"),
    ("loose_audit_log_exclude_accounts", "kbadmin@% in the template (KubeBlocks' own account); here the role "
                                         "controller uses root like the clients, so its probes are audited too"),
)


def _kubeblocks(cpu: str, memory: str) -> RenderedConfig:
    mem = memory_bytes(memory)
    cores = cpu_whole_cores(cpu)
    pool = buffer_pool_size(mem, cores)
    redo = redo_log_capacity(mem)
    params: list[tuple[str, str]] = [
        ("innodb_buffer_pool_size", pool),
        ("max_connections", str(max_connections(mem))),
        ("performance_schema", "OFF" if mem < 8 * GiB else "ON"),
        ("slave_exec_mode", "IDEMPOTENT"),
        ("thread_stack", str(THREAD_STACK)),
        ("thread_cache_size", "60"),
        ("open_files_limit", "1048576"),
        ("local_infile", "ON"),
        ("sql_mode", "NO_ENGINE_SUBSTITUTION"),
        ("table_open_cache", "4000"),
        ("max_prepared_stmt_count", "16382"),
        ("read_buffer_size", str(READ_BUFFER)),
        ("read_rnd_buffer_size", str(READ_RND_BUFFER)),
        ("join_buffer_size", str(JOIN_BUFFER)),
        ("sort_buffer_size", str(SORT_BUFFER)),
        ("back_log", "5285"),
        ("host_cache_size", "867"),
        ("connect_timeout", "10"),
        ("log_output", "FILE"),
        ("slow_query_log", "ON"),
        ("long_query_time", "5"),
        ("general_log", "ON"),
        ("innodb_flush_method", "O_DIRECT"),
        ("innodb_io_capacity", "200"),
        ("innodb_io_capacity_max", "2000"),
        ("innodb_log_buffer_size", "8388608"),
        ("innodb_log_file_size", str(redo)),
        ("innodb_open_files", "4000"),
        ("innodb_purge_threads", "1"),
        ("innodb_read_io_threads", "4"),
        ("key_buffer_size", "16777216"),
        ("binlog_cache_size", str(BINLOG_CACHE)),
        ("binlog_format", "MIXED"),
        ("binlog_row_image", "FULL"),
        ("log_bin", "mysql-bin"),
        ("binlog_expire_logs_seconds", "604800"),
        ("max_binlog_size", "134217728"),
        ("log_slave_updates", "ON"),
        ("relay_log_recovery", "ON"),
        ("plugin_load_add", "server_audit"),
        ("server_audit_logging", "ON"),
        ("server_audit_events", "CONNECT,QUERY,TABLE"),
        ("server_audit_output_type", "file"),
        ("server_audit_file_rotate_size", "10485760"),
        ("server_audit_file_rotations", "5"),
        ("default_tmp_storage_engine", "InnoDB"),
        ("character_set_server", "utf8mb4"),
        ("collation_server", "utf8mb4_unicode_520_ci"),
        ("sync_binlog", "1"),
        ("innodb_flush_log_at_trx_commit", "1"),
    ]
    notes: list[tuple[str, str]] = [
        ("innodb_buffer_pool_size", f"calMysqlPoolSizeByResource({memory}, {cores} core(s): the CPU limit {cpu} "
                                    "rounded up); a 1-core limit caps it at 256M"),
        ("max_connections", f"(memory limit / 4) / {SINGLE_THREAD_MEMORY} (the per-thread buffers below)"),
        ("performance_schema", "OFF below an 8Gi limit" if mem < 8 * GiB else
                               "the template leaves MySQL's default (ON); MariaDB's default is OFF, so set"),
        ("slave_exec_mode", "MySQL 8: replica_exec_mode; IDEMPOTENT: a replica skips duplicate-key and "
                            "missing-row errors silently (can mask divergence)"),
        ("innodb_log_file_size", f"MySQL 8: innodb_redo_log_capacity={redo}; MariaDB 10.11 has none: the same "
                                 "bytes as its single redo log file"),
        ("log_bin", "the binlog basename (KubeBlocks passes --log-bin=<data>/binlog/<pod>-bin)"),
        ("log_slave_updates", "MySQL 8: log_replica_updates=1"),
        ("plugin_load_add", "MySQL's audit_log plugin (cmpd-mysql80.yaml --plugin-load-add=audit_log=audit_log.so, "
                            "loose_audit_log_policy=ALL); MariaDB's equivalent is server_audit"),
        ("server_audit_events", "loose_audit_log_policy=ALL: connections and every query"),
        ("server_audit_output_type", "loose_audit_log_handler=FILE"),
        ("server_audit_file_rotate_size", "loose_audit_log_rotate_on_size=10485760"),
        ("server_audit_file_rotations", "loose_audit_log_rotations=5"),
        ("general_log", "every statement written to a file (KubeBlocks: <data>/log/mysqld.log)"),
        ("sync_binlog", "not in the template, so MySQL 8's default 1 applies; MariaDB's default is 0, so set "
                        "explicitly to keep MySQL 8's"),
        ("innodb_flush_log_at_trx_commit", "not in the template: MySQL 8's default 1 (MariaDB's too)"),
        ("open_files_limit", "the template's; a server without CAP_SYS_RESOURCE is held to the hard RLIMIT_NOFILE"),
        *_NOT_IN_MARIADB,
    ]
    if pool.startswith(("0", "-")):
        notes.append(("innodb_buffer_pool_size", f"the formula gives {pool} at this limit; the server raises it to "
                                                 "its minimum"))
    return RenderedConfig(engine="mysql", mode="kubeblocks", cpu=cpu, memory=memory, params=tuple(params),
                          source=KUBEBLOCKS_SOURCE, notes=tuple(notes))


def _statefulset(cpu: str, memory: str) -> RenderedConfig:
    memory_bytes(memory), cpu_whole_cores(cpu)  # validated like kubeblocks', though the defaults ignore them
    params = (
        ("innodb_buffer_pool_size", "128M"),
        ("max_connections", "151"),
        ("performance_schema", "ON"),
        ("slave_exec_mode", "STRICT"),
        ("sort_buffer_size", "262144"),
        ("key_buffer_size", "8388608"),
        ("slow_query_log", "OFF"),
        ("long_query_time", "10"),
        ("general_log", "OFF"),
        ("innodb_flush_method", "fsync"),
        ("innodb_io_capacity", "200"),
        ("innodb_io_capacity_max", "2000"),
        ("innodb_log_buffer_size", "16777216"),
        ("innodb_log_file_size", "104857600"),
        ("binlog_format", "ROW"),
        ("log_bin", "binlog"),
        ("binlog_expire_logs_seconds", "2592000"),
        ("max_binlog_size", "1073741824"),
        ("character_set_server", "utf8mb4"),
        ("collation_server", "utf8mb4_general_ci"),
        ("sync_binlog", "1"),
        ("innodb_flush_log_at_trx_commit", "1"),
    )
    notes = (
        ("innodb_buffer_pool_size", "MySQL 8 default 128M, whatever the limit (MariaDB's too)"),
        ("max_connections", "MySQL 8 default 151 (MariaDB's too)"),
        ("performance_schema", "MySQL 8 default ON; MariaDB's default is OFF, so set: the baseline pays for it "
                               "like mysql:8.0 does (KubeBlocks turns it OFF below 8Gi)"),
        ("sort_buffer_size", "MySQL 8 default 256K; MariaDB's is 2M"),
        ("key_buffer_size", "MySQL 8 default 8M; MariaDB's is 128M"),
        ("innodb_flush_method", "MySQL 8.0's Linux default fsync; MariaDB 10.11's is O_DIRECT"),
        ("innodb_log_file_size", "MySQL 8: innodb_redo_log_capacity default 104857600; MariaDB 10.11 has none "
                                 "(its innodb_log_file_size default is 96M): the same bytes as its redo log file"),
        ("binlog_format", "MySQL 8 default ROW; MariaDB's is MIXED"),
        ("log_bin", "MySQL 8 writes a binlog by default (basename binlog), MySQL 5.7 (OpenIM's docker-compose) "
                    "did not; MariaDB does not by default"),
        ("binlog_expire_logs_seconds", "MySQL 8 default 30 days; MariaDB's is 0 (never)"),
        ("collation_server", "MySQL 8: utf8mb4_0900_ai_ci, which MariaDB 10.11 lacks; MariaDB's utf8mb4 default"),
        ("character_set_server", "MySQL 8 default utf8mb4; MariaDB's is latin1"),
        ("sync_binlog", "MySQL 8 default 1; MariaDB's default is 0, so set explicitly to keep MySQL 8's"),
        ("innodb_flush_log_at_trx_commit", "MySQL 8 default 1 (MariaDB's too)"),
        ("*", "everything else: the server's defaults (OpenIM sets nothing)"),
    )
    return RenderedConfig(engine="mysql", mode="statefulset", cpu=cpu, memory=memory, params=params,
                          source=STATEFULSET_SOURCE, notes=notes)


# -- comparing a live value with the rendered one -------------------------------------------------

_SIZE_UNITS = {"K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
_TRUE, _FALSE = {"ON", "1", "TRUE", "YES"}, {"OFF", "0", "FALSE", "NO"}


def _size(text: str) -> int | None:
    t = text.strip().upper()
    if t[-1:] in _SIZE_UNITS and t[:-1].isdigit():
        return int(t[:-1]) * _SIZE_UNITS[t[-1]]
    return int(t) if t.isdigit() else None


def same_value(param: str, rendered: str, live: str) -> bool:
    """Whether the server's SHOW GLOBAL VARIABLES text means the rendered value (128M = 134217728,
    ON = 1, 5 = 5.000000, sets in any order, enum case)."""
    r, v = rendered.strip(), live.strip()
    if r.upper() == v.upper():
        return True
    if (r.upper() in _TRUE and v.upper() in _TRUE) or (r.upper() in _FALSE and v.upper() in _FALSE):
        return True
    rs, vs = _size(r), _size(v)
    if rs is not None and vs is not None:
        return rs == vs
    try:
        if float(r) == float(v):
            return True
    except ValueError:
        pass
    if "," in r or "," in v:
        return {x.strip().upper() for x in r.split(",")} == {x.strip().upper() for x in v.split(",")}
    return False
