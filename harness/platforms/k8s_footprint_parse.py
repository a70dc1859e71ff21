"""Pure parsers of the footprint's readings on kind/k8s: a container's cgroup counters (printed by the
script `kubectl exec` runs), the pods' JSON (restarts, limits), the kubelet's stats summary and the
metrics API. No I/O; tested against realistic outputs."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from typing import Any

from harness.quantity import quantity

# Run in the container (`/bin/sh -c`): shell builtins only, plus `du` for the volume, so it works in
# any image with a shell. cgroup v2 is the container's own group when it has memory.max (the root of
# a host without a cgroup namespace has none); v1 images mount cpu,cpuacct under either name.
_CGROUP_SCRIPT = (
    "C=/sys/fs/cgroup; "
    "if [ -f $C/cgroup.controllers ]; then "
    "if [ -f $C/memory.max ]; then echo 'cgroup v2'; "
    "while read -r k v; do [ \"$k\" = usage_usec ] && echo \"cpu_usec $v\"; done < $C/cpu.stat; "
    "[ -f $C/memory.peak ] && read -r v < $C/memory.peak && echo \"memory_peak $v\"; "
    "else echo 'cgroup v2-host-root'; fi; "
    "else echo 'cgroup v1'; "
    "for f in $C/cpuacct/cpuacct.usage $C/cpu,cpuacct/cpuacct.usage $C/cpuacct,cpu/cpuacct.usage; do "
    "[ -f $f ] && read -r v < $f && echo \"cpu_nsec $v\" && break; done; "
    "[ -f $C/memory/memory.max_usage_in_bytes ] && read -r v < $C/memory/memory.max_usage_in_bytes "
    "&& echo \"memory_peak $v\"; "
    "fi"
)


def cgroup_script(volume_path: str | None = None) -> str:
    """The exec script: the container's CPU and peak-memory counters, and `du -sk` of its volume."""
    if volume_path is None:
        return _CGROUP_SCRIPT
    return _CGROUP_SCRIPT + f"; echo \"volume_kib $(du -sk {shlex.quote(volume_path)} 2>/dev/null)\""


@dataclass(frozen=True)
class CgroupReading:
    """What the script printed; None where it could not read (an absent file, no output)."""

    version: str | None  # "v2" | "v1" | None
    cpu_s: float | None  # CPU seconds since the container started
    memory_peak: int | None  # its group's peak memory since it started (page cache included)
    volume_bytes: int | None  # du -sk x 1024: what the volume occupies on disk
    note: str = ""  # why a figure is missing


def parse_cgroup_reading(text: str) -> CgroupReading:
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, _, rest = line.strip().partition(" ")
        if key:
            values[key] = rest.strip()
    version = values.get("cgroup")
    usec, nsec = _int(values.get("cpu_usec")), _int(values.get("cpu_nsec"))
    cpu = usec / 1e6 if usec is not None else nsec / 1e9 if nsec is not None else None
    vol = values.get("volume_kib", "").split()
    volume = int(vol[0]) * 1024 if vol and vol[0].isdigit() else None
    note = ""
    if version == "v2-host-root":
        version, note = None, "the container sees the host's root cgroup (no cgroup namespace): no own counters"
    elif version is None:
        note = "no cgroup reading (the exec printed nothing)"
    elif cpu is None:
        note = f"cgroup {version}: no CPU counter found"
    return CgroupReading(version, cpu, _int(values.get("memory_peak")), volume, note)


def _int(text: str | None) -> int | None:
    return int(text) if text is not None and text.strip().isdigit() else None


def load(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


@dataclass(frozen=True)
class PodRecord:
    """A pod as the footprint needs it, from `kubectl get pods -o json`."""

    name: str
    uid: str
    node: str
    labels: dict[str, str]
    restarts: dict[str, int]  # container -> restartCount
    limits: dict[str, dict[str, str]]  # container -> resources.limits
    running: bool

    def incarnation(self, container: str) -> tuple[str, int | None]:
        """Same pod object and the container not restarted: its cgroup counters continue."""
        return self.uid, self.restarts.get(container)


def pod_records(pods_json: str) -> dict[str, PodRecord]:
    out = {}
    for p in load(pods_json).get("items", []):
        meta, spec, status = p.get("metadata", {}), p.get("spec", {}), p.get("status", {})
        restarts = {c.get("name", ""): int(c.get("restartCount", 0)) for c in status.get("containerStatuses") or []}
        limits = {c.get("name", ""): dict((c.get("resources") or {}).get("limits") or {})
                  for c in spec.get("containers") or []}
        out[meta.get("name", "")] = PodRecord(meta.get("name", ""), meta.get("uid", ""), spec.get("nodeName", ""),
                                              dict(meta.get("labels") or {}), restarts, limits,
                                              status.get("phase") == "Running")
    return out


@dataclass(frozen=True)
class PodUsage:
    """A control-plane pod's usage: cumulative CPU (kubelet summary) or a CPU rate (metrics API)."""

    cpu_s_total: float | None  # CPU seconds since the pod started
    cpu_cores_now: float | None  # the metrics API's rate, averaged over its window
    memory_bytes: int | None  # working set now
    window: str = ""  # the metrics API's averaging window ("15s")


def summary_usage(summary_json: str, namespace: str) -> dict[str, PodUsage]:
    """Per pod of `namespace`, from the kubelet's `/api/v1/nodes/<node>/proxy/stats/summary`."""
    out = {}
    for p in load(summary_json).get("pods", []):
        ref = p.get("podRef", {})
        if ref.get("namespace") != namespace:
            continue
        cpu = (p.get("cpu") or {}).get("usageCoreNanoSeconds")
        mem = (p.get("memory") or {}).get("workingSetBytes")
        out[ref.get("name", "")] = PodUsage(cpu / 1e9 if isinstance(cpu, int | float) else None, None,
                                            int(mem) if isinstance(mem, int | float) else None)
    return out


def metrics_usage(metrics_json: str) -> dict[str, PodUsage]:
    """Per pod, from `/apis/metrics.k8s.io/v1beta1/namespaces/<ns>/pods`: its containers summed."""
    out = {}
    for p in load(metrics_json).get("items", []):
        cpu, mem = 0.0, 0
        try:
            for c in p.get("containers") or []:
                usage = c.get("usage") or {}
                cpu += float(quantity(usage.get("cpu", "0")))
                mem += int(quantity(usage.get("memory", "0")))
        except (ValueError, KeyError):
            continue
        out[p.get("metadata", {}).get("name", "")] = PodUsage(None, cpu, mem, str(p.get("window", "")))
    return out


def limits_of(records: dict[str, PodRecord], container_of: dict[str, str]) -> tuple[list[str], set[str], set[str]]:
    """(what is missing, the cpu limits seen, the memory limits seen) over each pod's main container."""
    missing: list[str] = []
    cpus: set[str] = set()
    mems: set[str] = set()
    for name, rec in sorted(records.items()):
        container = container_of.get(name, "")
        lim = rec.limits.get(container)
        if lim is None:
            missing.append(f"{name} has no container {container}")
            continue
        for key, seen in (("cpu", cpus), ("memory", mems)):
            if key in lim:
                seen.add(str(lim[key]))
            else:
                missing.append(f"{name}/{container} has no {key} limit")
    return missing, cpus, mems
