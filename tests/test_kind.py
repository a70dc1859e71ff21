"""kind platform: the dry-run plan of a whole run, fault targeting against a fake cluster, doctor."""

from __future__ import annotations

import io
import json

import pytest
from k8s_fakes import KIND_NODES, FakeCluster, items, pod

from harness.platforms.base import Fault, Platform
from harness.platforms.commands import CommandResult
from harness.platforms.kind import KindPlatform, KindSettings, preflight
from harness.platforms.kubernetes import PlanCell, dry_run_plan
from harness.platforms.tools import KIND_NODE_IMAGE, PINS, docker_engine_check

CELLS = [
    PlanCell("pod-kill-primary", "mysql", "kubeblocks", Fault("pod-kill")),
    PlanCell("zone-outage", "redis", "kubeblocks", Fault("zone-outage", "primary", 30)),
    PlanCell("zone-partition", "mongodb", "statefulset", Fault("zone-partition", "zone-a", 30)),
]


def _index(lines, needle, start=0):
    for i in range(start, len(lines)):
        if needle in lines[i]:
            return i
    raise AssertionError(f"{needle!r} not found after line {start}:\n" + "\n".join(lines))


def test_dry_run_plan_of_a_whole_kind_run_is_in_order(tmp_path):
    out = io.StringIO()
    steps = dry_run_plan("kind", CELLS, out=out, run_dir=tmp_path)
    lines = [str(s) for s in steps]
    assert out.getvalue().splitlines()[0] == lines[0]
    order = [
        "pinned: kind 0.27.0, kubectl 1.32.2, helm 3.17.3, KubeBlocks 1.0.2",
        "tools: kind",
        "tools: helm",
        f"image: {KIND_NODE_IMAGE}",
        "create cluster --name openim-poc --config",
        "wait: 3 worker nodes Ready",
        "releases/download/v1.0.2/kubeblocks_crds.yaml",
        "upgrade --install kubeblocks kubeblocks/kubeblocks --namespace kb-system --create-namespace --version 1.0.2",
        "wait: addon mysql status.phase=Enabled",
        "wait: addon redis status.phase=Enabled",
        "wait: addon mongodb status.phase=Enabled",
        # cell 1
        "namespace-openim-poc-mysql-kubeblocks.yaml",
        "get componentversions.apps.kubeblocks.io/mysql",
        "cluster-mysql-kb.yaml",
        "service-mysql-kb-primary-nodeport.yaml",
        "wait: cluster/mysql-kb -n openim-poc-mysql-kubeblocks status.phase=Running",
        "wait: exactly one pod kubeblocks.io/role=primary",
        "get secret/mysql-kb-mysql-account-root",
        "delete pod mysql-kb-mysql-0 -n openim-poc-mysql-kubeblocks --grace-period=0 --force",
        "delete clusters.apps.kubeblocks.io/mysql-kb",
        "delete namespace openim-poc-mysql-kubeblocks",
        # cell 2
        "cluster-redis-kb.yaml",
        "wait: cluster/redis-kb",
        "docker stop -t 0 openim-poc-worker",
        "docker start openim-poc-worker",
        "delete namespace openim-poc-redis-kubeblocks",
        # cell 3
        "secret/mongodb-secret (value not shown)",
        "statefulset-mongodb.yaml",
        "wait: statefulset/mongodb -n openim-poc-mongodb-statefulset readyReplicas=1",
        "docker network disconnect kind openim-poc-worker",
        "docker network connect kind openim-poc-worker",
        "delete namespace openim-poc-mongodb-statefulset",
        "delete cluster --name openim-poc",
    ]
    at = 0
    for needle in order:
        at = _index(lines, needle, at) + 1
    assert at == len(lines), "the cluster delete is the last step"
    assert not tmp_path.joinpath("kind-config.yaml").exists(), "dry-run writes nothing"


def test_dry_run_plan_never_prints_a_secret_value(tmp_path):
    steps = dry_run_plan("kind", [PlanCell("s", "redis", "statefulset", None)], out=None, run_dir=tmp_path)
    text = "\n".join(map(str, steps))
    assert "stringData" not in text and "apply -f - < secret/redis-secret (value not shown)" in text


def _fake_kind(primary: str, pods: list[dict]):
    def answer(argv):
        cmd = " ".join(argv)
        if "get nodes -o json" in cmd:
            return CommandResult(0, json.dumps(KIND_NODES))
        if "get pods" in cmd:
            return CommandResult(0, items(*pods))
        if "get clusters" in cmd and argv[-1] == "clusters":
            return CommandResult(0, "")
        return None

    return FakeCluster(answer)


def _redis_pods(primary_node: str):
    other = "openim-poc-worker" if primary_node != "openim-poc-worker" else "openim-poc-worker3"
    return [
        pod("redis-kb-redis-0", other, "secondary", "redis", "redis-kb", "10.244.1.5"),
        pod("redis-kb-redis-1", primary_node, "primary", "redis", "redis-kb", "10.244.2.7"),
        pod("redis-kb-redis-sentinel-0", "openim-poc-worker", None, "redis-sentinel", "redis-kb", "10.244.1.6"),
        pod("redis-kb-redis-sentinel-1", "openim-poc-worker2", None, "redis-sentinel", "redis-kb", "10.244.2.8"),
    ]


