"""Local pods under their CPU and memory limits: one cgroup per pod, where the machine allows it.

On kind a pod runs under `resources.limits` (0.5 CPU, 0.5Gi by default); a local pod unlimited would
get the whole machine and make local numbers predict nothing. So each pod gets a group
`openim-kb-poc/<run id>.<pid>/<deployment>/<pod>` with the CFS quota (cpu x period) and the memory
limit, and its server joins the group before it exec()s (a restarted pod goes back into it). The
harness pid in the run's level keeps two runs with one id (every test registry is "test") apart.

Groups go under the harness's own group of each hierarchy (its line in /proc/self/cgroup), so they
stay inside whatever limits the harness itself runs under. cgroup v2 needs a delegated subtree (cpu
and memory enabled for the children); cgroup v1 needs the cpu, cpuacct and memory hierarchies
writable. Anything else is "nominal": the pods run unlimited and the evidence says why.

Sentinels get the same limits as the data pods: the kind manifests give KubeBlocks' Sentinel component
the same `resources` (harness/manifests/kubeblocks.py, as KubeBlocks' own example cluster does).
"""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from harness.contracts import LimitsEvidence
from harness.errors import DeployError, HarnessError
from harness.procs import ProcessRegistry
from harness.quantity import cpu_cores, memory_bytes

PREFIX = "openim-kb-poc"
V1_CONTROLLERS = ("cpu", "cpuacct", "memory")
V2_KEY = "unified"  # the one hierarchy of cgroup v2, as a controller key
V2_PERIOD_US = 100000  # the kernel's default CFS period (cpu.max "max 100000")
# A server just reaped leaves its group at once; a moment for the kernel's own bookkeeping.
REMOVE_TIMEOUT_S = 5.0
REMOVE_POLL_S = 0.05


# -- what the machine offers (pure parsers, then the probe) -----------------------------------------


@dataclass(frozen=True)
class Mount:
    point: Path
    fstype: str
    options: frozenset[str]


def parse_mounts(text: str) -> list[Mount]:
    """The cgroup mounts of /proc/self/mounts (octal escapes such as \\040 decoded)."""
    found = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 4 or parts[2] not in ("cgroup", "cgroup2"):
            continue
        point = parts[1].encode().decode("unicode_escape")
        found.append(Mount(Path(point), parts[2], frozenset(parts[3].split(","))))
    return found


def parse_proc_cgroup(text: str) -> dict[str, str]:
    """controller -> this process's group in its hierarchy, from /proc/<pid>/cgroup ("" is v2's)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.strip().split(":", 2)
        if len(parts) != 3:
            continue
        for ctrl in parts[1].split(",") if parts[1] else [""]:
            out[ctrl] = parts[2]
    return out


@dataclass(frozen=True)
class Support:
    """How limits are applied here: cgroup v1, v2, or nominal (`version` None) with the reason."""

    version: int | None
    bases: tuple[tuple[str, Path], ...] = ()  # controller -> the directory the groups go under
    detail: str = ""  # enforced: where the groups go; nominal: why there are none

    @property
    def enforced(self) -> bool:
        return self.version is not None


def nominal(reason: str) -> Support:
    return Support(None, (), reason)


def detect(mounts_text: str | None = None, self_cgroup_text: str | None = None, probe: bool = True) -> Support:
    """cgroup v2 with cpu+memory delegated, else cgroup v1 with cpu, cpuacct and memory, else nominal.

    `probe`: create (and remove) one group to prove it works; the texts default to this process's."""
    try:
        mounts = parse_mounts(mounts_text if mounts_text is not None else Path("/proc/self/mounts").read_text())
        own = parse_proc_cgroup(self_cgroup_text if self_cgroup_text is not None
                                else Path("/proc/self/cgroup").read_text())
    except OSError as e:
        return nominal(f"cannot read this process's cgroups: {e}")
    reasons: list[str] = []
    v2 = _detect_v2(mounts, own, reasons)
    if v2 is not None and (not probe or _probe(v2, reasons)):
        return v2
    v1 = _detect_v1(mounts, own, reasons)
    if v1 is not None and (not probe or _probe(v1, reasons)):
        return v1
    return nominal("; ".join(reasons) or "no cgroup filesystem is mounted")


