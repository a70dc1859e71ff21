"""Redis' part of the replica divergence check (a `LocalDivergence`): caught up when the replica, linked
to the primary, has applied the primary's `master_repl_offset`; then DBSIZE on both and a content
digest of a deterministic key sample (SAMPLE_KEYS per side, replica_compare.sample) by EVAL_RO."""

from __future__ import annotations

from collections.abc import Collection

import redis

from harness.errors import HarnessError
from harness.platforms.local import sentinel
from harness.platforms.local.pods import Pod
from harness.platforms.local.state import LocalHandle
from harness.platforms.replica_compare import (
    KEY_COUNT,
    REDIS_DIGEST_BATCH,
    REDIS_DIGEST_LUA,
    SAMPLE_KEYS,
    Comparison,
    differing,
    sample,
)

METHOD = f"DBSIZE + content digests of up to {SAMPLE_KEYS} sampled keys per side"
PROBE_TIMEOUT_S = 1.0
SCAN_TIMEOUT_S = 30.0
SCAN_COUNT = 1000


def method(handle: LocalHandle) -> str:
    return METHOD


def _client(handle: LocalHandle, pod: Pod, timeout: float) -> redis.Redis:
    return sentinel.client(pod.port, handle.secrets["redis"], timeout)


def lag(handle: LocalHandle, primary: Pod, replica: Pod) -> str | None:
    try:
        with _client(handle, primary, PROBE_TIMEOUT_S) as c:
            written = int(c.info("replication").get("master_repl_offset") or 0)
        with _client(handle, replica, PROBE_TIMEOUT_S) as c:
            info = c.info("replication")
    except (redis.RedisError, OSError) as e:
        return f"unreachable: {e}"
    applied = int(info.get("slave_repl_offset", -1))
    if info.get("role") != "slave" or int(info.get("master_port") or 0) != primary.port:
        return f"not a replica of {primary.name} (role {info.get('role')}, master_port {info.get('master_port')})"
    if info.get("master_link_status") == "up" and applied >= written:
        return None
    return (f"primary master_repl_offset {written}, replica slave_repl_offset {applied} "
            f"(link {info.get('master_link_status')})")


def _keys(c: redis.Redis) -> set[str]:
    return set(c.scan_iter(count=SCAN_COUNT))


def _digests(c: redis.Redis, keys: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for i in range(0, len(keys), REDIS_DIGEST_BATCH):
        batch = keys[i:i + REDIS_DIGEST_BATCH]
        out.update(zip(batch, map(str, c.execute_command("EVAL_RO", REDIS_DIGEST_LUA, len(batch), *batch)), strict=True))
    return out


def compare(handle: LocalHandle, primary: Pod, replica: Pod, only: Collection[str] | None) -> Comparison:
    try:
        with _client(handle, primary, SCAN_TIMEOUT_S) as p, _client(handle, replica, SCAN_TIMEOUT_S) as r:
            sizes = int(p.dbsize()), int(r.dbsize())
            keys = sorted(set(only) - {KEY_COUNT}) if only is not None else \
                sorted(set(sample(_keys(p))) | set(sample(_keys(r))))
            found = differing(_digests(p, keys), _digests(r, keys), keys)
    except (redis.RedisError, OSError) as e:
        raise HarnessError(f"comparing {replica.name} with {primary.name} failed: {e}") from e
    counted = (KEY_COUNT,) if sizes[0] != sizes[1] else ()
    detail = (f"DBSIZE {sizes[0]} on {primary.name}, {sizes[1]} on {replica.name}; {len(keys)} keys sampled"
              + (f", {len(found)} differ" if found else ", every digest equal"))
    return Comparison(len(keys), counted + found, detail)
