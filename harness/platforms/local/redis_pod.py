"""A Redis pod's configuration and what its startup asks (the Sentinels' master); redis.py deploys
the pods, redis_day2.py adds one on scale-out."""

from __future__ import annotations

from collections.abc import Callable

from harness.platforms.local import sentinel
from harness.platforms.local.pods import Pod, binary
from harness.platforms.local.state import LocalHandle, write_secret_file

CLUSTER = "redis"  # the KubeBlocks Cluster name this emulates
MASTER_NAME = f"{CLUSTER}-redis"  # KubeBlocks: $REDIS_COMPONENT_NAME = <cluster>-<component>


def redis_conf(pod: Pod, password: str, appendonly: bool, replicaof: tuple[str, int] | None) -> str:
    lines = [
        "bind 127.0.0.1",
        f"port {pod.port}",
        f"dir {pod.data_dir}",
        'logfile ""',
        "daemonize no",
        f"requirepass {password}",
        f"masterauth {password}",
        f"appendonly {'yes' if appendonly else 'no'}",
        "appendfsync everysec",
        "repl-diskless-sync-delay 0",  # replicas sync at once (deploy speed; writes are not affected)
    ]
    if not appendonly:
        lines.append('save ""')  # no persistence at all: what "appendonly off" is meant to test
    if replicaof:
        lines.append(f"replicaof {replicaof[0]} {replicaof[1]}")
    return "\n".join(lines) + "\n"


def redis_argv(handle: LocalHandle, replication: bool) -> Callable[[Pod], list[str]]:
    """A restored deployment starts with AOF off so Redis loads the backup's RDB (redis_day2.py)."""
    server = binary("redis-server")

    def build(pod: Pod) -> list[str]:
        replicaof = None
        if replication:
            master = current_master(handle)
            if master and master[1] != pod.port:
                replicaof = master
        conf = write_secret_file(handle.work_dir / "conf" / f"{pod.name}.conf",
                                 redis_conf(pod, handle.secrets["redis"], handle.spec.redis_appendonly and handle.restore_from is None,
                                            replicaof))
        return [server, str(conf)]

    return build


def sentinel_ports(handle: LocalHandle) -> list[int]:
    return [p.port for p in handle.pods.values() if p.kind == "sentinel"]


def current_master(handle: LocalHandle) -> tuple[str, int] | None:
    """The Sentinels' master; before any Sentinel runs, redis-0 (the initial primary)."""
    ports = [p.port for p in handle.pods.values() if p.kind == "sentinel" and p.alive() and not p.frozen]
    found = sentinel.ask_master(ports, handle.secrets["sentinel"], MASTER_NAME) if ports else None
    if found:
        return found
    if any(p.kind == "sentinel" and p.starts for p in handle.pods.values()):
        return None  # Sentinels exist but none answers: start without replicaof, Sentinel will fix it
    return ("127.0.0.1", handle.pods["redis-0"].port)


def ping(port: int, password: str) -> bool:
    with sentinel.client(port, password) as c:
        return bool(c.ping())


def info_role(pod: Pod, password: str) -> dict[str, str]:
    with sentinel.client(pod.port, password, timeout=0.5) as c:
        return {k: str(v) for k, v in c.info("replication").items()}