def _detect_v2(mounts: list[Mount], own: dict[str, str], reasons: list[str]) -> Support | None:
    mount = next((m for m in mounts if m.fstype == "cgroup2"), None)
    if mount is None or "" not in own:
        reasons.append("cgroup v2: not mounted")
        return None
    base = mount.point / own[""].lstrip("/")
    try:
        controllers = set((mount.point / "cgroup.controllers").read_text().split())
    except OSError as e:
        reasons.append(f"cgroup v2: {mount.point}/cgroup.controllers unreadable ({e.strerror})")
        return None
    missing = {"cpu", "memory"} - controllers
    if missing:
        reasons.append(f"cgroup v2 at {mount.point}: controllers {' '.join(sorted(missing))} not available "
                       f"(it has: {' '.join(sorted(controllers)) or 'none'})")
        return None
    return Support(2, ((V2_KEY, base),), f"cgroup v2 under {base}/{PREFIX}")


def _detect_v1(mounts: list[Mount], own: dict[str, str], reasons: list[str]) -> Support | None:
    bases = []
    for ctrl in V1_CONTROLLERS:
        mount = next((m for m in mounts if m.fstype == "cgroup" and ctrl in m.options), None)
        if mount is None or ctrl not in own:
            reasons.append(f"cgroup v1: no {ctrl} hierarchy mounted")
            return None
        bases.append((ctrl, mount.point / own[ctrl].lstrip("/")))
    where = ", ".join(sorted({str(b / PREFIX) for _, b in bases}))
    return Support(1, tuple(bases), f"cgroup v1 (cpu, cpuacct, memory) under {where}")


def _enable_v2_children(path: Path) -> None:
    """cpu and memory for `path`'s child groups (a no-op when they already are). Refused (EBUSY) in a
    group that holds processes, unless it is the root: hence the need for a delegated subtree."""
    ctl = path / "cgroup.subtree_control"
    if {"cpu", "memory"} <= set(ctl.read_text().split()):
        return
    ctl.write_text("+cpu +memory")


def _probe(support: Support, reasons: list[str]) -> bool:
    """One group made and removed in each hierarchy, with the limit files present (v2: the harness's own
    group first passes cpu and memory on to its children, the one write outside our own groups)."""
    name = f".probe-{os.getpid()}"
    made: list[Path] = []
    v2 = support.version == 2
    try:
        for ctrl, base in support.bases:
            group = base / PREFIX / name
            made.append(group)
            make_levels([base, base / PREFIX, group] if v2 else [base / PREFIX, group], v2)
            for f in _LIMIT_FILES[(support.version or 0, ctrl)]:
                if not (group / f).exists():
                    raise OSError(errno.ENOENT, f"{group / f} missing")
        return True
    except OSError as e:
        hint = (": a delegated subtree is needed (e.g. systemd-run --user -p Delegate=yes --scope)" if v2 else "")
        reasons.append(f"cgroup v{support.version}: cannot create groups under "
                       + ", ".join(str(b) for _, b in support.bases) + f" ({e.strerror or e}){hint}")
        return False
    finally:
        for group in made:
            _rmdir(group)
        for _, base in support.bases:
            _rmdir(base / PREFIX)  # busy while another run has groups there: it stays


_LIMIT_FILES = {
    (1, "cpu"): ("cpu.cfs_quota_us", "cpu.cfs_period_us"),
    (1, "cpuacct"): ("cpuacct.usage",),
    (1, "memory"): ("memory.limit_in_bytes", "memory.max_usage_in_bytes"),
    (2, V2_KEY): ("cpu.max", "memory.max", "cpu.stat"),
}


def make_levels(levels: list[Path], v2: bool) -> None:
    """mkdir of each level in order (the first's parent exists). A level removed at that moment by
    another run's teardown (the shared ones) is made again. v2: each level but the last passes cpu and
    memory on to its children."""
    for attempt in range(5):
        try:
            for i, level in enumerate(levels):
                level.mkdir(exist_ok=True)
                if v2 and i < len(levels) - 1:
                    _enable_v2_children(level)
            return
        except FileNotFoundError:
            if attempt == 4:
                raise


def _rmdir(path: Path) -> bool:
    """rmdir of an empty group; False when it is still busy (processes or child groups) or absent."""
    try:
        path.rmdir()
        return True
    except OSError:
        return False


# -- the groups of one deployment ----------------------------------------------------------------


