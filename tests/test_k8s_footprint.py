"""The kind/k8s footprint and limits: the parsers on realistic outputs, the commands against a fake
cluster (a canned-answer runner: no Kubernetes API exists here), and the dry-run's plan."""

from __future__ import annotations

import io
import json

from k8s_fakes import FakeCluster, items, pod

from harness.contracts import Deployment, DeploySpec, Footprints, Topology
from harness.platforms.commands import CommandResult, DryRunRunner
from harness.platforms.k8s_footprint_parse import (
    cgroup_script,
    limits_of,
    metrics_usage,
    parse_cgroup_reading,
    pod_records,
    summary_usage,
)
from harness.platforms.k8s_handle import K8sHandle
from harness.platforms.k8s_preflight import ClusterSettings
from harness.platforms.kubernetes import KubernetesPlatform

SPEC = DeploySpec(ready_timeout_s=5)
NS = "openim-poc-redis-kubeblocks"

V2_BEGIN = "cgroup v2\ncpu_usec 15234567\nmemory_peak 187654144\n"
V2_END = "cgroup v2\ncpu_usec 27234567\nmemory_peak 201326592\nvolume_kib 10244\t/data\n"
V1_END = "cgroup v1\ncpu_nsec 3500000000\nmemory_peak 73400320\nvolume_kib 2048\t/var/lib/mysql\n"

SUMMARY = {
    "node": {"nodeName": "openim-poc-worker"},
    "pods": [
        {"podRef": {"name": "kubeblocks-7d4f9c5b8-x2x9q", "namespace": "kb-system", "uid": "u1"},
         "cpu": {"time": "2025-11-27T08:47:01Z", "usageNanoCores": 4123456, "usageCoreNanoSeconds": 812345678901},
         "memory": {"time": "2025-11-27T08:47:01Z", "workingSetBytes": 98304000, "rssBytes": 61440000}},
        {"podRef": {"name": "kubeblocks-dataprotection-6c9f8d7b4-k8k2p", "namespace": "kb-system", "uid": "u2"},
         "cpu": {"usageCoreNanoSeconds": 123456789012}, "memory": {"workingSetBytes": 45056000}},
        {"podRef": {"name": "coredns-5d78c9869d-abcde", "namespace": "kube-system"},
         "cpu": {"usageCoreNanoSeconds": 1}, "memory": {"workingSetBytes": 1}},
    ],
}

METRICS = {
    "kind": "PodMetricsList", "apiVersion": "metrics.k8s.io/v1beta1",
    "items": [
        {"metadata": {"name": "kubeblocks-7d4f9c5b8-x2x9q", "namespace": "kb-system"},
         "timestamp": "2025-11-27T08:47:01Z", "window": "15.02s",
         "containers": [{"name": "manager", "usage": {"cpu": "3148052n", "memory": "95980Ki"}}]},
        {"metadata": {"name": "kubeblocks-dataprotection-6c9f8d7b4-k8k2p", "namespace": "kb-system"},
         "timestamp": "2025-11-27T08:47:01Z", "window": "15.02s",
         "containers": [{"name": "dataprotection", "usage": {"cpu": "1m", "memory": "44000Ki"}}]},
    ],
}


def _with(p: dict, container: str, restarts: int = 0, limits: dict | None = None, uid: str = "uid") -> dict:
    """A fake pod with its container's spec (limits) and status (restartCount), as the API returns them."""
    p = json.loads(json.dumps(p))
    p["metadata"]["uid"] = uid
    p["spec"]["containers"] = [{"name": container, "resources": {"limits": limits if limits is not None else
                                                                 {"cpu": "500m", "memory": "512Mi"}}},
                               {"name": "kbagent", "resources": {}}]
    p["status"]["containerStatuses"] = [{"name": container, "restartCount": restarts}]
    return p


def redis_pods(restarts: int = 0, limits: dict | None = None) -> list[dict]:
    data = [_with(pod(f"redis-kb-redis-{i}", f"openim-poc-worker{i + 1}", role, "redis", "redis-kb", f"10.0.0.{i}"),
                  "redis", restarts if i == 1 else 0, limits, uid=f"u{i}")
            for i, role in enumerate(("primary", "secondary"))]
    sentinels = [_with(pod(f"redis-kb-redis-sentinel-{i}", "openim-poc-worker", None, "redis-sentinel", "redis-kb",
                           f"10.0.1.{i}"), "redis-sentinel", uid=f"s{i}") for i in range(3)]
    return data + sentinels


