"""MongoDB's WiredTiger cache per mode (pure; no local mongod is configured from it yet).

kubeblocks: the addon's `mongodb5.0-config.tpl` sets no cacheSizeGB, so mongod's own default from
the cgroup limit applies: max(0.5 x (limit - 1 GiB), 256 MiB). Rendered as a value so that a local
mongod, which sees the host's RAM and not a pod limit, could be given what the pod would compute.
statefulset: OpenIM passes `--wiredTigerCacheSizeGB 1` whatever the pod's resources.
"""

from __future__ import annotations

from decimal import Decimal

from harness.configs.quantity import cpu_whole_cores, memory_bytes
from harness.contracts import RenderedConfig
from harness.errors import HarnessError

GiB = 2**30
CACHE_PARAM = "storage.wiredTiger.engineConfig.cacheSizeGB"
OPENIM_CACHE_GB = "1"
KUBEBLOCKS_SOURCE = ("KubeBlocks addon mongodb v1.0.2: addons/mongodb/config/mongodb5.0-config.tpl sets no cacheSizeGB; "
                     "MongoDB's default from the memory limit")
STATEFULSET_SOURCE = ("OpenIM open-im-server deployments/deploy/mongo-statefulset.yml and docker-compose.yml: "
                      "mongod --wiredTigerCacheSizeGB ${wiredTigerCacheSizeGB} with wiredTigerCacheSizeGB=1")


def default_cache_bytes(memory: int) -> int:
    """mongod's default WiredTiger cache: the larger of 50% of (RAM - 1 GiB) and 256 MiB."""
    return max((memory - GiB) // 2, 256 * 2**20)


def _gb(n: int) -> str:
    """Bytes as mongod's (binary) GB, without trailing zeros: 268435456 -> "0.25"."""
    return format((Decimal(n) / GiB).quantize(Decimal("0.001")).normalize(), "f")


def render(mode: str, cpu: str, memory: str) -> RenderedConfig:
    mem = memory_bytes(memory)
    cpu_whole_cores(cpu)  # validated; neither mode reads it
    if mode == "kubeblocks":
        cache = default_cache_bytes(mem)
        return RenderedConfig(
            engine="mongodb", mode="kubeblocks", cpu=cpu, memory=memory, params=((CACHE_PARAM, _gb(cache)),),
            source=KUBEBLOCKS_SOURCE,
            notes=((CACHE_PARAM, f"not in the template: mongod's default max(0.5 x ({memory} - 1GiB), 256MiB) = "
                                 f"{cache} bytes, from the cgroup limit"),))
    if mode == "statefulset":
        over = Decimal(OPENIM_CACHE_GB) * GiB > mem
        note = "OpenIM's fixed value, whatever the pod's resources" + (
            f"; more than the {memory} limit: a cache that fills gets the pod OOM-killed" if over else "")
        return RenderedConfig(engine="mongodb", mode="statefulset", cpu=cpu, memory=memory,
                              params=((CACHE_PARAM, OPENIM_CACHE_GB),), source=STATEFULSET_SOURCE,
                              notes=((CACHE_PARAM, note),))
    raise HarnessError(f"unknown mode {mode!r}; accepted: kubeblocks, statefulset")
