"""kind platform: the dry-run plan of a whole run, fault targeting against a fake cluster, doctor."""

from __future__ import annotations

import io
import json

import pytest
from k8s_fakes import KIND_NODES, FakeCluster, controller_manager, items, plan_cell, pod

from harness.contracts import Fault, Platform
from harness.dryrun import dry_run_plan
from harness.errors import DeployError
from harness.faults import inject
from harness.platforms import DRY_RUN_DIR
from harness.platforms.commands import CommandResult, DryRunRunner
from harness.platforms.kind import KindPlatform, KindSettings, preflight
from harness.platforms.tools import KIND_NODE_IMAGE, PINS, docker_engine_check

CELLS = [
    plan_cell("pod-kill-primary", "mysql", "kubeblocks"),
    plan_cell("zone-outage", "redis", "kubeblocks", fault_s=30),
    plan_cell("zone-partition", "mongodb", "statefulset", fault_s=30),
]


def _index(lines, needle, start=0):
    for i in range(start, len(lines)):
        if needle in lines[i]:
            return i
    raise AssertionError(f"{needle!r} not found after line {start}:\n" + "\n".join(lines))


def test_dry_run_plan_of_a_whole_kind_run_is_in_order(tmp_path):
    out = io.StringIO()
    steps = dry_run_plan("kind", CELLS, out=out)
    lines = [str(s) for s in steps]
    assert out.getvalue().splitlines()[0] == lines[0]
    order = [
        "pinned: kind 0.27.0, kubectl 1.32.2, helm 3.17.3, KubeBlocks 1.0.2",
        "tools: kind",
        "tools: helm",
        f"image: {KIND_NODE_IMAGE}",
        "create cluster --name openim-poc --config",
        "wait: 3 worker nodes Ready (condition Ready=True) with topology.kubernetes.io/zone zone-a/b/c",
        "releases/download/v1.0.2/kubeblocks_crds.yaml",
        "no backup scenario selected: dataProtection.enabled=false",
        "upgrade --install kubeblocks kubeblocks/kubeblocks --namespace kb-system --create-namespace --version 1.0.2 "
        "--set dataProtection.enabled=false",
        "wait: addon mysql status.phase=Enabled",
        "wait: addon redis status.phase=Enabled",
        "wait: addon mongodb status.phase=Enabled",
        "wait: clusterdefinition/mysql status.phase=Available",
        "wait: clusterdefinition/mongodb status.phase=Available",
        # cell 1
        "namespace-openim-poc-mysql-kubeblocks.yaml",
        "get componentversions.apps.kubeblocks.io/mysql",
        "cluster-mysql-kb.yaml",
        "service-mysql-kb-primary-nodeport.yaml",
        "wait: cluster/mysql-kb -n openim-poc-mysql-kubeblocks status.phase=Running (up to 600 s)",
        "wait: exactly one pod kubeblocks.io/role=primary",
        "get secret/mysql-kb-mysql-account-root",
        "get pods -n kube-system -l component=kube-controller-manager",
        "node-monitor-grace-period: 50 s, the Kubernetes 1.32 default",
        "get endpointslices -n openim-poc-mysql-kubeblocks -l kubernetes.io/service-name=mysql-kb-primary-nodeport",
        "delete pod mysql-kb-mysql-0 -n openim-poc-mysql-kubeblocks --grace-period=0 --force",
        "delete clusters.apps.kubeblocks.io/mysql-kb",
        "delete namespace openim-poc-mysql-kubeblocks",
        # cell 2
        "cluster-redis-kb.yaml",
        "wait: cluster/redis-kb",
        "get endpointslices -n openim-poc-redis-kubeblocks",
        "docker stop -t 0 openim-poc-worker",
        "docker start openim-poc-worker",
        "wait: nodes of zone-a Ready again (topology.kubernetes.io/zone=zone-a, condition Ready=True)",
        "delete namespace openim-poc-redis-kubeblocks",
        # cell 3
        "secret/mongodb-secret (value not shown)",
        "readinessProbe:",  # inside the StatefulSet's manifest (mongosh on the pod IP)
        "statefulset-mongodb.yaml",
        "wait: statefulset/mongodb -n openim-poc-mongodb-statefulset readyReplicas=1 (readiness probe passed) (up to 600 s)",
        "docker inspect --format '{{json .NetworkSettings.Networks}}' openim-poc-worker",
        "docker network disconnect kind openim-poc-worker",
        "docker network connect --ip '<IPv4 read above>' --ip6 '<IPv6 read above>' kind openim-poc-worker",
        "docker inspect --format '{{json .NetworkSettings.Networks}}' openim-poc-worker",
        "wait: nodes of zone-a Ready again",
        "delete namespace openim-poc-mongodb-statefulset",
        "delete cluster --name openim-poc",
    ]
    at = 0
    for needle in order:
        at = _index(lines, needle, at) + 1
    assert at == len(lines), "the cluster delete is the last step"
    sts = next(line for line in lines if "kind: StatefulSet" in line and "name: mongodb" in line)
    assert "readinessProbe:" in sts and 'mongosh --quiet --host "$POD_IP"' in sts
    assert not DRY_RUN_DIR.joinpath("kind-config.yaml").exists(), "dry-run writes nothing"