def control_pods() -> str:
    cp = [_with(pod(n, "openim-poc-worker", None, "x", "kubeblocks", "10.0.2.1"), "manager", limits={})
          for n in ("kubeblocks-7d4f9c5b8-x2x9q", "kubeblocks-dataprotection-6c9f8d7b4-k8k2p")]
    job = _with(pod("kb-addon-redis-install-abcde", "openim-poc-worker", None, "x", "kubeblocks", "10.0.2.2"), "job")
    job["status"]["phase"] = "Succeeded"
    return items(*cp, job)


def fake(summary: bool = True, metrics: bool = True):
    """`state["phase"]`: "begin" or "end" (the counters each exec prints); `state["pods"]`: the Cluster's pods."""
    state = {"phase": "begin", "pods": redis_pods(), "summary": 0}

    def answer(argv):
        cmd = " ".join(argv)
        if "get pods -n kb-system" in cmd:
            return CommandResult(0, control_pods())
        if "get pods -n" in cmd:
            return CommandResult(0, items(*state["pods"]))
        if argv[1:2] == ["exec"] or " exec " in cmd:
            if state["phase"] == "begin":
                return CommandResult(0, V2_BEGIN)
            return CommandResult(0, V2_END)
        if "/proxy/stats/summary" in cmd:
            if not summary:
                return CommandResult(1, "", 'Error from server (Forbidden): nodes "x" is forbidden')
            state["summary"] += 1
            s = json.loads(json.dumps(SUMMARY))
            if state["summary"] > 1:  # the end: 2.5 s more CPU on the manager, 0.5 s on dataprotection
                s["pods"][0]["cpu"]["usageCoreNanoSeconds"] += 2_500_000_000
                s["pods"][1]["cpu"]["usageCoreNanoSeconds"] += 500_000_000
                s["pods"][0]["memory"]["workingSetBytes"] += 4096
            return CommandResult(0, json.dumps(s))
        if "metrics.k8s.io" in cmd:
            if not metrics:
                return CommandResult(1, "", "Error from server (NotFound): the server could not find the requested "
                                            "resource")
            return CommandResult(0, json.dumps(METRICS))
        return None

    runner = FakeCluster(answer)
    runner.state = state
    return runner


def platform(runner, tmp_path):
    tools = tmp_path / "t"
    tools.mkdir(exist_ok=True)
    for name in ("kubectl", "helm"):
        (tools / name).write_text("#!/bin/sh\nexit 99\n")
        (tools / name).chmod(0o755)
    k8s = KubernetesPlatform(runner, tmp_path, ClusterSettings(node_address="127.0.0.1", tools_dir=tools))
    k8s.clock = iter(range(1000, 2000, 30)).__next__  # begin at 1000, end 30 s later
    return k8s


def deployment(engine="redis", mode="kubeblocks", ns=NS) -> Deployment:
    return Deployment(f"{engine}-{mode}", engine, mode, "k8s", Topology(2, ("zone-a", "zone-b")),
                      handle=K8sHandle(ns, engine, mode, None, spec=SPEC))


# -- parsers ---------------------------------------------------------------------------------------


def test_cgroup_readings_of_v2_v1_and_what_is_missing():
    v2 = parse_cgroup_reading(V2_END)
    assert (v2.version, v2.cpu_s, v2.memory_peak, v2.volume_bytes) == ("v2", 27.234567, 201326592, 10244 * 1024)
    v1 = parse_cgroup_reading(V1_END)
    assert (v1.version, v1.cpu_s, v1.memory_peak, v1.volume_bytes) == ("v1", 3.5, 73400320, 2097152)
    host = parse_cgroup_reading("cgroup v2-host-root\nvolume_kib \n")
    assert host.cpu_s is None and host.volume_bytes is None and "host's root cgroup" in host.note
    assert "printed nothing" in parse_cgroup_reading("").note
    assert "no CPU counter" in parse_cgroup_reading("cgroup v1\nmemory_peak 1\n").note
    script = cgroup_script("/var/lib/mysql")
    assert script.endswith('echo "volume_kib $(du -sk /var/lib/mysql 2>/dev/null)"')
    assert "cpu.stat" in script and "memory.peak" in script and "cpuacct.usage" in script and "du" not in cgroup_script()


