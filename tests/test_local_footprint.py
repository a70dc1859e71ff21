"""Local pods under their CPU / memory limits (cgroups) and their footprint over a window: real servers,
the kernel's own counters read back."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from _helpers import mysql_execute

from harness.platforms.local import LocalPlatform, cgroups
from harness.platforms.local.footprint import cpu_ticks, status_bytes, volume_bytes
from harness.procs import cleanup_leftovers, is_alive
from harness.quantity import cpu_cores, memory_bytes

REPO = Path(__file__).resolve().parents[1]
HALF_GI = 536870912


def enforced_here() -> cgroups.Support:
    support = cgroups.detect()
    if not support.enforced:
        pytest.skip(f"this machine cannot enforce limits: {support.detail}")
    return support


def proc_cgroup(pid: int) -> str:
    return Path(f"/proc/{pid}/cgroup").read_text()


def undo_labels(registry) -> list[str]:
    return [k for k in json.loads(registry.state_file.read_text())["undo"] if k.startswith("cgroups ")]


def redis_client(port: int, password: str):
    import redis

    return redis.Redis(host="127.0.0.1", port=port, password=password, socket_timeout=2, decode_responses=True)


# -- pure parts ------------------------------------------------------------------------------------


def test_quantities_are_kubernetes_ones():
    assert cpu_cores("0.5") == cpu_cores("500m") == 0.5 and cpu_cores("2") == 2.0
    assert memory_bytes("0.5Gi") == HALF_GI == memory_bytes("512Mi") and memory_bytes("1G") == 10**9
    assert memory_bytes("128974848") == 128974848 and memory_bytes("129e6") == 129000000
    for bad in ("", "half", "1Gb", "-1", "0"):
        with pytest.raises(ValueError):
            memory_bytes(bad)


def test_mounts_and_proc_cgroup_are_parsed_as_the_kernel_prints_them():
    mounts = cgroups.parse_mounts(
        "tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0\n"
        "cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,nosuid,cpu,cpuacct 0 0\n"
        "cgroup /sys/fs/cgroup/memory cgroup rw,memory 0 0\n"
        "cgroup2 /sys/fs/cgroup/unified cgroup2 rw,nsdelegate 0 0\n")
    assert [(str(m.point), m.fstype) for m in mounts] == [("/sys/fs/cgroup/cpu,cpuacct", "cgroup"),
                                                          ("/sys/fs/cgroup/memory", "cgroup"),
                                                          ("/sys/fs/cgroup/unified", "cgroup2")]
    own = cgroups.parse_proc_cgroup("9:name=systemd:/\n4:memory:/process_api/abc\n1:cpu,cpuacct:/\n0::/user.slice\n")
    assert own == {"name=systemd": "/", "memory": "/process_api/abc", "cpu": "/", "cpuacct": "/", "": "/user.slice"}


def test_without_the_controllers_limits_are_nominal_and_say_why():
    no_memory = "cgroup /sys/fs/cgroup/cpu cgroup rw,cpu 0 0\ncgroup /sys/fs/cgroup/cpuacct cgroup rw,cpuacct 0 0\n"
    support = cgroups.detect(no_memory, "2:cpuacct:/\n1:cpu:/\n", probe=False)
    assert not support.enforced and "cgroup v1: no memory hierarchy mounted" in support.detail
    assert "cgroup v2: not mounted" in support.detail
    bare = cgroups.detect("", "", probe=False)
    assert not bare.enforced and "cgroup v1: no cpu hierarchy mounted" in bare.detail


def test_cgroup_v2_is_chosen_when_it_has_cpu_and_memory_and_its_counters_read(tmp_path):
    """A fake v2 tree (plain files); without the probe nothing is written."""
    own = tmp_path / "user.slice" / "harness.scope"
    own.mkdir(parents=True)
    (tmp_path / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    mounts = f"cgroup2 {tmp_path} cgroup2 rw,nsdelegate 0 0\n"
    support = cgroups.detect(mounts, "0::/user.slice/harness.scope\n", probe=False)
    assert support.version == 2 and support.bases == (("unified", own),) and not list(own.iterdir())
    group = cgroups.PodGroup("redis-0", 2, (("unified", own),))
    (own / "cpu.max").write_text("50000 100000\n")
    (own / "memory.max").write_text(f"{HALF_GI}\n")
    (own / "cpu.stat").write_text("usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n")
    (own / "memory.peak").write_text("123456789\n")
    assert group.limits() == (50000, 100000, HALF_GI)
    assert group.cpu_usage_s() == 2.5 and group.memory_peak() == 123456789 and not group.reset_memory_peak()
    (tmp_path / "cgroup.controllers").write_text("cpuset io pids\n")
    undelegated = cgroups.detect(mounts, "0::/user.slice/harness.scope\n", probe=False)
    assert not undelegated.enforced and "controllers cpu memory not available" in undelegated.detail


def test_a_probe_that_cannot_make_groups_falls_back_with_the_reason(tmp_path):
    """The fake v2 tree has no cgroup.subtree_control in a new group: the probe fails, as an undelegated
    subtree would, and there is no v1 to fall back to."""
    (tmp_path / "cgroup.controllers").write_text("cpu memory\n")
    (tmp_path / "cgroup.subtree_control").write_text("cpu memory\n")
    support = cgroups.detect(f"cgroup2 {tmp_path} cgroup2 rw 0 0\n", "0::/\n")
    assert not support.enforced and f"cgroup v2: cannot create groups under {tmp_path}" in support.detail
    assert "delegated subtree" in support.detail and not (tmp_path / cgroups.PREFIX).exists()


def test_proc_readers():
    stat = "1234 (mariadbd (x)) S 1 1234 1234 0 -1 4194560 5000 0 0 0 150 30 7 3 20 0 30 0 99 0 0"
    assert cpu_ticks(stat) == 150 + 30 + 7 + 3
    status = "Name:\tredis-server\nVmHWM:\t   10240 kB\nVmRSS:\t    8192 kB\n"
    assert status_bytes(status, "VmHWM") == 10485760 and status_bytes(status, "VmRSS") == 8388608
    assert status_bytes("Name:\tkthreadd\n", "VmRSS") is None


def test_volume_bytes_counts_what_is_on_disk(tmp_path):
    (tmp_path / "d").mkdir()
    with open(tmp_path / "d" / "f", "wb") as f:
        f.write(b"x" * 100000)
    with open(tmp_path / "sparse", "wb") as f:
        f.truncate(10**9)  # a hole occupies nothing
    (tmp_path / "link").symlink_to("/usr")  # not followed
    total = volume_bytes(tmp_path)
    assert 100000 <= total < 10**6


# -- real servers --------------------------------------------------------------------------------


@pytest.mark.server
def test_kubeblocks_mysql_pods_run_under_their_limits_and_leave_no_group(local_platform, registry, fast_spec, poll):
    enforced_here()
    dep = local_platform.deploy("mysql", "kubeblocks", fast_spec)
    h = dep.handle
    groups = {}
    for pod in h.pods.values():
        g = pod.cgroup
        assert g is not None and g.holds(pod.pid), f"{pod.name} (pid {pod.pid}) not in its group"
        assert g.limits() == (50000, 100000, HALF_GI)
        rel = str(g.dir("cpu")).split("/openim-kb-poc/", 1)[1]
        assert f"/openim-kb-poc/{rel}" in proc_cgroup(pod.pid) and rel.endswith(f"/{dep.id}/{pod.name}")
        groups[pod.name] = g
    ev = local_platform.limits_evidence(dep)
    assert ev.enforced and (ev.cpu, ev.memory) == ("0.5", "0.5Gi"), ev
    assert "cpu.cfs_quota_us=50000 per cpu.cfs_period_us=100000" in ev.how or "cpu.max=50000 100000" in ev.how
    assert undo_labels(registry), "the groups are in the state file for `harness cleanup`"

    replica = h.pods["mysql-1"]
    old = replica.pid
    local_platform.kill(dep, next(p for p in local_platform.pods(dep) if p.name == "mysql-1"))
    poll(lambda: replica.alive() and replica.pid != old, 30, "mysql-1 restarted in place")
    assert groups["mysql-1"].holds(replica.pid), "the restarted pod went back into its group"
    assert old not in groups["mysql-1"].pids()

    local_platform.teardown(dep)
    left = [str(d) for g in groups.values() for _, d in g.dirs if d.exists()]
    assert not left, f"groups left after teardown: {left}"
    assert not any(d.exists() for _, d in h.cgroups._dep), "the deployment's group is gone"
    assert not undo_labels(registry), "nothing left for cleanup"


@pytest.mark.server
def test_footprint_of_a_mysql_window_with_real_writes(local_platform, fast_spec):
    enforced_here()
    dep = local_platform.deploy("mysql", "kubeblocks", fast_spec)
    ep = local_platform.endpoint(dep)
    mysql_execute(ep, "CREATE TABLE fp (id INT PRIMARY KEY AUTO_INCREMENT, v VARCHAR(255))")
    local_platform.footprint_begin(dep)
    for _ in range(200):
        mysql_execute(ep, "INSERT INTO fp (v) VALUES (REPEAT('x', 255))")
    prints = {f.pod: f for f in local_platform.footprint_end(dep)}
    assert set(prints) == {"mysql-0", "mysql-1"}
    primary = next(p.name for p in local_platform.pods(dep) if p.role == "primary")
    assert prints[primary].cpu_s and prints[primary].cpu_s > 0
    for f in prints.values():
        assert f.kind == "data" and f.peak_rss_bytes and f.peak_rss_bytes > 0 and f.volume_bytes and f.volume_bytes > 0
        assert "cgroup v" in f.source and "VmHWM" in f.source and "st_blocks" in f.source, f.source
    from harness.errors import HarnessError

    with pytest.raises(HarnessError, match="without footprint_begin"):
        local_platform.footprint_end(dep)


@pytest.mark.server
def test_footprint_of_redis_counts_sentinels_and_a_restarted_replica(local_platform, fast_spec, poll):
    enforced_here()
    dep = local_platform.deploy("redis", "kubeblocks", fast_spec)
    h = dep.handle
    primary = next(p for p in local_platform.pods(dep) if p.role == "primary")
    local_platform.footprint_begin(dep)
    c = redis_client(primary.port, h.secrets["redis"])
    pipe = c.pipeline(transaction=False)
    for i in range(3000):
        pipe.set(f"fp:{i}", "v" * 200)
    pipe.execute()
    replica = next(p for p in h.pods.values() if p.kind == "data" and p.name != primary.name)
    old = replica.pid
    local_platform.kill(dep, next(p for p in local_platform.pods(dep) if p.name == replica.name))
    poll(lambda: replica.alive() and replica.pid != old and replica.cgroup.holds(replica.pid), 30,
         f"{replica.name} restarted into its group")
    poll(lambda: redis_client(replica.port, h.secrets["redis"]).dbsize() >= 3000, 30, "the replica resynced")
    prints = {f.pod: f for f in local_platform.footprint_end(dep)}
    assert {n: f.kind for n, f in prints.items()} == {
        "redis-0": "data", "redis-1": "data",
        "redis-sentinel-0": "sentinel", "redis-sentinel-1": "sentinel", "redis-sentinel-2": "sentinel"}
    assert prints[primary.name].cpu_s > 0
    assert "over 2 incarnations" in prints[replica.name].source, prints[replica.name].source
    for f in prints.values():
        assert f.cpu_s is not None and f.peak_rss_bytes and f.peak_rss_bytes > 0
        assert f.volume_bytes is not None and f.volume_bytes > 0
    ev = local_platform.limits_evidence(dep)
    assert ev.enforced and "each of the 5 pods" in ev.how, ev


@pytest.mark.server
def test_nominal_limits_say_why_and_the_footprint_comes_from_proc(registry, tmp_path, fast_spec):
    platform = LocalPlatform(registry, tmp_path / "run", tmp_path / "work", enforce_limits=False)
    dep = platform.deploy("redis", "statefulset", fast_spec)
    try:
        pod = dep.handle.pods["redis-0"]
        assert pod.cgroup is None and dep.handle.cgroups is None
        assert f"{registry.run_id}.{os.getpid()}/{dep.id}" not in proc_cgroup(pod.pid)
        ev = platform.limits_evidence(dep)
        assert not ev.enforced and "enforce_limits=False" in ev.how and (ev.cpu, ev.memory) == ("0.5", "0.5Gi")
        platform.footprint_begin(dep)
        c = redis_client(pod.port, dep.handle.secrets["redis"])
        pipe = c.pipeline(transaction=False)
        for i in range(5000):
            pipe.set(f"fp:{i}", "v" * 500)
        pipe.execute()
        (f,) = platform.footprint_end(dep)
        assert f.pod == "redis-0" and f.cpu_s is not None and f.cpu_s >= 0
        assert f.peak_rss_bytes and f.peak_rss_bytes > 2_500_000, "the 2.5 MB written are in its peak"
        assert f.volume_bytes and f.volume_bytes > 0
        assert "/proc/<pid>/stat" in f.source and "cgroup" not in f.source, f.source
    finally:
        platform.teardown(dep)


KILLED_RUN = """
import os, signal, sys
from pathlib import Path
from harness.procs import ProcessRegistry
from harness.platforms.local import cgroups
reg = ProcessRegistry(Path(sys.argv[1]) / "killed.json", "killed")
groups = cgroups.DeploymentGroups(cgroups.detect(), reg, "redis-kubeblocks-1", "0.5", "0.5Gi")
g = groups.add("redis-0")
proc = reg.spawn(["sleep", "300"], "redis-0", preexec=g.join)
print(proc.pid, *[str(d) for _, d in g.dirs], flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_killed_runs_groups_are_removed_by_harness_cleanup(tmp_path):
    enforced_here()
    state = tmp_path / "state"
    out = subprocess.run([sys.executable, "-c", KILLED_RUN, str(state)], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=60)
    assert out.returncode == -signal.SIGKILL, out.stderr
    pid, *dirs = out.stdout.split()
    assert dirs and all(pid in (Path(d) / "cgroup.procs").read_text().split() for d in dirs)
    (lo,) = cleanup_leftovers(state)
    assert lo.run_id == "killed" and any(k.startswith("cgroups ") for k in lo.undo)
    assert not is_alive(int(pid)) and not [d for d in dirs if Path(d).exists()]
    assert not Path(dirs[0]).parent.exists(), "the deployment's group went too"