@dataclass
class PodGroup:
    """One pod's group in each hierarchy; `join` runs in the forked child before exec()."""

    pod: str
    version: int
    dirs: tuple[tuple[str, Path], ...]
    _procs: tuple[bytes, ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        self._procs = tuple(dict.fromkeys(os.fsencode(d / "cgroup.procs") for _, d in self.dirs))

    def dir(self, ctrl: str) -> Path:
        return next(d for c, d in self.dirs if c == (V2_KEY if self.version == 2 else ctrl))

    def join(self) -> None:
        """Moves the calling process into the group ("0" is the writer itself). Only os calls: it runs
        between fork and exec, where the harness's other threads' locks may be held."""
        for path in self._procs:
            fd = os.open(path, os.O_WRONLY)
            try:
                os.write(fd, b"0")
            finally:
                os.close(fd)

    def pids(self) -> set[int]:
        """The processes in the group (in every hierarchy)."""
        found: set[int] | None = None
        for _, d in self.dirs:
            try:
                here = {int(x) for x in (d / "cgroup.procs").read_text().split()}
            except OSError:
                here = set()
            found = here if found is None else found & here
        return found or set()

    def holds(self, pid: int) -> bool:
        return pid in self.pids()

    def cpu_usage_s(self) -> float | None:
        """CPU seconds every process of the group used since it was made (a dead one's included)."""
        try:
            if self.version == 1:
                return int((self.dir("cpuacct") / "cpuacct.usage").read_text()) / 1e9
            stat = dict(line.split() for line in (self.dir("cpu") / "cpu.stat").read_text().splitlines() if line)
            return int(stat["usage_usec"]) / 1e6
        except (OSError, ValueError, KeyError):
            return None

    def memory_peak(self) -> int | None:
        """The group's peak memory (page cache included), since the last reset (v1) or its creation (v2)."""
        name = "memory.max_usage_in_bytes" if self.version == 1 else "memory.peak"
        try:
            return int((self.dir("memory") / name).read_text())
        except (OSError, ValueError):
            return None

    def reset_memory_peak(self) -> bool:
        """v1: writing 0 resets the peak; v2 has no reset that outlives the writer's open file."""
        if self.version != 1:
            return False
        try:
            (self.dir("memory") / "memory.max_usage_in_bytes").write_text("0")
            return True
        except OSError:
            return False

    def limits(self) -> tuple[int | None, int | None, int | None]:
        """(CPU quota µs, CPU period µs, memory limit bytes) as the kernel holds them now."""
        try:
            if self.version == 1:
                quota = int((self.dir("cpu") / "cpu.cfs_quota_us").read_text())
                period = int((self.dir("cpu") / "cpu.cfs_period_us").read_text())
                mem = int((self.dir("memory") / "memory.limit_in_bytes").read_text())
                return (quota if quota > 0 else None), period, mem
            q, p = (self.dir("cpu") / "cpu.max").read_text().split()
            m = (self.dir("memory") / "memory.max").read_text().strip()
            return (None if q == "max" else int(q)), int(p), (None if m == "max" else int(m))
        except (OSError, ValueError):
            return None, None, None


class DeploymentGroups:
    """The groups of one deployment's pods, recorded in the run's state file as they are made so that
    `harness cleanup` removes a killed run's (rmdir, deepest first, after its processes are stopped)."""

    def __init__(self, support: Support, registry: ProcessRegistry, dep_id: str, cpu: str, memory: str):
        if support.version is None:
            raise HarnessError("no cgroups here: " + support.detail)
        self.support = support
        self.version: int = support.version
        self.registry = registry
        self.dep_id = dep_id
        self.cpu, self.memory = cpu, memory
        try:
            self.cpu_cores = cpu_cores(cpu)
            self.memory_bytes = memory_bytes(memory)
        except ValueError as e:
            raise DeployError(f"the deploy spec's limits: {e}") from e
        run_level = f"{registry.run_id}.{os.getpid()}"
        self._prefix = tuple((c, b / PREFIX) for c, b in support.bases)
        self._run = tuple((c, p / run_level) for c, p in self._prefix)
        self._dep = tuple((c, r / dep_id) for c, r in self._run)
        self.pods: dict[str, PodGroup] = {}
        self._undo_label = f"cgroups {run_level}/{dep_id}"

    # -- making ---------------------------------------------------------------------------------
    def add(self, pod: str) -> PodGroup:
        """The pod's group with its limits (made once; a restarted pod rejoins the same group)."""
        if pod in self.pods:
            return self.pods[pod]
        dirs = tuple((c, d / pod) for c, d in self._dep)
        group = PodGroup(pod, self.version, dirs)
        self.pods[pod] = group
        self._record()  # before mkdir: a kill in between leaves nothing unrecorded
        try:
            for ctrl, d in dirs:
                base = [b for c, b in self.support.bases if c == ctrl] if self.version == 2 else []
                make_levels([*base, *(p for c, p in self._prefix if c == ctrl), *(r for c, r in self._run if c == ctrl),
                             *(x for c, x in self._dep if c == ctrl), d], self.version == 2)
            self._write_limits(group)
        except OSError as e:
            raise DeployError(f"{pod}: cannot set up its cgroup {dirs[0][1]}: {e.strerror or e}") from e
        return group

    def _write_limits(self, group: PodGroup) -> None:
        if self.version == 1:
            cpu = group.dir("cpu")
            period = int((cpu / "cpu.cfs_period_us").read_text())
            (cpu / "cpu.cfs_quota_us").write_text(str(self._quota(period)))
            (group.dir("memory") / "memory.limit_in_bytes").write_text(str(self.memory_bytes))
        else:
            d = group.dir("cpu")
            (d / "cpu.max").write_text(f"{self._quota(V2_PERIOD_US)} {V2_PERIOD_US}")
            (d / "memory.max").write_text(str(self.memory_bytes))

    def _quota(self, period_us: int) -> int:
        return max(1000, round(self.cpu_cores * period_us))  # the kernel's minimum quota is 1 ms

    def _all_dirs(self) -> list[Path]:
        """Deepest first: pods, the deployment, the run, the prefix (the last two shared, removed when empty)."""
        pods = [d for g in self.pods.values() for _, d in g.dirs]
        return list(dict.fromkeys([*pods, *(d for _, d in self._dep), *(d for _, d in self._run),
                                   *(d for _, d in self._prefix)]))

    def _record(self) -> None:
        self.registry.add_undo(self._undo_label, ["rmdir", *map(str, self._all_dirs())])

    # -- removing -------------------------------------------------------------------------------
    def remove(self, timeout_s: float = REMOVE_TIMEOUT_S) -> list[Path]:
        """rmdir every group once its processes are gone; the ones still busy at the deadline are
        returned (and stay recorded for `harness cleanup`)."""
        deadline = time.monotonic() + timeout_s
        left: list[Path] = []
        own = [*(d for g in self.pods.values() for _, d in g.dirs), *(d for _, d in self._dep)]
        for d in dict.fromkeys(own):
            while d.exists() and not _rmdir(d):
                if time.monotonic() > deadline:
                    left.append(d)
                    break
                time.sleep(REMOVE_POLL_S)
        for d in dict.fromkeys([*(d for _, d in self._run), *(d for _, d in self._prefix)]):
            _rmdir(d)  # shared with the run's other deployments / other runs: removed once empty
        if left:
            self.registry.add_undo(self._undo_label, ["rmdir", *map(str, left), *map(str, self._shared())])
        else:
            self.registry.remove_undo(self._undo_label)
        return left

    def _shared(self) -> Iterable[Path]:
        return dict.fromkeys([*(d for _, d in self._run), *(d for _, d in self._prefix)])

    # -- evidence -------------------------------------------------------------------------------
    def evidence(self, live_pids: dict[str, int | None]) -> LimitsEvidence:
        """What the kernel holds for each pod's group, and whether its running server is in it."""
        wrong = []
        seen: set[tuple[int | None, int | None, int | None]] = set()
        for pod, pid in live_pids.items():
            group = self.pods.get(pod)
            if group is None:
                wrong.append(f"{pod} has no group")
                continue
            seen.add(group.limits())
            if pid is not None and not group.holds(pid):
                wrong.append(f"{pod} (pid {pid}) is not in its group {group.dirs[0][1]}")
        if wrong:
            return LimitsEvidence(False, "; ".join(wrong), self.cpu, self.memory)
        if len(seen) != 1 or None in next(iter(seen)):
            return LimitsEvidence(False, f"the groups' limits differ or are unset: {sorted(map(str, seen))}",
                                  self.cpu, self.memory)
        quota, period, mem = next(iter(seen))
        if self.version == 1:
            how = f"cgroup v1 cpu.cfs_quota_us={quota} per cpu.cfs_period_us={period} + memory.limit_in_bytes={mem}"
        else:
            how = f"cgroup v2 cpu.max={quota} {period} + memory.max={mem}"
        where = self._dep[0][1]
        more = f"; likewise in the {' and '.join(c for c, _ in self._dep[1:])} hierarchies" if len(self._dep) > 1 else ""
        return LimitsEvidence(True, f"{how} on each of the {len(live_pids)} pods' groups under {where}{more}",
                              self.cpu, self.memory)