def test_pods_json_kubelet_summary_and_metrics_api_are_read():
    recs = pod_records(items(*redis_pods(restarts=2)))
    r1 = recs["redis-kb-redis-1"]
    assert r1.incarnation("redis") == ("u1", 2) and r1.node == "openim-poc-worker2" and r1.running
    assert r1.limits["redis"] == {"cpu": "500m", "memory": "512Mi"}
    usage = summary_usage(json.dumps(SUMMARY), "kb-system")
    assert set(usage) == {"kubeblocks-7d4f9c5b8-x2x9q", "kubeblocks-dataprotection-6c9f8d7b4-k8k2p"}
    assert usage["kubeblocks-7d4f9c5b8-x2x9q"].cpu_s_total == 812.345678901
    assert usage["kubeblocks-7d4f9c5b8-x2x9q"].memory_bytes == 98304000
    m = metrics_usage(json.dumps(METRICS))
    assert m["kubeblocks-7d4f9c5b8-x2x9q"].cpu_cores_now == 0.003148052
    assert m["kubeblocks-7d4f9c5b8-x2x9q"].memory_bytes == 95980 * 1024 and m["kubeblocks-7d4f9c5b8-x2x9q"].window == "15.02s"
    assert summary_usage("not json", "kb-system") == {} and metrics_usage("") == {}
    missing, cpus, mems = limits_of(recs, {n: "redis-sentinel" if "sentinel" in n else "redis" for n in recs})
    assert (missing, cpus, mems) == ([], {"500m"}, {"512Mi"})
    no_mem = pod_records(items(*redis_pods(limits={"cpu": "500m"})))
    assert "redis-kb-redis-0/redis has no memory limit" in limits_of(no_mem, {"redis-kb-redis-0": "redis"})[0]


# -- the fake cluster ------------------------------------------------------------------------------


def test_fake_cluster_footprint_reads_each_containers_cgroup_and_the_control_plane(tmp_path):
    runner = fake()
    k8s = platform(runner, tmp_path)
    assert isinstance(k8s, Footprints)
    dep = deployment()
    k8s.footprint_begin(dep)
    begin_cmds = runner.commands()
    runner.state["phase"] = "end"
    prints = {f.pod: f for f in k8s.footprint_end(dep)}
    cmds = runner.commands()[len(begin_cmds):]

    execs = [c for c in begin_cmds if " exec " in c]
    assert [c.split(" exec ")[1].split(" -- ")[0] for c in execs] == [
        f"-n {NS} redis-kb-redis-0 -c redis", f"-n {NS} redis-kb-redis-1 -c redis",
        f"-n {NS} redis-kb-redis-sentinel-0 -c redis-sentinel", f"-n {NS} redis-kb-redis-sentinel-1 -c redis-sentinel",
        f"-n {NS} redis-kb-redis-sentinel-2 -c redis-sentinel"]
    assert not any("du -sk" in c for c in execs), "the volume is read at the end only"
    end_execs = [c for c in cmds if " exec " in c]
    assert all("du -sk /data" in c for c in end_execs) and len(end_execs) == 5
    assert sum("get pods -n kb-system -o json" in c for c in runner.commands()) == 2
    raw = [c.split("kubectl ", 1)[1] for c in cmds if "get --raw" in c]
    assert raw == ["get --raw /api/v1/nodes/openim-poc-worker/proxy/stats/summary"], "one node, one summary"

    data = prints["redis-kb-redis-0"]
    assert (data.kind, data.cpu_s, data.peak_rss_bytes, data.volume_bytes) == ("data", 12.0, 201326592, 10244 * 1024)
    assert "cgroup v2 cpu.stat usage_usec" in data.source and "memory.peak since the container started" in data.source
    assert [prints[f"redis-kb-redis-sentinel-{i}"].kind for i in range(3)] == ["sentinel"] * 3
    manager = prints["kubeblocks-7d4f9c5b8-x2x9q"]
    assert manager.kind == "control-plane" and manager.cpu_s == 2.5 and manager.volume_bytes is None
    assert manager.peak_rss_bytes == 98304000 + 4096 and "usageCoreNanoSeconds delta" in manager.source
    assert prints["kubeblocks-dataprotection-6c9f8d7b4-k8k2p"].cpu_s == 0.5
    assert "kb-addon-redis-install-abcde" not in prints, "only the running kubeblocks-* pods"


