"""Resource footprint and limits on kind/k8s (the `Footprints` protocol), a part of `KubernetesPlatform`.

Data pods and Sentinels: each container's own cgroup, read over `kubectl exec` at the window's begin
and end (cgroup v2 `cpu.stat` usage_usec and `memory.peak`; v1 `cpuacct.usage` and
`memory.max_usage_in_bytes`), and `du -sk` of its volume at the end. The peak is the container's
since it started: cgroup v2 keeps no resettable peak an exec could use. KubeBlocks' own control plane
(kb-system: the kubeblocks and dataprotection Deployments) runs distroless images, so nothing can be
exec'ed there: the kubelet's stats summary gives their cumulative CPU (via the API server's node
proxy), else the metrics API a CPU rate; without either the figures are None and `source` says why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from harness import engines
from harness.contracts import Deployment, LimitsEvidence, PodFootprint, PodInfo
from harness.errors import HarnessError
from harness.manifests import kubeblocks, statefulset
from harness.manifests.common import COMPONENT_LABEL
from harness.platforms.commands import CommandResult, Runner
from harness.platforms.k8s_footprint_parse import (
    CgroupReading,
    PodRecord,
    PodUsage,
    cgroup_script,
    limits_of,
    metrics_usage,
    parse_cgroup_reading,
    pod_records,
    summary_usage,
)
from harness.platforms.k8s_install import KB_NAMESPACE

if TYPE_CHECKING:
    from harness.platforms.kubernetes import K8sHandle

EXEC_TIMEOUT_S = 60.0  # `du` of a seeded volume at 0.5 CPU
CONTROL_PLANE_PREFIX = "kubeblocks-"  # the kubeblocks and kubeblocks-dataprotection Deployments' pods
METRICS_PATH = f"/apis/metrics.k8s.io/v1beta1/namespaces/{KB_NAMESPACE}/pods"


def summary_path(node: str) -> str:
    return f"/api/v1/nodes/{node}/proxy/stats/summary"


@dataclass
class _Window:
    """What the window's begin read: per pod its cgroup reading and incarnation; the control plane's usage."""

    wall: float
    readings: dict[str, CgroupReading] = field(default_factory=dict)
    incarnations: dict[str, tuple[str, int | None]] = field(default_factory=dict)
    control: dict[str, PodUsage] = field(default_factory=dict)
    control_source: str = ""


class KubernetesFootprint:
    """The footprint and limits of a kind/k8s deployment (a part of `KubernetesPlatform`)."""

    runner: Runner
    clock: Callable[[], float]

    # -- what KubernetesPlatform provides ---------------------------------------------------------
    def kubectl(self, *args: str, **kw: Any) -> CommandResult:
        raise NotImplementedError

    def _is_plan(self) -> bool:
        raise NotImplementedError

    def pods(self, dep: Deployment) -> list[PodInfo]:
        raise NotImplementedError

    def pod_selector(self, dep: Deployment) -> str:
        raise NotImplementedError

    # -- the protocol -----------------------------------------------------------------------------
    def footprint_begin(self, dep: Deployment) -> None:
        h: K8sHandle = dep.handle
        window = _Window(self.clock())
        records = self._records(dep)
        for pod, container, _ in self._targets(dep, records):
            window.readings[pod] = self._read(h, pod, container, None)
            if pod in records:
                window.incarnations[pod] = records[pod].incarnation(container)
        if dep.mode == "kubeblocks":
            window.control, window.control_source = self._control_plane()
        h.footprint = window

    def footprint_end(self, dep: Deployment) -> list[PodFootprint]:
        h: K8sHandle = dep.handle
        begin: _Window | None = h.footprint
        if begin is None:
            raise HarnessError(f"{dep.id}: footprint_end without footprint_begin")
        h.footprint = None
        records = self._records(dep)
        out = []
        for pod, container, volume in self._targets(dep, records):
            end = self._read(h, pod, container, volume)
            rec = records.get(pod)
            out.append(self._data_footprint(dep, pod, container, begin, end, rec))
        if dep.mode == "kubeblocks":
            control, source = self._control_plane()
            out += self._control_footprints(begin, control, source, self.clock() - begin.wall)
        return out

    def limits_evidence(self, dep: Deployment) -> LimitsEvidence:
        """From each pod's `spec.containers[].resources.limits` (its main container), as the API holds them."""
        h: K8sHandle = dep.handle
        spec_cpu, spec_mem = (h.spec.cpu, h.spec.memory) if h.spec is not None else ("?", "?")
        if self._is_plan():
            return LimitsEvidence(True, "kubernetes resources.limits as the manifests set them (a run reads them "
                                  "from each pod's spec)", spec_cpu, spec_mem)
        records = self._records(dep)
        containers = {pod: container for pod, container, _ in self._targets(dep, records)}
        missing, cpus, mems = limits_of({p: r for p, r in records.items() if p in containers}, containers)
        if not records:
            missing.append(f"no pods found in {h.namespace}")
        if missing:
            return LimitsEvidence(False, "kubernetes resources.limits incomplete: " + "; ".join(missing),
                                  ",".join(sorted(cpus)) or spec_cpu, ",".join(sorted(mems)) or spec_mem)
        return LimitsEvidence(True, f"kubernetes resources.limits on each of {len(records)} pods' main container "
                              "(the kubelet's CFS quota and memory limit)", ",".join(sorted(cpus)),
                              ",".join(sorted(mems)))

    # -- data pods --------------------------------------------------------------------------------
    def _records(self, dep: Deployment) -> dict[str, PodRecord]:
        if self._is_plan():
            return {}
        h: K8sHandle = dep.handle
        r = self.kubectl("get", "pods", "-n", h.namespace, "-l", self.pod_selector(dep), "-o", "json", check=False)
        return pod_records(r.stdout) if r.returncode == 0 else {}

    def _targets(self, dep: Deployment, records: dict[str, PodRecord]) -> list[tuple[str, str, str]]:
        """(pod, container, volume path) of every data pod and Sentinel."""
        sentinel = engines.get(dep.engine).sentinel_component
        if self._is_plan():
            names = [(p.name, p.role == "sentinel") for p in self.pods(dep)]
        else:
            names = [(n, sentinel is not None and r.labels.get(COMPONENT_LABEL) == sentinel)
                     for n, r in sorted(records.items())]
        data_path = kubeblocks.DATA_PATH if dep.mode == "kubeblocks" else statefulset.DATA_PATH
        return [(n, sentinel, kubeblocks.SENTINEL_DATA_PATH) if is_sentinel and sentinel
                else (n, dep.engine, data_path[dep.engine]) for n, is_sentinel in names]

    def _read(self, h: K8sHandle, pod: str, container: str, volume: str | None) -> CgroupReading:
        r = self.kubectl("exec", "-n", h.namespace, pod, "-c", container, "--", "/bin/sh", "-c", cgroup_script(volume),
                         check=False, timeout_s=EXEC_TIMEOUT_S)
        reading = parse_cgroup_reading(r.stdout)
        if r.returncode != 0 and not r.stdout.strip():
            return CgroupReading(None, None, None, None, f"kubectl exec failed (exit {r.returncode}): "
                                 f"{r.stderr.strip()[-200:]}".rstrip(": "))
        return reading

    def _data_footprint(self, dep: Deployment, pod: str, container: str, begin: _Window, end: CgroupReading,
                        rec: PodRecord | None) -> PodFootprint:
        start = begin.readings.get(pod)
        notes = []
        cpu: float | None = None
        if end.cpu_s is not None:
            same = rec is not None and begin.incarnations.get(pod) == rec.incarnation(container)
            if start is not None and start.cpu_s is not None and same and end.cpu_s >= start.cpu_s:
                cpu = round(end.cpu_s - start.cpu_s, 9)  # the counters' ns resolution, without float noise
            else:
                cpu = end.cpu_s
                notes.append("restarted or recreated inside the window: CPU since its last start only"
                             if start is not None else "not there at the begin: CPU since its start")
        label = f"cgroup {end.version}" if end.version else "no cgroup"
        cpu_file = "cpu.stat usage_usec" if end.version == "v2" else "cpuacct.usage"
        peak_file = "memory.peak" if end.version == "v2" else "memory.max_usage_in_bytes"
        source = (f"kubectl exec {container}: {label} {cpu_file}; peak: {peak_file} since the container started "
                  f"(page cache included); volume: du -sk")
        if self._is_plan():
            source = "dry-run: read at run time; " + source
        for reading in (start, end):
            if reading is not None and reading.note:
                notes.append(reading.note)
        kind = "data" if container == dep.engine else "sentinel"
        return PodFootprint(pod, kind, cpu, end.memory_peak, end.volume_bytes,
                            "; ".join([source, *dict.fromkeys(notes)]))

    # -- the control plane ------------------------------------------------------------------------
    def _control_plane(self) -> tuple[dict[str, PodUsage], str]:
        """kb-system's kubeblocks* pods: the kubelet summary per node, else the metrics API, else nothing."""
        if self._is_plan():
            self.kubectl("get", "pods", "-n", KB_NAMESPACE, "-o", "json", check=False)
            self.runner.note(f"control plane: per node of those kubeblocks-* pods `kubectl get --raw "
                             f"{summary_path('<node>')}` (cumulative CPU), else `kubectl get --raw {METRICS_PATH}`")
            return {}, "dry-run: read at run time"
        r = self.kubectl("get", "pods", "-n", KB_NAMESPACE, "-o", "json", check=False)
        pods = {n: rec for n, rec in pod_records(r.stdout).items() if n.startswith(CONTROL_PLANE_PREFIX) and rec.running}
        if not pods:
            return {}, f"no running kubeblocks-* pods in {KB_NAMESPACE}"
        usage: dict[str, PodUsage] = {}
        for node in sorted({rec.node for rec in pods.values() if rec.node}):
            s = self.kubectl("get", "--raw", summary_path(node), check=False)
            if s.returncode == 0:
                usage.update({n: u for n, u in summary_usage(s.stdout, KB_NAMESPACE).items() if n in pods})
        if usage and all(n in usage for n in pods):
            return usage, "kubelet stats/summary"
        m = self.kubectl("get", "--raw", METRICS_PATH, check=False)
        if m.returncode == 0:
            found = {n: u for n, u in metrics_usage(m.stdout).items() if n in pods}
            if found:
                return found, "metrics.k8s.io"
        return {n: PodUsage(None, None, None) for n in pods}, (
            "neither the kubelet's stats summary (node proxy) nor the metrics API (metrics-server) answered")

    @staticmethod
    def _control_footprints(begin: _Window, end: dict[str, PodUsage], source: str, window_s: float) -> list[PodFootprint]:
        out = []
        for name in sorted(end):
            e, b = end[name], begin.control.get(name)
            cpu: float | None = None
            mem = max((u.memory_bytes for u in (b, e) if u is not None and u.memory_bytes is not None), default=None)
            if source == "kubelet stats/summary" and e.cpu_s_total is not None:
                if b is not None and b.cpu_s_total is not None and e.cpu_s_total >= b.cpu_s_total:
                    cpu, how = round(e.cpu_s_total - b.cpu_s_total, 9), "usageCoreNanoSeconds delta"
                else:
                    cpu, how = e.cpu_s_total, "usageCoreNanoSeconds since it started (not there at the begin)"
                detail = f"kubelet stats/summary: CPU {how}; memory: the larger workingSetBytes of begin and end"
            elif source == "metrics.k8s.io" and e.cpu_cores_now is not None:
                rates = [u.cpu_cores_now for u in (b, e) if u is not None and u.cpu_cores_now is not None]
                cpu = sum(rates) / len(rates) * window_s
                detail = (f"metrics.k8s.io: the mean CPU rate at begin and end (each a {e.window or '?'} average) x "
                          f"{window_s:.1f} s, an estimate; memory: the larger working set of the two")
            else:
                detail = source
            out.append(PodFootprint(name, "control-plane", cpu, mem, None, detail + "; no volume"))
        if not out and source:
            out.append(PodFootprint(f"{KB_NAMESPACE}/kubeblocks", "control-plane", None, None, None, source))
        return out
