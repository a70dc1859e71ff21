"""A Redis pod's configuration (the rendered parameters, harness/configs/redis.py, plus the emulation's
own lines) and what its startup asks (the Sentinels' master); redis.py deploys the pods,
redis_day2.py adds one on scale-out."""

from __future__ import annotations

from collections.abc import Callable

from harness.contracts import RenderedConfig
from harness.platforms.local import sentinel
from harness.platforms.local.pods import Pod, binary
from harness.platforms.local.serverconfig import adjusted, write_pod_copy
from harness.platforms.local.state import LocalHandle, write_secret_file

CLUSTER = "redis"  # the KubeBlocks Cluster name this emulates
MASTER_NAME = f"{CLUSTER}-redis"  # KubeBlocks: $REDIS_COMPONENT_NAME = <cluster>-<component>
ABSENT = "(no such parameter)"


def local_config(handle: LocalHandle) -> tuple[RenderedConfig, RenderedConfig]:
    """(the render for the deployment's mode and limits, what the servers here run). redis-server
    7.0 accepts every rendered directive; the changes are the emulation's own, each with a note."""
    from harness import engines

    rendered = engines.get(handle.engine).render_config(handle.mode, handle.spec.cpu, handle.spec.memory)
    changes: list[tuple[str, str | None, str]] = []
    if "repl-diskless-sync-delay" in rendered.as_dict():
        changes.append(("repl-diskless-sync-delay", "0", "replicas sync at once (deploy speed; KubeBlocks waits "
                                                         "for more replicas first, which also delays a resync)"))
    if not handle.spec.redis_appendonly:
        changes += [("appendonly", "no", "DeploySpec.redis_appendonly=False (a test's override)"),
                    ("save", "", "no persistence at all: what appendonly off is meant to test")]
    return rendered, adjusted(rendered, changes)


def redis_conf(pod: Pod, password: str | None, params: tuple[tuple[str, str], ...],
               replicaof: tuple[str, int] | None) -> str:
    """The emulation's lines (no password lines when `password` is None: the run directory's copy),
    then the rendered parameters."""
    lines = [
        "bind 127.0.0.1",
        f"port {pod.port}",
        f"dir {pod.data_dir}",
        'logfile ""',
        "daemonize no",
    ]
    if password is not None:
        lines += [f"requirepass {password}", f"masterauth {password}"]
    lines += [f"{name} {value}" if value else f'{name} ""' for name, value in params]
    if replicaof:
        lines.append(f"replicaof {replicaof[0]} {replicaof[1]}")
    return "\n".join(lines) + "\n"


def start_params(handle: LocalHandle) -> tuple[tuple[str, str], ...]:
    """The config's parameters for this start: a restored deployment starts with AOF off so Redis
    loads the backup's RDB (redis_day2.py turns it on once loaded)."""
    assert handle.config is not None, "deploy() renders the config first"
    params = dict(handle.config.params)
    if handle.restore_from is not None and params.get("appendonly") == "yes":
        params.update({"appendonly": "no", "save": ""})
    return tuple(params.items())


def redis_argv(handle: LocalHandle, replication: bool) -> Callable[[Pod], list[str]]:
    server = binary("redis-server")

    def build(pod: Pod) -> list[str]:
        replicaof = None
        if replication:
            master = current_master(handle)
            if master and master[1] != pod.port:
                replicaof = master
        params = start_params(handle)
        conf = write_secret_file(handle.work_dir / "conf" / f"{pod.name}.conf",
                                 redis_conf(pod, handle.secrets["redis"], params, replicaof))
        write_pod_copy(handle, pod.name, ".conf", redis_conf(pod, None, params, replicaof))
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