def _deployment(platform, engine="redis", mode="kubeblocks"):
    from harness.platforms.base import Deployment, Topology
    from harness.platforms.kubernetes import K8sHandle

    return Deployment(f"{engine}-{mode}", engine, mode, "kind", Topology(2, ("zone-a", "zone-b")),
                      handle=K8sHandle(f"openim-poc-{engine}-{mode}", engine, mode, "7.2.4"))  # fmt: skip


def test_fake_cluster_pod_kill_deletes_the_primary_with_grace_0(tmp_path):
    runner = _fake_kind("redis-kb-redis-1", _redis_pods("openim-poc-worker2"))
    kind = KindPlatform(runner, tmp_path, KindSettings())
    inj = kind.inject(_deployment(kind), Fault("pod-kill"))
    assert inj.instances == ("redis-kb-redis-1",) and inj.zone == "zone-b"
    deletes = [c for c in runner.commands() if " delete pod " in c]
    assert deletes == [
        f"kubectl --kubeconfig {tmp_path}/kubeconfig --context kind-openim-poc delete pod redis-kb-redis-1 "
        "-n openim-poc-redis-kubeblocks --grace-period=0 --force --wait=false"
    ]


def test_fake_cluster_zone_outage_stops_the_primary_zones_node_containers(tmp_path):
    runner = _fake_kind("redis-kb-redis-1", _redis_pods("openim-poc-worker2"))
    kind = KindPlatform(runner, tmp_path, KindSettings())
    inj = kind.inject(_deployment(kind), Fault("zone-outage", "primary", 10))
    assert inj.zone == "zone-b"
    assert inj.instances == ("redis-kb-redis-1", "redis-kb-redis-sentinel-1")
    assert [c for c in runner.commands() if c.startswith("docker")] == ["docker stop -t 0 openim-poc-worker2"]
    inj.recover()
    inj.recover()  # idempotent
    assert [c for c in runner.commands() if c.startswith("docker")][1:] == ["docker start openim-poc-worker2"]
    assert inj.recovered


def test_fake_cluster_zone_partition_by_name_disconnects_that_zone(tmp_path):
    runner = _fake_kind("redis-kb-redis-1", _redis_pods("openim-poc-worker2"))
    kind = KindPlatform(runner, tmp_path, KindSettings())
    dep = _deployment(kind)
    inj = kind.inject(dep, Fault("zone-partition", "zone-c", 10))
    assert inj.zone == "zone-c" and inj.instances == ()
    kind.teardown(dep)  # teardown recovers what is still in force
    docker = [c for c in runner.commands() if c.startswith("docker")]
    assert docker == ["docker network disconnect kind openim-poc-worker3", "docker network connect kind openim-poc-worker3"]


def test_fake_cluster_two_primaries_is_an_error_not_a_guess(tmp_path):
    from harness.errors import DeployError

    pods = _redis_pods("openim-poc-worker2")
    pods[0]["metadata"]["labels"]["kubeblocks.io/role"] = "primary"
    kind = KindPlatform(_fake_kind("", pods), tmp_path, KindSettings())
    with pytest.raises(DeployError, match="exactly one primary, found 2"):
        kind.inject(_deployment(kind), Fault("pod-kill"))


def test_kind_platform_implements_the_contract(tmp_path):
    assert isinstance(KindPlatform(_fake_kind("", []), tmp_path), Platform)


def test_doctor_kind_says_there_is_no_docker_engine():
    engine = docker_engine_check(timeout_s=5)
    if engine.ok:
        pytest.skip(f"a Docker engine answers here ({engine.version}); this checks the engine-less case")
    checks = preflight()
    first = checks[0]
    assert first.name == "docker engine" and not first.ok and first.required
    assert "no Docker engine" in first.detail or "no docker CLI" in first.detail
    assert first.fix
    names = [c.name for c in checks]
    assert names[:4] == ["docker engine", "kind", "kubectl", "helm"]
    kind = checks[1]
    assert kind.ok or (PINS["kind"].version in kind.detail)


def test_setup_refuses_without_docker_engine_in_one_line(tmp_path):
    from harness.errors import HarnessError

    if docker_engine_check(timeout_s=5).ok:
        pytest.skip("a Docker engine answers here")
    runner = FakeCluster(lambda argv: None)
    with pytest.raises(HarnessError, match="Docker engine"):
        KindPlatform(runner, tmp_path).setup()
    assert runner.commands() == [], "nothing ran"


def test_cli_dry_run_on_kind_prints_commands_and_manifests_in_order_touching_nothing(tmp_path, capsys):
    """`harness run --platform kind --dry-run` through the CLI: the whole plan, manifests included."""
    from harness.cli import main

    out_dir = tmp_path / "reports"
    rc = main(["run", "pod-kill-primary", "--engines", "redis", "--platform", "kind", "--dry-run", "--out", str(out_dir)])
    text = capsys.readouterr().out
    assert rc == 0
    order = [
        "kind create cluster",
        "kubeblocks_crds.yaml",
        "--version 1.0.2",
        "wait: addon redis status.phase=Enabled",
        "# manifest ",
        "apiVersion: apps.kubeblocks.io/v1",
        "kind: Cluster",
        "status.phase=Running",
        "delete pod redis-kb-redis-0",
        "delete namespace openim-poc-redis-kubeblocks",
        "kind: StatefulSet",
        "delete pod redis-0",
        "kind delete cluster",
    ]
    at = 0
    for step in order:  # each step appears after the one before it
        found = text.find(step, at)
        assert found != -1, f"{step!r} missing after position {at}"
        at = found + len(step)
    assert not out_dir.exists(), "a dry run creates no run directory"
