"""Redis pods: a single AOF server (statefulset) or 2 servers + 3 Sentinels (KubeBlocks' replication).

Like KubeBlocks' startup script, a Redis pod that (re)starts asks the Sentinels for the current
master and starts as its replica when another pod is master, so a restarted old primary does not
come back as a second master.
"""

from __future__ import annotations

import secrets
import time

import redis

from harness.contracts import ZONES, Endpoint
from harness.errors import DeployError
from harness.platforms.local import sentinel
from harness.platforms.local.pods import Pod, binary, wait_ready
from harness.platforms.local.redis_day2 import enable_aof_after_restore, restore_into
from harness.platforms.local.redis_pod import ABSENT, MASTER_NAME, info_role, local_config, ping, redis_argv
from harness.platforms.local.serverconfig import read_back, record
from harness.platforms.local.state import LocalHandle, new_pod, write_secret_file


def _sentinel_argv(handle: LocalHandle, master_port: int):
    binary_path = binary("redis-sentinel")

    def build(pod: Pod) -> list[str]:
        conf = handle.work_dir / "conf" / f"{pod.name}.conf"
        if not conf.exists():  # Sentinel rewrites its config: it is its persistent state
            write_secret_file(conf, sentinel.sentinel_conf(
                pod.port, pod.data_dir, MASTER_NAME, master_port, handle.spec,
                handle.secrets["redis"], handle.secrets["sentinel"],
                tuple(p.port for p in handle.data_pods() if p.port != master_port)))
        return [binary_path, str(conf)]

    return build


def deploy(handle: LocalHandle, deadline: float) -> Endpoint:
    rendered, handle.config = local_config(handle)
    record(handle, rendered)
    handle.secrets["redis"] = secrets.token_urlsafe(24)
    pw = handle.secrets["redis"]
    kb = handle.mode == "kubeblocks"
    n = 2 if kb else 1
    data = [new_pod(handle, f"redis-{i}", ZONES[i], redis_argv(handle, kb)) for i in range(n)]
    for p in data:
        restore_into(handle, p)  # a restored deployment: every volume holds the backup's RDB
    if kb:
        handle.secrets["sentinel"] = secrets.token_urlsafe(24)
        for i in range(3):
            new_pod(handle, f"redis-sentinel-{i}", ZONES[i], _sentinel_argv(handle, data[0].port), kind="sentinel")
    for p in data:
        p.start(handle.registry)
    for p in data:
        wait_ready(p, lambda: ping(p.port, pw), deadline, "answering PING")  # noqa: B023 - polled here
        enable_aof_after_restore(handle, p)
    if not kb:
        handle.endpoint = Endpoint(engine="redis", mode=handle.mode, addresses=(("127.0.0.1", data[0].port),),
                                   password=pw)
        _check_write(handle.endpoint, deadline)
        return handle.endpoint
    wait_ready(data[1], lambda: info_role(data[1], pw).get("master_link_status") == "up", deadline,
               "syncing from redis-0")
    sents = [p for p in handle.pods.values() if p.kind == "sentinel"]
    for s in sents:
        s.start(handle.registry)
    for s in sents:
        wait_ready(s, lambda: ping(s.port, handle.secrets["sentinel"]), deadline, "answering PING")  # noqa: B023 - polled here
    try:
        sentinel.wait_quorum([s.port for s in sents], handle.secrets["sentinel"], MASTER_NAME, 1, deadline)
    except TimeoutError as e:
        raise DeployError(f"{e}: {sentinel_logs_tail(sents)}") from None
    handle.endpoint = Endpoint(engine="redis", mode=handle.mode,
                               addresses=tuple(("127.0.0.1", s.port) for s in sents), password=pw,
                               sentinel_master=MASTER_NAME, sentinel_password=handle.secrets["sentinel"])
    _check_write(handle.endpoint, deadline)
    return handle.endpoint


def sentinel_logs_tail(sents: list[Pod]) -> str:
    from harness.platforms.local.pods import server_errors

    return " || ".join(f"{s.name}: {server_errors(s.log_path, 3)}" for s in sents)


def master_client(ep: Endpoint, timeout: float = 1.0) -> redis.Redis:
    """A client on the current primary, found the way the workload finds it."""
    if ep.sentinel_master:
        found = sentinel.ask_master([p for _, p in ep.addresses], ep.sentinel_password or "", ep.sentinel_master)
        if not found:
            raise redis.ConnectionError("no sentinel answered")
        host, port = found
    else:
        host, port = ep.addresses[0]
    return sentinel.client(port, ep.password, timeout) if host == "127.0.0.1" else redis.Redis(
        host=host, port=port, password=ep.password, socket_timeout=timeout, socket_connect_timeout=timeout,
        decode_responses=True)


def _check_write(ep: Endpoint, deadline: float) -> None:
    """Ready means: takes a write and reads it back through the Endpoint."""
    last = ""
    while time.monotonic() < deadline:
        try:
            with master_client(ep) as c:
                c.set("harness:ready", "1")
                if c.get("harness:ready") == "1":
                    return
        except (redis.RedisError, OSError) as e:
            last = str(e)
        time.sleep(0.05)
    raise DeployError(f"redis did not take a write before the deadline: {last}")


def role_of(handle: LocalHandle, pod: Pod) -> str | None:
    if pod.kind == "sentinel":
        return "sentinel" if pod.alive() and not pod.frozen else None
    if not pod.alive() or pod.frozen:
        return None
    try:
        role = info_role(pod, handle.secrets["redis"]).get("role")
    except (redis.RedisError, OSError):
        return None
    return {"master": "primary", "slave": "secondary"}.get(role or "")


def role_changes(handle: LocalHandle):
    sents = [p.log_path for p in handle.pods.values() if p.kind == "sentinel"]
    return sentinel.role_changes(sents, {p.port: p.name for p in handle.data_pods()})


def version() -> str | None:
    from harness.platforms.local.preflight import binary_version

    return binary_version(binary("redis-server"), r"v=(\S+)")


def applied_config(handle: LocalHandle) -> dict[str, dict[str, str]]:
    """CONFIG GET of every answering data pod, for the parameters it was started with."""
    from harness.configs.redis import same_value

    def live(pod: Pod) -> dict[str, str]:
        with sentinel.client(pod.port, handle.secrets["redis"], timeout=1.0) as c:
            return {str(k): str(v) for k, v in c.config_get("*").items()}

    return read_back(handle, live, (redis.RedisError, OSError), same_value, ABSENT)