def test_dry_run_plan_never_prints_a_secret_value(tmp_path):
    steps = dry_run_plan("kind", [plan_cell("steady", "redis", "statefulset")], out=None)
    text = "\n".join(map(str, steps))
    assert "stringData" not in text and "apply -f - < secret/redis-secret (value not shown)" in text


def _fake_kind(primary: str, pods: list[dict], nodes: dict | None = None, networks: dict | None = None,
               connect_error: str = ""):
    """`nodes`: `kubectl get nodes` (mutable); `networks`: node -> its kind-network (IPv4, IPv6) answered by
    `docker inspect` (mutable); `connect_error`: docker refuses `network connect --ip` with this."""
    nodes = nodes if nodes is not None else KIND_NODES
    networks = networks if networks is not None else {}

    def answer(argv):
        cmd = " ".join(argv)
        if "get nodes -o json" in cmd:
            return CommandResult(0, json.dumps(nodes))
        if "get pods -n kube-system" in cmd:  # kind's control plane: the flag is not set
            return CommandResult(0, controller_manager("--leader-elect=true", "--node-monitor-period=5s"))
        if "get pods" in cmd:
            return CommandResult(0, items(*pods))
        if "get clusters" in cmd and argv[-1] == "clusters":
            return CommandResult(0, "")
        if argv[:2] == ["docker", "inspect"]:
            v4, v6 = networks.get(argv[-1], ("", ""))
            return CommandResult(0, json.dumps({"kind": {"IPAddress": v4, "GlobalIPv6Address": v6}}) + "\n")
        if argv[:3] == ["docker", "network", "connect"] and "--ip" in argv and connect_error:
            return CommandResult(1, "", connect_error)
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
    from harness.contracts import Deployment, Topology
    from harness.platforms.kubernetes import K8sHandle

    return Deployment(f"{engine}-{mode}", engine, mode, "kind", Topology(2, ("zone-a", "zone-b")),
                      handle=K8sHandle(f"openim-poc-{engine}-{mode}", engine, mode, "7.2.4"))  # fmt: skip


def test_fake_cluster_pod_kill_deletes_the_primary_with_grace_0(tmp_path):
    runner = _fake_kind("redis-kb-redis-1", _redis_pods("openim-poc-worker2"))
    kind = KindPlatform(runner, tmp_path, KindSettings())
    inj = inject(kind, _deployment(kind), Fault("pod-kill"))
    assert inj.instances == ("redis-kb-redis-1",) and inj.zone == "zone-b"
    deletes = [c for c in runner.commands() if " delete pod " in c]
    assert deletes == [
        f"kubectl --kubeconfig {tmp_path}/kubeconfig --context kind-openim-poc delete pod redis-kb-redis-1 "
        "-n openim-poc-redis-kubeblocks --grace-period=0 --force --wait=false"
    ]