def test_fake_cluster_a_restarted_container_counts_since_its_restart(tmp_path):
    runner = fake()
    k8s = platform(runner, tmp_path)
    dep = deployment()
    k8s.footprint_begin(dep)
    runner.state.update(phase="end", pods=redis_pods(restarts=1))
    prints = {f.pod: f for f in k8s.footprint_end(dep)}
    assert prints["redis-kb-redis-1"].cpu_s == 27.234567
    assert "restarted or recreated inside the window" in prints["redis-kb-redis-1"].source
    assert prints["redis-kb-redis-0"].cpu_s == 12.0


def test_fake_cluster_without_kubelet_summary_uses_the_metrics_api_else_says_why(tmp_path):
    runner = fake(summary=False)
    k8s = platform(runner, tmp_path)
    dep = deployment()
    k8s.footprint_begin(dep)
    runner.state["phase"] = "end"
    manager = next(f for f in k8s.footprint_end(dep) if f.pod == "kubeblocks-7d4f9c5b8-x2x9q")
    assert abs(manager.cpu_s - 0.003148052 * 30) < 1e-9 and manager.peak_rss_bytes == 95980 * 1024
    assert "metrics.k8s.io" in manager.source and "an estimate" in manager.source and "15.02s" in manager.source
    assert any("get --raw /apis/metrics.k8s.io/v1beta1/namespaces/kb-system/pods" in c for c in runner.commands())

    runner = fake(summary=False, metrics=False)
    k8s = platform(runner, tmp_path)
    k8s.footprint_begin(dep)
    cp = [f for f in k8s.footprint_end(dep) if f.kind == "control-plane"]
    assert len(cp) == 2 and all(f.cpu_s is None and f.peak_rss_bytes is None for f in cp)
    assert all("nor the metrics API (metrics-server) answered" in f.source for f in cp)


def test_fake_cluster_statefulset_reads_its_one_pod_and_no_control_plane(tmp_path):
    ns = "openim-poc-mysql-statefulset"
    sts = _with(pod("mysql-0", "openim-poc-worker", None, "mysql", "mysql", "10.0.0.5"), "mysql")
    sts["metadata"]["labels"] = {"app": "mysql"}

    def answer(argv):
        cmd = " ".join(argv)
        if "get pods -n" in cmd:
            return CommandResult(0, items(sts))
        if " exec " in cmd:
            return CommandResult(0, V1_END)
        return None

    runner = FakeCluster(answer)
    k8s = platform(runner, tmp_path)
    dep = deployment("mysql", "statefulset", ns)
    k8s.footprint_begin(dep)
    (f,) = k8s.footprint_end(dep)
    assert (f.pod, f.kind, f.cpu_s, f.volume_bytes) == ("mysql-0", "data", 0.0, 2097152)
    assert "cgroup v1 cpuacct.usage" in f.source
    assert any(f"get pods -n {ns} -l app=mysql -o json" in c for c in runner.commands())
    assert any("du -sk /var/lib/mysql" in c for c in runner.commands())
    assert not any("kb-system" in c for c in runner.commands())


def test_fake_cluster_limits_evidence_comes_from_the_pods_spec(tmp_path):
    runner = fake()
    k8s = platform(runner, tmp_path)
    ev = k8s.limits_evidence(deployment())
    assert ev.enforced and (ev.cpu, ev.memory) == ("500m", "512Mi") and "each of 5 pods" in ev.how
    runner.state["pods"] = redis_pods(limits={"memory": "512Mi"})
    ev = k8s.limits_evidence(deployment())
    assert not ev.enforced and "redis-kb-redis-0/redis has no cpu limit" in ev.how
    runner.state["pods"] = []
    assert "no pods found" in k8s.limits_evidence(deployment()).how


def test_dry_run_prints_the_footprint_commands_and_reads_nothing(tmp_path):
    out = io.StringIO()
    k8s = platform(DryRunRunner(out=out), tmp_path)
    dep = deployment()
    k8s.footprint_begin(dep)
    prints = k8s.footprint_end(dep)
    text = out.getvalue()
    assert text.count(" exec -n openim-poc-redis-kubeblocks redis-kb-redis-0 -c redis -- /bin/sh -c ") == 2
    assert text.count("-c redis-sentinel -- /bin/sh -c") == 6 and text.count("du -sk /data") == 5
    assert "# control plane: per node of those kubeblocks-* pods" in text
    assert all(f.cpu_s is None and f.source.startswith("dry-run") for f in prints)
    assert [f.kind for f in prints].count("control-plane") == 1
    ev = k8s.limits_evidence(dep)
    assert ev.enforced and (ev.cpu, ev.memory) == ("0.5", "0.5Gi") and "as the manifests set them" in ev.how
