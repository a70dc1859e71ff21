"""Redis' server parameters per mode.

kubeblocks: the addon's `redis7-config.tpl` (apecloud/kubeblocks-addons v1.0.2), whose maxmemory is
`mulf $.PHY_MEMORY 0.8 | int` with PHY_MEMORY the memory limit (`cmpd-redis.yaml` resourceVarRef).
statefulset: OpenIM's redis-statefulset.yml runs `redis-server --requirepass ... --appendonly yes`
and nothing else, so Redis 7.0's defaults for the parameters the template sets.
"""

from __future__ import annotations

from harness.configs.quantity import cpu_whole_cores, memory_bytes
from harness.contracts import RenderedConfig
from harness.errors import HarnessError

KUBEBLOCKS_SOURCE = "KubeBlocks addon redis v1.0.2: addons/redis/config/redis7-config.tpl (maxmemory from the memory limit)"
STATEFULSET_SOURCE = ("OpenIM open-im-server deployments/deploy/redis-statefulset.yml: `redis-server --requirepass "
                      "\"$REDIS_PASSWORD\" --appendonly yes` (docker-compose.yml the same); the rest Redis 7.0's defaults")


def maxmemory(memory: int) -> int:
    """`mulf $request_memory 0.8 | int`: float64 product, truncated (0.5Gi -> 429496729)."""
    return int(memory * 0.8)


def render(mode: str, cpu: str, memory: str) -> RenderedConfig:
    mem = memory_bytes(memory)
    cpu_whole_cores(cpu)  # validated; neither mode reads it
    params: tuple[tuple[str, str], ...]
    notes: tuple[tuple[str, str], ...]
    if mode == "kubeblocks":
        params = (
            ("maxmemory", str(maxmemory(mem))),
            ("maxmemory-policy", "volatile-lru"),
            ("appendonly", "yes"),
            ("appendfsync", "everysec"),
            ("aof-use-rdb-preamble", "yes"),
            ("aof-timestamp-enabled", "yes"),
            ("auto-aof-rewrite-percentage", "100"),
            ("auto-aof-rewrite-min-size", "64mb"),
            ("repl-diskless-sync", "yes"),
            ("repl-diskless-sync-delay", "5"),
            ("io-threads", "4"),
            ("io-threads-do-reads", "yes"),
            ("client-output-buffer-limit", "replica 256mb 64mb 60"),
            ("timeout", "0"),
            ("tcp-keepalive", "300"),
            ("disable-thp", "yes"),
        )
        notes = (
            ("maxmemory", f"0.8 x the memory limit {memory} ({mem} bytes)"),
            ("maxmemory-policy", "volatile-lru: keys without a TTL are never evicted; writes fail with OOM once "
                                 "maxmemory is reached and nothing with a TTL is left"),
            ("aof-timestamp-enabled", "the template's yes (Redis' default is no): timestamp annotations in the AOF"),
            ("save", "no save line in the template: Redis' default save points apply"),
            ("io-threads", "the template's fixed 4 (its TODO: 'dynamic config for io-threads'), whatever the CPU limit"),
        )
        return RenderedConfig(engine="redis", mode="kubeblocks", cpu=cpu, memory=memory, params=params,
                              source=KUBEBLOCKS_SOURCE, notes=notes)
    if mode == "statefulset":
        params = (
            ("maxmemory", "0"),
            ("maxmemory-policy", "noeviction"),
            ("appendonly", "yes"),
            ("appendfsync", "everysec"),
            ("aof-use-rdb-preamble", "yes"),
            ("aof-timestamp-enabled", "no"),
            ("auto-aof-rewrite-percentage", "100"),
            ("auto-aof-rewrite-min-size", "64mb"),
            ("repl-diskless-sync", "yes"),
            ("io-threads", "1"),
            ("io-threads-do-reads", "no"),
            ("client-output-buffer-limit", "replica 256mb 64mb 60"),
            ("timeout", "0"),
            ("tcp-keepalive", "300"),
            ("disable-thp", "yes"),
        )
        notes = (
            ("appendonly", "OpenIM's only setting: --appendonly yes"),
            ("maxmemory", "Redis' default 0: no limit of its own, whatever the pod's memory limit (the kernel's "
                          "OOM killer is the limit)"),
            ("*", "every other value: Redis 7.0's default, written out to compare with kubeblocks'"),
        )
        return RenderedConfig(engine="redis", mode="statefulset", cpu=cpu, memory=memory, params=params,
                              source=STATEFULSET_SOURCE, notes=notes)
    raise HarnessError(f"unknown mode {mode!r}; accepted: kubeblocks, statefulset")


# -- comparing a live value with the rendered one -------------------------------------------------

_UNITS = {"k": 1000, "kb": 1024, "m": 1000**2, "mb": 1024**2, "g": 1000**3, "gb": 1024**3}


def _bytes(text: str) -> int | None:
    t = text.strip().lower()
    for unit in ("kb", "mb", "gb", "k", "m", "g"):
        if t.endswith(unit) and t[: -len(unit)].isdigit():
            return int(t[: -len(unit)]) * _UNITS[unit]
    return int(t) if t.isdigit() else None


def _limits(text: str) -> dict[str, tuple[int | None, ...]]:
    """client-output-buffer-limit's `<class> <hard> <soft> <seconds>` groups (replica = slave)."""
    words = text.split()
    out: dict[str, tuple[int | None, ...]] = {}
    for i in range(0, len(words) - 3, 4):
        cls = "replica" if words[i].lower() == "slave" else words[i].lower()
        out[cls] = tuple(_bytes(w) for w in words[i + 1:i + 4])
    return out


def same_value(param: str, rendered: str, live: str) -> bool:
    """Whether CONFIG GET's text means the rendered value (64mb = 67108864; one client class of
    client-output-buffer-limit within CONFIG GET's list of all)."""
    if rendered.strip().lower() == live.strip().lower():
        return True
    if param == "client-output-buffer-limit":
        want, have = _limits(rendered), _limits(live)
        return bool(want) and all(have.get(cls) == v for cls, v in want.items())
    r, v = _bytes(rendered), _bytes(live)
    return r is not None and r == v