def test_fake_cluster_zone_outage_stops_the_primary_zones_node_containers(tmp_path):
    runner = _fake_kind("redis-kb-redis-1", _redis_pods("openim-poc-worker2"))
    kind = KindPlatform(runner, tmp_path, KindSettings())
    inj = inject(kind, _deployment(kind), Fault("zone-outage", "primary", 10))
    assert inj.zone == "zone-b"
    assert inj.instances == ("redis-kb-redis-1", "redis-kb-redis-sentinel-1")
    assert [c for c in runner.commands() if c.startswith("docker")] == ["docker stop -t 0 openim-poc-worker2"]
    inj.recover()
    inj.recover()  # idempotent
    assert [c for c in runner.commands() if c.startswith("docker")][1:] == ["docker start openim-poc-worker2"]
    assert inj.recovered


W3 = ("172.18.0.5", "fc00:f853:ccd:e793::5")
INSPECT = "docker inspect --format '{{json .NetworkSettings.Networks}}' openim-poc-worker3"


def test_fake_cluster_zone_partition_reconnects_with_the_addresses_the_node_had(tmp_path):
    """Issue 11 #7: kind fixes a changed node IP only at container start, not on a live reconnect."""
    runner = _fake_kind("redis-kb-redis-1", _redis_pods("openim-poc-worker2"), networks={"openim-poc-worker3": W3})
    kind = KindPlatform(runner, tmp_path, KindSettings())
    dep = _deployment(kind)
    inj = inject(kind, dep, Fault("zone-partition", "zone-c", 10))
    assert inj.zone == "zone-c" and inj.instances == ()
    kind.teardown(dep)  # teardown recovers what is still in force
    docker = [c for c in runner.commands() if c.startswith("docker")]
    assert docker == [
        INSPECT,
        "docker network disconnect kind openim-poc-worker3",
        "docker network connect --ip 172.18.0.5 --ip6 fc00:f853:ccd:e793::5 kind openim-poc-worker3",
        INSPECT,  # checked after the reconnect
    ]


def test_fake_cluster_a_node_back_on_another_address_fails_the_recovery_clearly(tmp_path):
    networks = {"openim-poc-worker3": W3}
    runner = _fake_kind("redis-kb-redis-1", _redis_pods("openim-poc-worker2"), networks=networks)
    kind = KindPlatform(runner, tmp_path, KindSettings())
    inj = inject(kind, _deployment(kind), Fault("zone-partition", "zone-c", 10))
    networks["openim-poc-worker3"] = ("172.18.0.7", W3[1])  # what docker hands out without --ip
    with pytest.raises(DeployError, match=r"openim-poc-worker3 came back on the kind network as 172\.18\.0\.7 .* "
                                          r"instead of 172\.18\.0\.5"):
        inj.recover()


def test_fake_cluster_when_docker_refuses_ip_the_reconnect_is_plain_and_still_checked(tmp_path):
    refusal = "Error response from daemon: user specified IP address is supported only when connecting to networks with user configured subnets"
    runner = _fake_kind("redis-kb-redis-1", _redis_pods("openim-poc-worker2"), networks={"openim-poc-worker3": W3},
                        connect_error=refusal)
    kind = KindPlatform(runner, tmp_path, KindSettings())
    inject(kind, _deployment(kind), Fault("zone-partition", "zone-c", 10)).recover()
    docker = [c for c in runner.commands() if c.startswith("docker network connect") or c == INSPECT]
    assert docker[-3:] == ["docker network connect --ip 172.18.0.5 --ip6 fc00:f853:ccd:e793::5 kind openim-poc-worker3",
                           "docker network connect kind openim-poc-worker3", INSPECT]
    assert any("docker refused --ip" in s.text for s in runner.steps)


def _nodes(not_ready: str | None = None) -> dict:
    from k8s_fakes import node

    return {"items": [node(n["metadata"]["name"], n["metadata"]["labels"].get("topology.kubernetes.io/zone"),
                           ready=n["metadata"]["name"] != not_ready) for n in KIND_NODES["items"]]}


