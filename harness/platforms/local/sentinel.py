"""Redis Sentinel pods: their config (KubeBlocks' settings) and the evidence in their logs."""

from __future__ import annotations

import re
import time
from datetime import datetime
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from harness.contracts import DeploySpec, RoleChange

# e.g. "1234:X 27 Nov 2025 08:47:01.123 # +switch-master redis-redis 127.0.0.1 40001 127.0.0.1 40002"
SWITCH_RE = re.compile(
    r"^\d+:X (?P<ts>\d{1,2} \w{3} \d{4} \d\d:\d\d:\d\d\.\d{3}) . \+switch-master (?P<master>\S+) "
    r"(?P<old_host>\S+) (?P<old_port>\d+) (?P<new_host>\S+) (?P<new_port>\d+)"
)


def sentinel_conf(port: int, data_dir: Path, master: str, master_port: int, spec: DeploySpec, redis_pw: str,
                  sentinel_pw: str, replica_ports: tuple[int, ...] = ()) -> str:
    """The first config of a Sentinel; Sentinel rewrites it afterwards (it is its state, like a PVC)."""
    return "\n".join([
        "bind 127.0.0.1",
        f"port {port}",
        f"dir {data_dir}",
        'logfile ""',
        "daemonize no",
        f"requirepass {sentinel_pw}",
        f"sentinel sentinel-pass {sentinel_pw}",
        f"sentinel monitor {master} 127.0.0.1 {master_port} {spec.sentinel_quorum}",
        f"sentinel auth-pass {master} {redis_pw}",
        f"sentinel down-after-milliseconds {master} {spec.sentinel_down_after_ms}",
        f"sentinel failover-timeout {master} {spec.sentinel_failover_timeout_ms}",
        f"sentinel parallel-syncs {master} 1",
        # known at once instead of after the first 10 s INFO round: faster deploys, same behaviour
        *(f"sentinel known-replica {master} 127.0.0.1 {p}" for p in replica_ports),
        "",
    ])


def parse_switch_master(line: str) -> tuple[float, int] | None:
    """(unix seconds, new master port) from a `+switch-master` log line; the log is in local time."""
    m = SWITCH_RE.match(line.strip())
    if not m:
        return None
    at = datetime.strptime(m["ts"], "%d %b %Y %H:%M:%S.%f").timestamp()
    return at, int(m["new_port"])


def switch_events(log_paths: list[Path]) -> list[tuple[float, int]]:
    """Every Sentinel logs each failover: merge them into one event per primary change (earliest time)."""
    raw: list[tuple[float, int]] = []
    for p in log_paths:
        try:
            text = p.read_text(errors="replace")
        except OSError:
            continue
        for line in text.splitlines():
            ev = parse_switch_master(line)
            if ev:
                raw.append(ev)
    raw.sort()
    merged: list[tuple[float, int]] = []
    for at, port in raw:
        if merged and merged[-1][1] == port:
            continue
        merged.append((at, port))
    return merged


def role_changes(log_paths: list[Path], name_of_port: dict[int, str]) -> list[RoleChange]:
    return [
        RoleChange(at_wall=at, new_primary=name_of_port.get(port, f"127.0.0.1:{port}"),
                   source="sentinel +switch-master")
        for at, port in switch_events(log_paths)
    ]


def client(port: int, password: str, timeout: float = 0.5) -> redis.Redis:
    """No retries: a frozen or dead server must show as such within `timeout`."""
    return redis.Redis(host="127.0.0.1", port=port, password=password, socket_timeout=timeout,
                       socket_connect_timeout=timeout, decode_responses=True, retry=Retry(NoBackoff(), 0))


def ask_master(sentinel_ports: list[int], password: str, master: str) -> tuple[str, int] | None:
    """The master the Sentinels report (first one that answers), or None when none does."""
    for port in sentinel_ports:
        try:
            with client(port, password, timeout=0.3) as c:
                addr = c.execute_command("SENTINEL", "get-master-addr-by-name", master)
            if addr:
                return str(addr[0]), int(addr[1])
        except (redis.RedisError, OSError):
            continue
    return None


def quorum_ready(port: int, password: str, master: str, replicas: int) -> bool:
    """This Sentinel can fail over: quorum reachable, and it knows the replicas."""
    with client(port, password) as c:
        c.execute_command("SENTINEL", "ckquorum", master)
        known = c.execute_command("SENTINEL", "replicas", master)
    return len(known) >= replicas


def wait_quorum(ports: list[int], password: str, master: str, replicas: int, deadline: float) -> None:
    pending = list(ports)
    while pending:
        still = []
        for p in pending:
            try:
                if not quorum_ready(p, password, master, replicas):
                    still.append(p)
            except (redis.RedisError, OSError):
                still.append(p)
        pending = still
        if not pending:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"sentinels on ports {pending} did not reach quorum for {master}")
        time.sleep(0.1)
