"""What each local pod cost over a window: CPU seconds, peak RSS, and its volume's bytes at the end.

CPU: the pod's cgroup counter when limits are enforced (it also counts an incarnation that died and
was restarted inside the window, and the forks a server makes); else /proc/<pid>/stat utime+stime
(+ reaped children), each incarnation up to its last sample. Peak RSS: the kernel's VmHWM, reset at
the window's begin (`echo 5 > /proc/<pid>/clear_refs`) and read at every sample, so a restarted
pod's earlier incarnation counts up to its last sample too; where the reset is refused, sampled
VmRSS. RSS, not the memory cgroup's usage: cgroup v1 charges page cache there (its peak is kept as
extra evidence in `source`). Volume: the pod's data directory, the sum of st_blocks x 512 (what it
occupies on disk, like `du`).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from harness.contracts import PodFootprint
from harness.platforms.local.cgroups import PodGroup
from harness.platforms.local.pods import Pod
from harness.procs import process_start_ticks

SAMPLE_S = 0.25  # the resolution of what a dead incarnation is counted up to
CLK_TCK = os.sysconf("SC_CLK_TCK")


# -- pure readers of /proc ------------------------------------------------------------------------


def cpu_ticks(stat_text: str) -> int:
    """utime + stime + cutime + cstime (fields 14-17) of /proc/<pid>/stat, in clock ticks."""
    fields = stat_text[stat_text.rindex(")") + 2 :].split()
    return sum(int(f) for f in fields[11:15])


def status_bytes(status_text: str, key: str) -> int | None:
    """A "kB" line of /proc/<pid>/status (VmHWM, VmRSS) in bytes; None when absent (a kernel thread)."""
    for line in status_text.splitlines():
        if line.startswith(key + ":"):
            parts = line.split()
            return int(parts[1]) * 1024 if len(parts) >= 2 else None
    return None


def volume_bytes(path: Path) -> int:
    """Bytes the directory tree occupies on disk: st_blocks x 512 over every entry, links not followed."""
    total = 0
    for root, dirs, files in os.walk(path):
        for name in (*dirs, *files):
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
            except OSError:
                continue  # removed meanwhile (a temp file)
    try:
        total += os.lstat(path).st_blocks * 512
    except OSError:
        pass
    return total


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


# -- one window -----------------------------------------------------------------------------------


@dataclass
class _Incarnation:
    """One process of a pod seen during the window."""

    pid: int
    start_ticks: int | None
    base_ticks: int  # CPU at the window's begin (0 for one started inside it)
    ticks: int = 0  # CPU at its last sample
    peak: int = 0  # the window's peak RSS so far (bytes)
    hwm: bool = True  # VmHWM is the window's peak (reset at begin, or started inside the window)


@dataclass
class _PodWindow:
    pod: Pod
    group: PodGroup | None
    cpu_base_s: float | None = None  # the group's counter at begin
    peak_reset: bool = False  # the group's memory peak was reset at begin (cgroup v1)
    runs: dict[tuple[int, int | None], _Incarnation] = field(default_factory=dict)


class FootprintWindow:
    """From `begin()` to `end()`, a sampler thread follows every pod's processes (restarts included)."""

    def __init__(self, pods: Callable[[], list[Pod]], sample_s: float = SAMPLE_S):
        """`pods`: the deployment's pods now (a pod added inside the window, by scale-out, joins it)."""
        self._current = pods
        self._pods = {p.name: _PodWindow(p, p.cgroup) for p in pods()}
        self._sample_s = sample_s
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def begin(self) -> None:
        for w in self._pods.values():
            self._begin_pod(w)
        self._thread = threading.Thread(target=self._run, name="footprint-sampler", daemon=True)
        self._thread.start()

    def _begin_pod(self, w: _PodWindow) -> None:
        if w.group is not None:
            w.cpu_base_s = w.group.cpu_usage_s()
            w.peak_reset = w.group.reset_memory_peak()
        pid = w.pod.pid
        if pid is None:
            return
        stat = _read(f"/proc/{pid}/stat")
        if stat is None:
            return
        inc = _Incarnation(pid, process_start_ticks(pid), base_ticks=cpu_ticks(stat))
        inc.ticks = inc.base_ticks
        try:
            with open(f"/proc/{pid}/clear_refs", "w") as f:
                f.write("5")  # VmHWM := VmRSS now
        except OSError:
            inc.hwm = False  # its VmHWM may be from before the window: sample VmRSS instead
        w.runs[(inc.pid, inc.start_ticks)] = inc
        self._sample_pod(w)

    def _run(self) -> None:
        while not self._stop.wait(self._sample_s):
            self.sample()

    def sample(self) -> None:
        with self._lock:
            for pod in self._current():
                if pod.name not in self._pods:  # made inside the window: everything it used is the window's
                    self._pods[pod.name] = _PodWindow(pod, pod.cgroup, cpu_base_s=0.0 if pod.cgroup else None)
            for w in self._pods.values():
                self._sample_pod(w)

    def _sample_pod(self, w: _PodWindow) -> None:
        pid = w.pod.pid
        if pid is None:
            return
        stat, status = _read(f"/proc/{pid}/stat"), _read(f"/proc/{pid}/status")
        if stat is None or status is None:
            return
        state = stat[stat.rindex(")") + 2 :].split()[0]
        if state in ("Z", "X"):
            return  # dead; its last sample stands
        start = process_start_ticks(pid)
        inc = w.runs.get((pid, start))
        if inc is None:  # started inside the window: all of it counts
            inc = w.runs[(pid, start)] = _Incarnation(pid, start, base_ticks=0)
        inc.ticks = max(inc.ticks, cpu_ticks(stat))
        rss = status_bytes(status, "VmHWM" if inc.hwm else "VmRSS")
        if rss is not None:
            inc.peak = max(inc.peak, rss)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)

    def end(self) -> list[PodFootprint]:
        """One footprint per pod: the last sample is taken now."""
        self.stop()
        self.sample()
        with self._lock:
            return [self._footprint(w) for w in self._pods.values()]

    def _footprint(self, w: _PodWindow) -> PodFootprint:
        runs = list(w.runs.values())
        sources = []
        cpu_s: float | None = None
        if w.group is not None and w.cpu_base_s is not None:
            now = w.group.cpu_usage_s()
            if now is not None:
                cpu_s = max(0.0, now - w.cpu_base_s)
                sources.append(f"CPU: cgroup v{w.group.version} "
                               + ("cpuacct.usage" if w.group.version == 1 else "cpu.stat usage_usec"))
        if cpu_s is None and runs:
            cpu_s = sum(max(0, r.ticks - r.base_ticks) for r in runs) / CLK_TCK
            sources.append("CPU: /proc/<pid>/stat utime+stime (+reaped children)"
                           + (f", {len(runs)} incarnations each up to its last {self._sample_s:g} s sample"
                              if len(runs) > 1 else ""))
        peak = max((r.peak for r in runs), default=0) or None
        if runs:
            how = ("VmHWM after clear_refs" if all(r.hwm for r in runs)
                   else f"VmRSS sampled every {self._sample_s:g} s (clear_refs refused)")
            sources.append(f"peak RSS: {how}" + (f", over {len(runs)} incarnations" if len(runs) > 1 else ""))
        sources.append("volume: st_blocks x 512 of its data dir")
        if w.group is not None:
            cg_peak = w.group.memory_peak()
            if cg_peak is not None:
                since = "the window" if w.peak_reset else "the group's creation"
                sources.append(f"memory cgroup peak {cg_peak} B since {since} (page cache included)")
        return PodFootprint(pod=w.pod.name, kind=w.pod.kind, cpu_s=cpu_s, peak_rss_bytes=peak,
                            volume_bytes=volume_bytes(w.pod.data_dir) if w.pod.data_dir.exists() else None,
                            source="; ".join(sources))