def _stub_tools(tmp_path):
    """Stub tools: the fake cluster answers instead, nothing is fetched."""
    tools = tmp_path / "t"
    tools.mkdir(exist_ok=True)
    for name in ("kind", "kubectl", "helm"):
        (tools / name).write_text("#!/bin/sh\nexit 99\n")
        (tools / name).chmod(0o755)
    return tools


def test_fake_cluster_creation_waits_for_the_ready_condition_not_only_the_zone_labels(tmp_path):
    """Issue 11 #9: labelled but NotReady workers are not a cluster to deploy on."""
    settings = KindSettings(tools_dir=_stub_tools(tmp_path))
    runner = _fake_kind("", [], nodes=_nodes(not_ready="openim-poc-worker2"))
    with pytest.raises(DeployError, match="3 worker nodes Ready"):
        KindPlatform(runner, tmp_path, settings).create_cluster()
    assert ("3 worker nodes Ready (condition Ready=True) with topology.kubernetes.io/zone zone-a/b/c, and the control plane",
            300) in runner.waits()
    KindPlatform(_fake_kind("", [], nodes=_nodes()), tmp_path, settings).create_cluster()


def test_fake_cluster_teardown_waits_for_the_restarted_zone_to_be_ready_then_deletes(tmp_path):
    """Issue 11 #9: the next cell must not start while the zone that was down is NotReady."""
    nodes = _nodes(not_ready="openim-poc-worker2")
    runner = _fake_kind("redis-kb-redis-1", _redis_pods("openim-poc-worker2"), nodes=nodes)
    kind = KindPlatform(runner, tmp_path, KindSettings())
    dep = _deployment(kind)
    inject(kind, dep, Fault("zone-outage", "primary", 10))
    with pytest.raises(DeployError, match="nodes of zone-b Ready again"):
        kind.teardown(dep)
    cmds = runner.commands()
    assert cmds.index("docker start openim-poc-worker2") < len(cmds) - 1
    assert cmds[-1].endswith("delete namespace openim-poc-redis-kubeblocks --ignore-not-found --wait=true --timeout=300s"), \
        "the namespace is deleted even when the zone does not come back"
    waits = [w for w, _ in runner.waits()]
    assert waits[-1] == "nodes of zone-b Ready again (topology.kubernetes.io/zone=zone-b, condition Ready=True)"
    nodes["items"][:] = _nodes()["items"]
    kind.teardown(dep)  # the second teardown only deletes; the zone was settled (or reported) once
    assert [w for w, _ in runner.waits()] == waits


def test_fake_cluster_kind_zone_outage_evidence_keeps_the_dead_primary_until_the_grace_period(tmp_path):
    """Issue 11 #2: on kind the dead primary stays a ready endpoint until its node is NotReady."""
    from k8s_fakes import endpoint_slice

    svc = "redis-kb-primary-nodeport"
    ns = "openim-poc-redis-kubeblocks"
    slices = {"now": endpoint_slice(svc, ("redis-kb-redis-1", "10.244.2.7", True))}
    runner = _fake_kind("redis-kb-redis-1", _redis_pods("openim-poc-worker2"))
    answer = runner._responder
    runner._responder = lambda argv: (CommandResult(0, slices["now"]) if "endpointslices" in " ".join(argv) and ns in argv
                                      else answer(argv))
    kind = KindPlatform(runner, tmp_path, KindSettings())
    kind.watch_interval_s = 0
    now = [500.0]
    kind.clock = lambda: now[0]
    dep = _deployment(kind)
    inject(kind, dep, Fault("zone-outage", "primary", 90))
    dep.handle.watch.injected_at_wall = 500.0
    now[0], slices["now"] = 552.0, endpoint_slice(svc, ("redis-kb-redis-0", "10.244.1.5", True))
    dep.handle.watch.sample()
    ev = kind.endpoint_evidence(dep)
    assert ev["endpoint_removal_s"] == 52.0 and ev["hit"] == ["redis-kb-redis-1"]
    assert (ev["node_monitor_grace_period_s"], ev["grace_period_source"]) == (
        50.0, "Kubernetes 1.32 default (not set in kube-controller-manager's flags)")


def test_data_protection_applies_the_pinned_snapshot_crds_before_the_chart(tmp_path):
    """Issue 11 #5: v1.0.2's CRD bundle omits the VolumeSnapshot CRDs its backup controller watches."""
    from harness.platforms.k8s_preflight import ClusterSettings

    steps = dry_run_plan("kind", [], out=None)
    text = "\n".join(map(str, steps))
    assert "--set dataProtection.enabled=false" in text and "snapshot.storage" not in text
    kind = KindPlatform(DryRunRunner(out=None), tmp_path, KindSettings(extra=ClusterSettings(data_protection=True)))
    kind.setup()
    lines = [str(s) for s in kind.runner.steps]
    snaps = [i for i, line in enumerate(lines) if "snapshot.storage.k8s.io_volumesnapshot" in line]
    chart = _index(lines, "upgrade --install kubeblocks")
    assert len(snaps) == 3 and max(snaps) < chart and "dataProtection.enabled" not in lines[chart]
    assert all("apply --server-side --force-conflicts -f - <" in lines[i] and "sha256" in lines[i] for i in snaps)
    assert "30c8209a0ff2c7b8b90eaf0625c29265bffd2cfe" in lines[snaps[0]], "pinned to the v1.0.2 commit"


def test_snapshot_crd_fetch_refuses_bytes_that_do_not_match_the_pin(tmp_path):
    import hashlib

    from harness.errors import HarnessError
    from harness.platforms.tools import fetch_verified

    f = tmp_path / "crd.yaml"
    f.write_bytes(b"kind: CustomResourceDefinition\n")
    good = hashlib.sha256(f.read_bytes()).hexdigest()
    assert fetch_verified(f.as_uri(), good, "snapshot CRD crd.yaml") == f.read_bytes()
    with pytest.raises(HarnessError, match="sha256 .* != pinned .*; not used"):
        fetch_verified(f.as_uri(), "0" * 64, "snapshot CRD crd.yaml")


def test_fake_cluster_two_primaries_is_an_error_not_a_guess(tmp_path):
    from harness.faults import FaultTargetError

    pods = _redis_pods("openim-poc-worker2")
    pods[0]["metadata"]["labels"]["kubeblocks.io/role"] = "primary"
    kind = KindPlatform(_fake_kind("", pods), tmp_path, KindSettings())
    with pytest.raises(FaultTargetError, match=r"no single primary .* 2 pods report primary \(redis-kb-redis-0, redis-kb-redis-1\)"):
        inject(kind, _deployment(kind), Fault("pod-kill"))
    assert not [c for c in kind.runner.commands() if " delete pod " in c], "nothing was killed on a guess"


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
        "get endpointslices",
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


def test_cli_dry_run_on_kind_holds_zone_faults_90_s(tmp_path, capsys):
    """Issue 11 #2: the plan and the command list both show the kind floor of a zone fault."""
    from harness.cli import main

    rc = main(["run", "zone-outage", "--engines", "mysql", "--modes", "kubeblocks", "--platform", "kind", "--dry-run",
               "--out", str(tmp_path / "reports")])
    text = capsys.readouterr().out
    assert rc == 0
    assert ("inject zone-outage (primary) at 6 s, recover after 90 s (kind's minimum for this scenario; its timings "
            "say 28 s)") in text
    assert "fault in force on mysql-kb-mysql-0 (zone zone-a); hold 90 s" in text
    rc = main(["run", "zone-outage", "--engines", "mysql", "--modes", "kubeblocks", "--platform", "local", "--dry-run",
               "--out", str(tmp_path / "reports")])
    assert "recover after 28 s ->" in capsys.readouterr().out, "local keeps the profile's timings"
