"""The shared kubernetes logic, the command runner and the pinned tools."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import subprocess
import sys
import tarfile
import time

import pytest
from k8s_fakes import KIND_NODES, REPO, FakeCluster, items, plan_cell, pod

from harness.contracts import DeploySpec, Fault, Platform
from harness.dryrun import dry_run_plan
from harness.errors import CellNotApplicable, DeployError, HarnessError
from harness.faults import inject
from harness.platforms.commands import CommandResult, DryRunRunner, RealRunner
from harness.platforms.k8s_parse import parse_switch_master
from harness.platforms.k8s_preflight import ClusterSettings
from harness.platforms.kubernetes import KubernetesPlatform
from harness.platforms.tools import ToolPin, fetch_tool, find_tool, tool_check

SPEC = DeploySpec(ready_timeout_s=5)
SECRET_VALUE = "s3cr3t-Value-xyz"


# -- runner ------------------------------------------------------------------------------------


def test_real_runner_runs_and_reports_failures(tmp_path):
    r = RealRunner()
    (tmp_path / "v").write_text(SECRET_VALUE)
    assert r.run(["sh", "-c", "echo hi"]).stdout == "hi\n"
    with pytest.raises(DeployError, match="exit 3: boom"):
        r.run(["sh", "-c", "echo boom >&2; exit 3"])
    with pytest.raises(DeployError) as e:
        r.run(["sh", "-c", f"cat {tmp_path / 'v'} >&2; exit 1"], quiet=True)
    assert SECRET_VALUE not in str(e.value)
    assert r.run(["sh", "-c", "exit 4"], check=False).returncode == 4


def test_real_runner_never_records_stdin():
    r = RealRunner()
    out = r.run(["cat"], stdin=SECRET_VALUE, stdin_label="secret/x (value not shown)")
    assert out.stdout == SECRET_VALUE
    assert [str(s) for s in r.steps] == ["$ cat < secret/x (value not shown)"]


def test_real_runner_wait_polls_until_ready_and_names_what_timed_out():
    r = RealRunner()
    calls = []
    r.wait("thing ready", lambda: calls.append(1) or len(calls) >= 3, timeout_s=30, interval_s=0.01)
    assert len(calls) == 3
    with pytest.raises(DeployError, match="waiting for never ready"):
        r.wait("never ready", lambda: False, timeout_s=0.05, interval_s=0.01)


def test_real_runner_missing_binary_is_one_clear_error():
    with pytest.raises(HarnessError, match="not found"):
        RealRunner().run(["no-such-tool-xyz"])


def test_dry_run_runner_prints_and_executes_nothing(tmp_path):
    out = io.StringIO()
    marker = tmp_path / "touched"
    r = DryRunRunner(out=out)
    r.run(["touch", str(marker)])
    r.run(["kubectl", "apply", "-f", "-"], stdin=SECRET_VALUE, stdin_label="secret/x (value not shown)")
    r.wait("cluster/x phase=Running", lambda: pytest.fail("a dry-run must not poll"), 10)
    assert not marker.exists()
    assert out.getvalue().splitlines() == [
        f"$ touch {marker}",
        "$ kubectl apply -f - < secret/x (value not shown)",
        "wait: cluster/x phase=Running (up to 10 s)",
    ]


# -- tools ---------------------------------------------------------------------------------------


def _pin(url: str, sha: dict[str, str], member: str | None = None) -> ToolPin:
    return ToolPin("faketool", "1.0.0", url, sha, member=member)


def test_fetch_tool_installs_only_a_matching_checksum(tmp_path):
    blob = b"#!/bin/sh\necho faketool v1.0.0\n"
    src = tmp_path / "faketool-linux-amd64"
    src.write_bytes(blob)
    good = _pin(src.as_uri(), {"amd64": hashlib.sha256(blob).hexdigest()})
    path = fetch_tool(good, tmp_path / "tools", arch="amd64")
    assert path.read_bytes() == blob and path.stat().st_mode & 0o111
    assert subprocess.run([str(path)], capture_output=True, text=True).stdout.strip() == "faketool v1.0.0"

    bad = _pin(src.as_uri(), {"amd64": "0" * 64})
    with pytest.raises(HarnessError, match="sha256 .* != pinned"):
        fetch_tool(bad, tmp_path / "tools2", arch="amd64")
    assert not (tmp_path / "tools2" / "faketool").exists()


def test_fetch_tool_refuses_without_a_pinned_checksum(tmp_path):
    src = tmp_path / "f"
    src.write_bytes(b"x")
    with pytest.raises(HarnessError, match="no sha256 pinned .* refusing"):
        fetch_tool(_pin(src.as_uri(), {}), tmp_path / "tools", arch="arm64")
    check = tool_check("kubectl", tmp_path / "none", arch="s390x") if find_tool("kubectl", tmp_path) is None else None
    if check is not None:
        assert not check.ok and check.required and "no checksum is pinned" in check.detail


def test_fetch_tool_extracts_the_member_of_a_tarball(tmp_path):
    blob = b"#!/bin/sh\necho helm\n"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("linux-amd64/faketool")
        info.size = len(blob)
        tar.addfile(info, io.BytesIO(blob))
    src = tmp_path / "faketool.tar.gz"
    src.write_bytes(buf.getvalue())
    pin = _pin(src.as_uri(), {"amd64": hashlib.sha256(buf.getvalue()).hexdigest()}, member="linux-{arch}/faketool")
    assert fetch_tool(pin, tmp_path / "tools", arch="amd64").read_bytes() == blob


def test_tools_folder_is_used_when_not_on_path(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert find_tool("kind", tmp_path) is None
    (tmp_path / "kind").write_text("#!/bin/sh\necho kind v0.27.0 go1.23 linux/amd64\n")
    (tmp_path / "kind").chmod(0o755)
    assert find_tool("kind", tmp_path) == tmp_path / "kind"
    check = tool_check("kind", tmp_path)
    assert check.ok and check.version == "0.27.0"


# -- the k8s platform against a fake cluster ---------------------------------------------------


def _fake_k8s(pods_by_ns: dict[str, list[dict]] | None = None, sentinel_log: str = "", **state):
    """A fake cluster. `state` (mutable through `runner.state`): `kubeblocks` (the installed operator's
    version), `slices` (ns -> EndpointSlices JSON), `events` (ns -> Events JSON), `kcm` (the
    kube-controller-manager pods JSON), `phase` (every Cluster's phase)."""
    pods_by_ns = pods_by_ns if pods_by_ns is not None else {}
    encoded = base64.b64encode(SECRET_VALUE.encode()).decode()
    secret = {"data": {key: encoded for key in ("password", "mysql-password", "redis-password", "mongodb-password")}}
    state = {"kubeblocks": None, "slices": {}, "events": {}, "kcm": "", "phase": "Running", **state}

    def answer(argv):
        cmd = " ".join(argv)
        ns = argv[argv.index("-n") + 1] if "-n" in argv else ""
        if "get nodes -o json" in cmd:
            return CommandResult(0, json.dumps(KIND_NODES))
        if "get crd clusters.apps.kubeblocks.io" in cmd:
            return CommandResult(0, "customresourcedefinition/clusters.apps.kubeblocks.io" if state.get("crds") else "")
        if "get deployments -A" in cmd:
            version = state["kubeblocks"]
            labels = {"app.kubernetes.io/name": "kubeblocks", "app.kubernetes.io/version": version}
            return CommandResult(0, items(*([{"metadata": {"name": "kubeblocks", "labels": labels}}] if version else [])))
        if "get pods -n kube-system" in cmd:
            return CommandResult(0, state["kcm"])
        if "get pods" in cmd:
            return CommandResult(0, items(*pods_by_ns.get(ns, [])))
        if "get endpointslices" in cmd:
            return CommandResult(0, state["slices"].get(ns, items()))
        if "get events" in cmd:
            return CommandResult(0, state["events"].get(ns, items()))
        if "componentversions" in cmd:
            return CommandResult(0, json.dumps({"status": {"serviceVersions": "8.0.44,8.0.46,8.4.9"}}))
        if "clusters.apps.kubeblocks.io" in cmd and "get" in argv:
            return CommandResult(0, state["phase"])
        if "clusterdefinitions.apps.kubeblocks.io" in cmd:
            return CommandResult(0, "Available")
        if "get secret/" in cmd:
            return CommandResult(0, json.dumps(secret))
        if "jsonpath={.status.readyReplicas}" in cmd:
            return CommandResult(0, "1")
        if "addons.extensions" in cmd:
            return CommandResult(0, "Enabled")
        if argv[1:2] == ["logs"] or " logs " in cmd:
            return CommandResult(0, sentinel_log)
        return None

    runner = FakeCluster(answer)
    runner.state = state
    return runner


MYSQL_NS = "openim-poc-mysql-kubeblocks"
MYSQL_PODS = [
    pod("mysql-kb-mysql-0", "openim-poc-worker", "secondary", "mysql", "mysql-kb", "10.0.0.1"),
    pod("mysql-kb-mysql-1", "openim-poc-worker3", "primary", "mysql", "mysql-kb", "10.0.0.2"),
]


def _k8s(runner, tmp_path):
    """Stub tools in the tools folder: the fake cluster answers instead, nothing is fetched."""
    tools = tmp_path / "t"
    tools.mkdir(exist_ok=True)
    for name in ("kubectl", "helm"):
        (tools / name).write_text("#!/bin/sh\nexit 99\n")
        (tools / name).chmod(0o755)
    return KubernetesPlatform(runner, tmp_path, ClusterSettings(node_address="127.0.0.1", tools_dir=tools))


def test_fake_cluster_deploy_kubeblocks_picks_service_version_and_waits(tmp_path):
    runner = _fake_k8s({MYSQL_NS: MYSQL_PODS})
    k8s = _k8s(runner, tmp_path)
    dep = k8s.deploy("mysql", "kubeblocks", SPEC)
    assert dep.version == "8.0.46" and dep.topology.replicas == 2
    written = (tmp_path / "manifests" / MYSQL_NS / "cluster-mysql-kb.yaml").read_text()
    assert "serviceVersion: 8.0.46" in written
    waits = [s.text for s in runner.steps if s.kind == "wait"]
    assert waits[-2:] == [
        f"cluster/mysql-kb -n {MYSQL_NS} status.phase=Running",
        f"exactly one pod kubeblocks.io/role=primary in {MYSQL_NS} (app.kubernetes.io/instance=mysql-kb)",
    ]
    ep = k8s.endpoint(dep)
    assert ep.password == SECRET_VALUE and ep.user == "root"
    assert ep.addresses == (("127.0.0.1", 30306),)
    assert SECRET_VALUE not in "\n".join(map(str, runner.steps)) and SECRET_VALUE not in repr(ep)


def test_fake_cluster_deploy_waits_fail_without_one_primary(tmp_path):
    no_primary = [dict(p, metadata=dict(p["metadata"], labels={**p["metadata"]["labels"], "kubeblocks.io/role": "secondary"})) for p in MYSQL_PODS]
    k8s = _k8s(_fake_k8s({MYSQL_NS: no_primary}), tmp_path)
    with pytest.raises(DeployError, match="exactly one pod kubeblocks.io/role=primary"):
        k8s.deploy("mysql", "kubeblocks", SPEC)


def test_fake_cluster_statefulset_secret_goes_on_stdin_only(tmp_path):
    runner = _fake_k8s()
    k8s = _k8s(runner, tmp_path)
    k8s.deploy("redis", "statefulset", SPEC)
    assert len(runner.stdins) == 1 and "kind: Secret" in runner.stdins[0]
    password = next(line.split(":", 1)[1].strip() for line in runner.stdins[0].splitlines() if "redis-password" in line)
    assert len(password) >= 24
    text = "\n".join(map(str, runner.steps))
    assert password not in text and "secret/redis-secret (value not shown)" in text
    assert not list((tmp_path / "manifests").rglob("secret-*")), "Secrets are never written to disk"


def test_fake_cluster_k8s_zone_outage_cordons_and_force_deletes(tmp_path):
    runner = _fake_k8s({MYSQL_NS: MYSQL_PODS})
    k8s = _k8s(runner, tmp_path)
    dep = k8s.deploy("mysql", "kubeblocks", SPEC)
    before = len(runner.commands())
    inj = inject(k8s, dep, Fault("zone-outage", "primary", 10))
    assert inj.zone == "zone-c" and inj.instances == ("mysql-kb-mysql-1",)
    cmds = [c.split(" ", 1)[1] for c in runner.commands()[before:] if "get " not in c and " version " not in c]
    assert cmds == [
        "cordon -l topology.kubernetes.io/zone=zone-c",
        f"delete pod mysql-kb-mysql-1 -n {MYSQL_NS} --grace-period=0 --force --wait=false",
    ]
    inj.recover()
    assert runner.commands()[-1].endswith("kubectl uncordon -l topology.kubernetes.io/zone=zone-c")


def test_fake_cluster_k8s_faults_that_need_more_are_not_applicable(tmp_path):
    k8s = _k8s(_fake_k8s({MYSQL_NS: MYSQL_PODS}), tmp_path)
    dep = k8s.deploy("mysql", "kubeblocks", SPEC)
    with pytest.raises(CellNotApplicable, match="zone-partition"):
        inject(k8s, dep, Fault("zone-partition", "zone-a", 5))
    with pytest.raises(CellNotApplicable, match="pod-freeze"):
        inject(k8s, dep, Fault("pod-freeze", "primary", 5))
    sts = k8s.deploy("mysql", "statefulset", SPEC)
    with pytest.raises(CellNotApplicable, match="no secondary"):
        inject(k8s, sts, Fault("pod-kill", "secondary"))


def test_fake_cluster_teardown_is_namespace_scoped_and_safe_twice(tmp_path):
    runner = _fake_k8s({MYSQL_NS: MYSQL_PODS})
    k8s = _k8s(runner, tmp_path)
    dep = k8s.deploy("mysql", "kubeblocks", SPEC)
    before = len(runner.commands())
    k8s.teardown(dep)
    k8s.teardown(dep)
    deletes = runner.commands()[before:]
    assert all(("--ignore-not-found" in c and f" {MYSQL_NS}" in c) for c in deletes)
    assert [c.split()[2] for c in deletes] == ["clusters.apps.kubeblocks.io/mysql-kb", "namespace"] * 2


# KubeBlocks' redis addon announces pod FQDNs (`replica-announce-ip <fqdn>`; Sentinel with
# `resolve-hostnames yes` and `announce-hostnames yes`), so +switch-master names hosts, not IPs.
FQDN = "{pod}.redis-kb-redis-headless.openim-poc-redis-kubeblocks.svc.cluster.local"
OLD, NEW = FQDN.format(pod="redis-kb-redis-0"), FQDN.format(pod="redis-kb-redis-1")
SENTINEL_LOG = f"""\
[pod/redis-kb-redis-sentinel-0/redis-sentinel] 2026-03-01T10:00:01.500000000Z 1:X 01 Mar 10:00:01.500 # +sdown master redis-kb-redis {OLD} 6379
[pod/redis-kb-redis-sentinel-0/redis-sentinel] 2026-03-01T10:00:21.250000000Z 1:X 01 Mar 10:00:21.250 # +switch-master redis-kb-redis {OLD} 6379 {NEW} 6379
[pod/redis-kb-redis-sentinel-1/redis-sentinel] 2026-03-01T10:00:21.260000000Z 1:X 01 Mar 10:00:21.260 # +switch-master redis-kb-redis {OLD} 6379 {NEW} 6379
"""


def test_parse_switch_master_reads_sentinel_timestamps():
    got = parse_switch_master(SENTINEL_LOG)
    assert [addr for _, addr in got] == [NEW, NEW]
    assert got[0][0] == pytest.approx(1772359221.25)


def test_sentinel_names_a_pod_by_fqdn_or_by_ip():
    """Issue 11 #8: the announced FQDN's first label is the pod; an IP is looked up."""
    from harness.platforms.k8s_parse import sentinel_pod_name

    assert sentinel_pod_name(NEW, {"10.0.0.6": "redis-kb-redis-1"}) == "redis-kb-redis-1"
    assert sentinel_pod_name("10.0.0.6", {"10.0.0.6": "redis-kb-redis-1"}) == "redis-kb-redis-1"
    assert sentinel_pod_name("fd00::6", {}) == "fd00::6"


def test_fake_cluster_role_changes_from_sentinel_and_from_role_label(tmp_path):
    ns = "openim-poc-redis-kubeblocks"
    redis_pods = [
        pod("redis-kb-redis-0", "openim-poc-worker", "secondary", "redis", "redis-kb", "10.0.0.5"),
        pod("redis-kb-redis-1", "openim-poc-worker2", "primary", "redis", "redis-kb", "10.0.0.6"),
    ]
    pods = {ns: redis_pods, MYSQL_NS: MYSQL_PODS}
    runner = _fake_k8s(pods, SENTINEL_LOG)
    k8s = _k8s(runner, tmp_path)
    changes = k8s.role_changes(k8s.deploy("redis", "kubeblocks", SPEC))
    assert [(c.new_primary, c.source) for c in changes] == [("redis-kb-redis-1", "sentinel +switch-master")]

    dep = k8s.deploy("mysql", "kubeblocks", SPEC)
    assert k8s.role_changes(dep) == []
    pods[MYSQL_NS] = [
        pod("mysql-kb-mysql-0", "openim-poc-worker", "primary", "mysql", "mysql-kb", "10.0.0.1"),
        pod("mysql-kb-mysql-1", "openim-poc-worker3", None, "mysql", "mysql-kb", "10.0.0.2", ready=False),
    ]
    k8s.pods(dep)
    assert [c.new_primary for c in k8s.role_changes(dep)] == ["mysql-kb-mysql-0"]


# -- issue 11: first contact with a real KubeBlocks 1.0.2 ---------------------------------------


def test_seed_retries_until_the_server_takes_a_connection(monkeypatch):
    """Issue 11 #1: a Ready pod may still refuse connections (init server, NodePort programming)."""
    from harness import workload_parts

    calls = []

    def seed():
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionRefusedError(111, "Connection refused")
        return "seeded"

    assert workload_parts.seed_with_retry(seed, "mysql/statefulset 127.0.0.1:30307", deadline_s=5, interval_s=0.01) == "seeded"
    assert len(calls) == 3
    # the real seed of every platform goes through it, with the named deadline
    assert workload_parts.SEED_CONNECT_DEADLINE_S >= 60
    import harness.workload.driver as driver

    tries = []

    def seed_data(*_args):
        tries.append(1)
        if len(tries) < 2:
            raise ConnectionResetError(104, "Connection reset by peer")
        return "ok"

    monkeypatch.setattr(driver, "seed_data", seed_data)
    monkeypatch.setattr(workload_parts, "SEED_RETRY_INTERVAL_S", 0.01)
    from harness.config import build_settings
    from harness.contracts import Endpoint

    ep = Endpoint("redis", "statefulset", (("127.0.0.1", 1),), password="x")
    assert workload_parts.RealWorkload(registry=None).seed(ep, "redis", build_settings("quick")) == "ok"
    assert len(tries) == 2


def test_seed_gives_up_at_its_deadline_with_a_clear_error_and_never_retries_other_errors():
    from pymysql.err import OperationalError

    from harness import workload_parts

    def refused():
        raise OperationalError(2003, "Can't connect to MySQL server on '127.0.0.1' ([Errno 111] Connection refused)")

    with pytest.raises(RuntimeError, match=r"seed: mysql/x did not take a connection within 0 s \(1 attempts\); "
                                           r"last error OperationalError"):
        workload_parts.seed_with_retry(refused, "mysql/x", deadline_s=0.0, interval_s=0.01)
    calls = []

    def bad_sql():
        calls.append(1)
        raise OperationalError(1064, "You have an error in your SQL syntax")

    with pytest.raises(OperationalError):
        workload_parts.seed_with_retry(bad_sql, "mysql/x", deadline_s=5, interval_s=0.01)
    assert calls == [1], "an error that is not 'unreachable' fails at once"


def test_fake_cluster_deploy_waits_at_least_600_s_and_names_the_slow_image_pull(tmp_path):
    """Issue 11 #4: 120 s is too short for a first deploy's image pulls; the error says which pull."""
    events = items(
        {"reason": "Pulling", "message": 'Pulling image "docker.io/apecloud/syncer:0.7.7"',
         "firstTimestamp": "2026-03-01T10:00:00Z", "involvedObject": {"name": "mysql-kb-mysql-0"}},
        {"reason": "Pulled", "message": 'Successfully pulled image "docker.io/mysql:8.0.44" in 4m12.5s '
         '(4m12.5s including waiting). Image size: 180000000 bytes.', "involvedObject": {"name": "mysql-kb-mysql-0"}},
        {"reason": "Pulled", "message": 'Container image "docker.io/apecloud/kubeblocks-tools:1.0.2" already present on machine',
         "involvedObject": {"name": "mysql-kb-mysql-0"}},
    )
    runner = _fake_k8s({MYSQL_NS: MYSQL_PODS}, phase="Creating", events={MYSQL_NS: events})
    k8s = _k8s(runner, tmp_path)
    k8s.clock = lambda: 1772359200.0 + 600  # ten minutes after the pull started
    with pytest.raises(DeployError) as e:
        k8s.deploy("mysql", "kubeblocks", SPEC)  # SPEC asks for 5 s: kind/k8s raise it
    msg = str(e.value)
    assert "status.phase=Running" in msg
    assert "docker.io/apecloud/syncer:0.7.7 still pulling after 600 s" in msg
    assert "docker.io/mysql:8.0.44 pulled in 252 s" in msg
    deploy_waits = [t for w, t in runner.waits() if "cluster/mysql-kb" in w or "readyReplicas" in w]
    assert deploy_waits and all(t >= 600 for t in deploy_waits)
    # a deploy that works notes its slow pulls
    runner.state["phase"] = "Running"
    k8s.deploy("mysql", "kubeblocks", SPEC)
    assert any("slow image pulls" in s.text and "mysql:8.0.44 pulled in 252 s" in s.text for s in runner.steps)
    sts = k8s.deploy("redis", "statefulset", SPEC)
    assert sts and [t for w, t in runner.waits() if "readyReplicas=1" in w] == [600.0]


def test_fake_cluster_k8s_uses_an_installed_kubeblocks_1_0_2_as_it_is(tmp_path):
    """Issue 11 #6: no CRD re-apply, no helm upgrade; ClusterDefinitions, not Addon CRs."""
    runner = _fake_k8s({MYSQL_NS: MYSQL_PODS}, kubeblocks="1.0.2")
    k8s = _k8s(runner, tmp_path)
    k8s.setup()
    cmds = "\n".join(runner.commands())
    assert "kubeblocks_crds.yaml" not in cmds and "helm" not in cmds.replace(str(tmp_path), "")
    assert k8s.kubeblocks_found == "1.0.2"
    waits = [w for w, _ in runner.waits()]
    assert waits == [f"clusterdefinition/{e} status.phase=Available" for e in ("mysql", "redis", "mongodb")] + [
        "deployment/prometheus -n openim-poc-observability ready (its /-/ready probe passes)"]
    assert any("KubeBlocks 1.0.2 is installed: used as it is" in s.text for s in runner.steps)


def test_fake_cluster_k8s_refuses_another_kubeblocks_version_unless_asked(tmp_path):
    runner = _fake_k8s(kubeblocks="0.9.5")
    with pytest.raises(HarnessError, match=r"KubeBlocks 0\.9\.5 is installed .* pass --install-kubeblocks"):
        _k8s(runner, tmp_path).setup()
    assert not any("upgrade --install" in c or "--server-side" in c for c in runner.commands()), "nothing changed"

    # CRDs but no operator Deployment the chart labels (another release name, nameOverride): not touched either
    runner = _fake_k8s(crds=True)
    with pytest.raises(HarnessError, match=r"KubeBlocks unknown \(its CRDs are installed"):
        _k8s(runner, tmp_path).setup()
    assert not any("upgrade --install" in c for c in runner.commands())

    runner = _fake_k8s(kubeblocks="0.9.5")
    tools = tmp_path / "t"
    asked = KubernetesPlatform(runner, tmp_path, ClusterSettings(node_address="127.0.0.1", tools_dir=tools,
                                                                 install_kubeblocks=True))
    asked.setup()
    cmds = runner.commands()
    assert any("kubeblocks_crds.yaml" in c for c in cmds) and any("upgrade --install kubeblocks" in c for c in cmds)
    assert [w for w, _ in runner.waits() if "prometheus" not in w][-1] == "clusterdefinition/mongodb status.phase=Available"


def test_kubeblocks_decision_and_version_parsing():
    from harness.platforms.k8s_parse import kubeblocks_decision, kubeblocks_version_of

    assert kubeblocks_decision(None, "1.0.2", False)[0] == "install"
    assert kubeblocks_decision("1.0.2", "1.0.2", False)[0] == "use"
    assert kubeblocks_decision("1.0.1", "1.0.2", False)[0] == "refuse"
    assert kubeblocks_decision("1.0.1", "1.0.2", True)[0] == "install"
    image_only = items({"metadata": {"labels": {}}, "spec": {"template": {"spec": {"containers": [
        {"image": "apecloud-registry.cn-zhangjiakou.cr.aliyuncs.com/apecloud/kubeblocks:1.0.1"}]}}}})
    assert kubeblocks_version_of(image_only) == "1.0.1"
    assert kubeblocks_version_of(items()) is None


def test_cli_run_accepts_install_kubeblocks(tmp_path, capsys):
    from harness.cli import build_parser

    args = build_parser().parse_args(["run", "--platform", "k8s", "--install-kubeblocks", "--dry-run"])
    assert args.install_kubeblocks is True
    assert build_parser().parse_args(["run"]).install_kubeblocks is False


def test_fake_cluster_mysql_role_change_is_seen_during_the_fault_with_its_event_time(tmp_path):
    """Issue 11 #3: nothing called pods() after injection, so role_changes() was always empty."""
    pods = {MYSQL_NS: list(MYSQL_PODS)}
    runner = _fake_k8s(pods)
    k8s = _k8s(runner, tmp_path)
    k8s.watch_interval_s = 0  # no background thread: the test drives the polls
    dep = k8s.deploy("mysql", "kubeblocks", SPEC)
    inj = inject(k8s, dep, Fault("pod-kill"))
    promoted_us = int((inj.injected_at_wall + 0.002) * 1e6)  # the role event, 2 ms after the kill
    pods[MYSQL_NS] = [
        pod("mysql-kb-mysql-0", "openim-poc-worker", "primary", "mysql", "mysql-kb", "10.0.0.1", role_event_us=promoted_us),
        pod("mysql-kb-mysql-1", "openim-poc-worker3", None, "mysql", "mysql-kb", "10.0.0.2", ready=False),
    ]
    dep.handle.watch.sample()  # one poll of the fault's watch
    pods[MYSQL_NS] = [  # the old primary comes back as a secondary before the evidence is read
        pod("mysql-kb-mysql-0", "openim-poc-worker", "primary", "mysql", "mysql-kb", "10.0.0.1", role_event_us=promoted_us),
        pod("mysql-kb-mysql-1", "openim-poc-worker3", "secondary", "mysql", "mysql-kb", "10.0.0.2"),
    ]
    changes = k8s.role_changes(dep)
    assert [(c.new_primary, c.source) for c in changes] == [("mysql-kb-mysql-0", "kubeblocks.io/role label, role event time")]
    assert changes[0].at_wall == pytest.approx(promoted_us / 1e6)


def test_fake_cluster_a_stale_primary_label_is_a_change_once_never_a_change_back(tmp_path):
    """A dead primary keeps its label (KubeBlocks relabels only from the pod's own probe): two labelled."""
    from harness.platforms.k8s_evidence import next_primary

    t = time.time()
    seen = []
    for labelled in ({"a": t - 100}, {"a": t - 100, "b": t - 5}, {"a": t - 100, "b": t - 5}, {"b": t - 5}):
        change = next_primary(seen, labelled, observed_at=t)
        if change:
            seen.append(change)
    assert [s.pod for s in seen] == ["a", "b"]
    assert seen[1].at_wall == t - 5 and "(2 pods labelled primary)" in seen[1].source
    # no role event time (older KubeBlocks): the time the label was seen
    late = next_primary(seen, {"c": None}, observed_at=t + 1)
    assert late.pod == "c" and late.at_wall == t + 1 and late.source == "kubeblocks.io/role label seen by polling"


def test_fake_cluster_watch_polls_endpoints_in_the_background_until_the_evidence_is_read(tmp_path):
    """Issue 11 #2: the watch runs from injection to evidence; its polls stay out of the step log."""
    import threading

    polled = threading.Event()
    runner = _fake_k8s({MYSQL_NS: list(MYSQL_PODS)})
    answer = runner._responder
    count = []

    def counting(argv):
        if "endpointslices" in " ".join(argv):
            count.append(1)
            if len(count) >= 4:
                polled.set()
        return answer(argv)

    runner._responder = counting
    k8s = _k8s(runner, tmp_path)
    k8s.watch_interval_s = 0.01
    dep = k8s.deploy("mysql", "kubeblocks", SPEC)
    inject(k8s, dep, Fault("zone-outage", "primary", 10))
    assert polled.wait(10), "the watch polled in the background"
    ev = k8s.endpoint_evidence(dep)
    assert not dep.handle.watch.running
    assert ev["polls"] >= 4 and ev["service"] == "mysql-kb-primary-nodeport"
    echoed = [c for c in runner.commands() if "endpointslices" in c]
    assert len(echoed) == 1, "only the first poll is in the step log"
    k8s.teardown(dep)


def test_fake_cluster_endpoint_evidence_times_the_removal_and_records_the_grace_period(tmp_path):
    from k8s_fakes import controller_manager, endpoint_slice

    svc = "mysql-kb-primary-nodeport"
    runner = _fake_k8s({MYSQL_NS: list(MYSQL_PODS)}, kcm=controller_manager("--node-monitor-grace-period=40s"),
                       slices={MYSQL_NS: endpoint_slice(svc, ("mysql-kb-mysql-1", "10.0.0.2", True))})
    k8s = _k8s(runner, tmp_path)
    k8s.watch_interval_s = 0
    now = [1000.0]
    k8s.clock = lambda: now[0]
    dep = k8s.deploy("mysql", "kubeblocks", SPEC)
    inject(k8s, dep, Fault("zone-outage", "primary", 10))
    dep.handle.watch.injected_at_wall = 1000.0
    two = endpoint_slice(svc, ("mysql-kb-mysql-0", "10.0.0.1", True), ("mysql-kb-mysql-1", "10.0.0.2", True))
    for t, slices in ((1012.0, two), (1030.0, two), (1041.5, endpoint_slice(svc, ("mysql-kb-mysql-0", "10.0.0.1", True),
                                                                           ("mysql-kb-mysql-1", "10.0.0.2", False)))):
        now[0] = t
        runner.state["slices"][MYSQL_NS] = slices
        dep.handle.watch.sample()
    ev = k8s.endpoint_evidence(dep)
    assert ev["hit"] == ["mysql-kb-mysql-1"] and ev["removed_after_s"] == {"mysql-kb-mysql-1": 41.5}
    assert ev["endpoint_removal_s"] == 41.5
    assert ev["max_ready_endpoints"] == 2 and ev["multiple_ready_s"] == pytest.approx(29.5)
    assert ev["node_monitor_grace_period_s"] == 40.0
    assert ev["grace_period_source"] == "kube-controller-manager flag --node-monitor-grace-period=40s"
    assert [len(e["endpoints"]) for e in ev["timeline"]] == [1, 2, 2], "a change is recorded once"
    json.dumps(ev)  # goes into results.json as it is


def test_grace_period_default_when_the_flag_is_not_set():
    from k8s_fakes import controller_manager

    from harness.platforms.k8s_evidence import controller_manager_flag, default_node_monitor_grace_s

    assert controller_manager_flag(controller_manager("--leader-elect=true"), "--node-monitor-grace-period") == (True, None)
    assert controller_manager_flag("", "--node-monitor-grace-period") == (False, None)
    assert default_node_monitor_grace_s(32) == 50.0 and default_node_monitor_grace_s(31) == 40.0


def test_cell_record_carries_the_endpoint_evidence_next_to_role_changes(tmp_path, monkeypatch):
    """The run loop stores the platform's optional evidence as `service_endpoints` in results.json."""
    from _runfakes import FakePlatform, FakeWorkload

    from harness.config import build_settings
    from harness.results import read_results
    from harness.runloop import RunRequest, execute

    monkeypatch.setenv("HARNESS_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("HARNESS_WORK_DIR", str(tmp_path / "work"))

    class WithEndpoints(FakePlatform):
        def endpoint_evidence(self, dep):
            return {"service": "redis-kb-primary-nodeport", "hit": ["fake-0"], "endpoint_removal_s": 51.0,
                    "node_monitor_grace_period_s": 50.0}

    fast = {"timings": {"*": {"warmup_s": 0.1, "before_fault_s": 0.3, "observe_s": 0.3}}}
    req = RunRequest(scenarios=["pod-kill-primary"], platform="local", engines=["redis"], modes=["kubeblocks"],
                     settings=build_settings("quick", overrides=fast), out=tmp_path / "out")
    assert execute(req, workload=FakeWorkload(), stream=io.StringIO(), platform_factory=lambda *a: WithEndpoints()) == 0
    cell = read_results(tmp_path / "out" / "latest")["cells"][0]
    assert cell["service_endpoints"]["endpoint_removal_s"] == 51.0
    assert cell["service_endpoints"]["node_monitor_grace_period_s"] == 50.0
    md = (tmp_path / "out" / "latest" / "report.md").read_text()
    assert ("redis/kubeblocks: service redis-kb-primary-nodeport kept fake-0 as a ready endpoint until 51.0 s after "
            "injection; node-monitor-grace-period 50 s; clients resumed writing 0.0 s after injection.") in md


def test_kubectl_has_a_pinned_arm64_checksum():
    """Issue 11 #10: without it kubectl on arm64 is refused, never fetched."""
    from harness.platforms.tools import PINS

    assert PINS["kubectl"].sha256["arm64"] == "7381bea99c83c264100f324c2ca6e7e13738a73b8928477ac805991440a065cd"
    for name in ("kind", "kubectl", "helm"):
        assert set(PINS[name].sha256) == {"amd64", "arm64"}


def test_k8s_platform_implements_the_contract(tmp_path):
    assert isinstance(_k8s(_fake_k8s(), tmp_path), Platform)


def test_k8s_dry_run_plan_has_no_cluster_creation_nor_docker(tmp_path):
    steps = dry_run_plan("k8s", [plan_cell("zone-outage", "mongodb", "kubeblocks", fault_s=5)], out=None)
    text = "\n".join(map(str, steps))
    assert "kind " not in text and "docker" not in text
    assert "cordon -l topology.kubernetes.io/zone=zone-a" in text and "uncordon" in text
    assert "--version 1.0.2" in text


def test_no_platform_sdk_is_imported_at_import_time():
    code = (
        "import sys, harness.platforms.kind, harness.platforms.kubernetes, harness.manifests;"
        "print('kubernetes' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert out.stdout.strip() == "False", out.stderr


def test_preflight_kubeblocks_check_records_the_version_and_refuses_another(tmp_path):
    """Issue 11 #6: the installed version goes into results.json; another one stops the run before any cell."""
    from harness.platforms.k8s_preflight import kubeblocks_check

    kubectl = tmp_path / "kubectl"
    deployment = items({"metadata": {"name": "kubeblocks", "labels": {"app.kubernetes.io/version": "{v}"}}})
    kubectl.write_text('#!/bin/sh\ncase "$*" in *"get crd"*) cat "$(dirname "$0")/crd" 2>/dev/null || exit 1;; '
                       '*) cat "$(dirname "$0")/answer.json";; esac\n')
    kubectl.chmod(0o755)
    for version, ok, required, shown in (("1.0.2", True, False, "1.0.2"), ("0.9.5", False, True, "0.9.5")):
        (tmp_path / "answer.json").write_text(deployment.replace("{v}", version))
        check = kubeblocks_check(str(kubectl))
        assert (check.name, check.ok, check.required, check.version) == ("kubeblocks", ok, required, shown)
    assert "--install-kubeblocks" in check.fix
    (tmp_path / "answer.json").write_text(items())
    check = kubeblocks_check(str(kubectl))
    assert check.ok and check.version == "1.0.2" and "installing the pinned 1.0.2" in check.detail
    allowed = kubeblocks_check(str(kubectl), ClusterSettings(install_kubeblocks=True))
    assert allowed.ok
    (tmp_path / "crd").write_text("customresourcedefinition.apiextensions.k8s.io/clusters.apps.kubeblocks.io\n")
    unknown = kubeblocks_check(str(kubectl))
    assert not unknown.ok and unknown.required and unknown.version.startswith("unknown (its CRDs are installed")


def test_role_event_time_is_read_as_kubeblocks_1_0_writes_it():
    """`apps.kubeblocks.io/last-role-snapshot-version`: the role event's UnixMicro (1.0), RFC 3339 (0.9)."""
    from harness.platforms.k8s_evidence import parse_go_duration, role_event_wall

    assert role_event_wall("1742497580554442") == pytest.approx(1742497580.554442)
    assert role_event_wall("2025-03-20T19:06:20.554442Z") == pytest.approx(1742497580.554442)
    assert role_event_wall("1") is None and role_event_wall(None) is None and role_event_wall("v2") is None
    assert [parse_go_duration(d) for d in ("50s", "1m0s", "4m12.5s", "850ms", "fast")] == [50, 60, 252.5, 0.85, None]


# -- day-2 operations on the fake cluster (harness/platforms/k8s_day2.py) -------------------------


def _ops_json(phase, *details, progress="1/1", conditions=()):
    comps = {"mysql": {"phase": "Running", "progressDetails": list(details)}} if details else {}
    return json.dumps({"status": {"phase": phase, "progress": progress, "components": comps,
                                  "conditions": list(conditions), "startTimestamp": "2026-03-01T10:00:00Z",
                                  "completionTimestamp": "2026-03-01T10:00:30Z"}})


def _detail(pod_name, start, end, status="Succeed", message=""):
    return {"objectKey": f"Pod/{pod_name}", "status": status, "startTime": start, "endTime": end, "message": message}


MYSQL_PRIMARY_STATUS = "read_only=0 super_read_only=0\n"
MYSQL_REPLICA_STATUS = """read_only=1 super_read_only=1
*************************** 1. row ***************************
             Replica_IO_State: Waiting for source to send event
                  Source_Host: mysql-kb-mysql-1.mysql-kb-mysql-headless.openim-poc-mysql-kubeblocks.svc.cluster.local
           Replica_IO_Running: Yes
          Replica_SQL_Running: Yes
        Seconds_Behind_Source: 0
"""


def _day2_fake(pods_by_ns, **state):
    """The fake cluster plus KubeBlocks' day-2 objects. `state`: `ops` (OpsRequest JSON), `backup` (Backup
    JSON), `status` (pod -> what the engine status script prints), `lastsave` (successive LASTSAVE answers)."""
    runner = _fake_k8s(pods_by_ns, **{"ops": _ops_json("Succeed"), "backup": "{}", "status": {}, "lastsave": [],
                                      **state})
    base = runner._responder
    st = runner.state

    def answer(argv):
        cmd = " ".join(argv)
        if "get" in argv and "opsrequests.operations.kubeblocks.io/" in cmd:
            return CommandResult(0, st["ops"])
        if "get" in argv and "backups.dataprotection.kubeblocks.io/" in cmd:
            return CommandResult(0, st["backup"])
        if "backuppolicies.dataprotection" in cmd:
            return CommandResult(0, "Available")
        if "backuprepos.dataprotection" in cmd and "get" in argv:
            return CommandResult(0, "Ready")
        if "deployment/backup-minio" in cmd:
            return CommandResult(0, "1")
        if "componentversions" in cmd:
            return CommandResult(0, json.dumps({"status": {"serviceVersions": "8.0.39,8.0.44,8.4.9"}}))
        if "exec" in argv:
            pod_name = argv[argv.index("-n") + 2]
            script = argv[-1]
            if "LASTSAVE" in script:
                return CommandResult(0, st["lastsave"].pop(0) if st["lastsave"] else "0")
            if "mysqldump" in script:
                return CommandResult(0, "-- CHANGE REPLICATION SOURCE TO SOURCE_LOG_FILE='binlog.000002', "
                                        "SOURCE_LOG_POS=157;\nCREATE DATABASE openIM_v3;\n")
            return CommandResult(0, st["status"].get(pod_name, ""))
        return base(argv)

    runner._responder = answer
    return runner


def _swapped(pods):
    swap = {"primary": "secondary", "secondary": "primary"}
    return [dict(p, metadata=dict(p["metadata"], labels={**p["metadata"]["labels"],
                                                          "kubeblocks.io/role": swap[p["metadata"]["labels"]["kubeblocks.io/role"]]}))
            for p in pods]


def _after(runner, before):
    """Commands after index `before`, without kubectl's path and flags, minus the reads and polls."""
    out = []
    for c in runner.commands()[before:]:
        words = c.split()
        out.append(" ".join(words[1:]) if words[0].endswith("kubectl") else c)
    return [c for c in out if not c.startswith("get ")]


def test_fake_cluster_switchover_applies_the_opsrequest_waits_for_its_phase_then_the_candidates_label(tmp_path):
    pods = {MYSQL_NS: list(MYSQL_PODS)}
    detail = _detail("mysql-kb-mysql-1", "2026-03-01T10:00:01Z", "2026-03-01T10:00:03.5Z")
    runner = _day2_fake(pods, ops=_ops_json("Succeed", detail))
    k8s = _k8s(runner, tmp_path)
    dep = k8s.deploy("mysql", "kubeblocks", SPEC)
    primary, candidate = sorted(k8s.pods(dep), key=lambda p: p.role != "primary")
    pods[MYSQL_NS] = _swapped(MYSQL_PODS)
    before, waits_before = len(runner.commands()), len(runner.waits())
    outcome = k8s.switchover(dep, primary, candidate)
    path = tmp_path / "manifests" / MYSQL_NS / "opsrequest-mysql-kb-switchover-1.yaml"
    assert _after(runner, before) == [f"apply -f {path}"]
    doc = yaml_load(path)
    assert doc["spec"]["switchover"] == [{"componentName": "mysql", "instanceName": "mysql-kb-mysql-1",
                                          "candidateName": "mysql-kb-mysql-0"}]
    assert [w for w, _ in runner.waits()[waits_before:]] == [
        f"opsrequest/mysql-kb-switchover-1 -n {MYSQL_NS} status.phase terminal (Succeed|Failed|Cancelled|Aborted)",
        f"pod/mysql-kb-mysql-0 -n {MYSQL_NS} labelled kubeblocks.io/role=primary, the only primary",
    ]
    assert outcome.phase == "Succeed" and outcome.source == "OpsRequest/mysql-kb-switchover-1 status.progressDetails"
    (step,) = outcome.steps
    assert (step.pod, step.action, step.ok) == ("mysql-kb-mysql-1", "switchover", True)
    assert step.done_wall - step.started_wall == pytest.approx(2.5)


def test_fake_cluster_switchover_that_kubeblocks_calls_succeed_but_never_moves_the_role_fails(tmp_path):
    pods = {MYSQL_NS: list(MYSQL_PODS)}
    k8s = _k8s(_day2_fake(pods), tmp_path)
    dep = k8s.deploy("mysql", "kubeblocks", SPEC)
    primary, candidate = sorted(k8s.pods(dep), key=lambda p: p.role != "primary")
    with pytest.raises(DeployError, match="pod/mysql-kb-mysql-0 .* labelled kubeblocks.io/role=primary"):
        k8s.switchover(dep, primary, candidate)


def test_fake_cluster_a_failed_opsrequest_is_a_clear_error_and_a_stuck_one_names_what_it_waited_for(tmp_path):
    failed = _ops_json("Failed", _detail("mysql-kb-mysql-0", "2026-03-01T10:00:01Z", "2026-03-01T10:05:01Z", "Failed",
                                         "switchover action timed out"), progress="0/1")
    runner = _day2_fake({MYSQL_NS: list(MYSQL_PODS)}, ops=failed)
    k8s = _k8s(runner, tmp_path)
    dep = k8s.deploy("mysql", "kubeblocks", SPEC)
    with pytest.raises(DeployError, match=r"OpsRequest/mysql-kb-restart-1 \(Restart\) ended Failed: "
                                          r"Pod/mysql-kb-mysql-0: switchover action timed out \(progress 0/1\)"):
        k8s.rolling_restart(dep, ())
    runner.state["ops"] = _ops_json("Running")
    with pytest.raises(DeployError, match=r"opsrequest/mysql-kb-restart-2 -n openim-poc-mysql-kubeblocks status.phase "
                                          r"terminal \(Succeed\|Failed\|Cancelled\|Aborted\)"):
        k8s.rolling_restart(dep, ())
    assert [t for w, t in runner.waits() if "restart-2" in w] == [900.0]
    runner.state["ops"] = _ops_json("Aborted", conditions=[{"type": "Aborted", "status": "True", "message": "timeout"}])
    with pytest.raises(DeployError, match="ended Aborted: Aborted: timeout"):
        k8s.scale_out(dep, 3)


def test_fake_cluster_kubeblocks_rolling_restart_records_each_pods_progress_in_order(tmp_path):
    details = (_detail("mysql-kb-mysql-1", "2026-03-01T10:00:20Z", "2026-03-01T10:00:40Z"),
               _detail("mysql-kb-mysql-0", "2026-03-01T10:00:01Z", "2026-03-01T10:00:19Z"))
    runner = _day2_fake({MYSQL_NS: list(MYSQL_PODS)}, ops=_ops_json("Succeed", *details, progress="2/2"))
    k8s = _k8s(runner, tmp_path)
    dep = k8s.deploy("mysql", "kubeblocks", SPEC)
    out = k8s.rolling_restart(dep, tuple(k8s.pods(dep)))
    assert [(s.pod, s.action) for s in out.steps] == [("mysql-kb-mysql-0", "restart"), ("mysql-kb-mysql-1", "restart")]
    doc = yaml_load(tmp_path / "manifests" / MYSQL_NS / "opsrequest-mysql-kb-restart-1.yaml")
    assert doc["spec"] == {"clusterName": "mysql-kb", "type": "Restart", "restart": [{"componentName": "mysql"}],
                           "timeoutSeconds": 900}
    assert out.detail == "progress 2/2"


def test_fake_cluster_statefulset_restart_and_upgrade_are_rollouts_and_the_rest_not_applicable(tmp_path):
    ns = "openim-poc-mysql-statefulset"
    runner = _day2_fake({ns: [pod("mysql-0", "openim-poc-worker", None, "", "", "10.0.2.1")]})
    k8s = _k8s(runner, tmp_path)
    dep = k8s.deploy("mysql", "statefulset", SPEC)
    pods = k8s.pods(dep)
    assert [(p.name, p.role) for p in pods] == [("mysql-0", "primary")]
    before = len(runner.commands())
    out = k8s.rolling_restart(dep, tuple(pods))
    assert _after(runner, before) == [f"rollout restart statefulset/mysql -n {ns}",
                                      f"rollout status statefulset/mysql -n {ns} --timeout=600s"]
    assert out.source == "statefulset/mysql rollout" and out.phase is None
    before = len(runner.commands())
    k8s.upgrade(dep, None)
    assert _after(runner, before) == [f"set image statefulset/mysql mysql=mysql:8.0.45 -n {ns}",
                                      f"rollout status statefulset/mysql -n {ns} --timeout=600s"]
    assert dep.version == "8.0.45"
    with pytest.raises(CellNotApplicable, match="switchover on a statefulset"):
        k8s.switchover(dep, pods[0], None)
    with pytest.raises(CellNotApplicable, match="scale-out on a statefulset"):
        k8s.scale_out(dep, 2)


def test_fake_cluster_kubeblocks_upgrade_starts_from_the_older_version_and_goes_to_the_newer(tmp_path):
    from harness.operations import deploy_spec_for

    runner = _day2_fake({MYSQL_NS: list(MYSQL_PODS)})
    k8s = _k8s(runner, tmp_path)
    spec = deploy_spec_for(Fault("upgrade"), "mysql", SPEC)
    assert deploy_spec_for(Fault("pod-kill"), "mysql", SPEC) is SPEC
    dep = k8s.deploy("mysql", "kubeblocks", spec)
    assert dep.version == "8.0.39"
    assert "serviceVersion: 8.0.39" in (tmp_path / "manifests" / MYSQL_NS / "cluster-mysql-kb.yaml").read_text()
    k8s.upgrade(dep, None)
    doc = yaml_load(tmp_path / "manifests" / MYSQL_NS / "opsrequest-mysql-kb-upgrade-1.yaml")
    assert doc["spec"]["upgrade"] == {"components": [{"componentName": "mysql", "serviceVersion": "8.0.44"}]}
    assert dep.version == "8.0.44"
    with pytest.raises(CellNotApplicable, match="runs 8.0.44, not older than the upgrade's 8.0.44"):
        k8s.upgrade(dep, None)
    with pytest.raises(DeployError, match="offers only 8.0.39, 8.0.44, 8.4.9"):
        k8s.upgrade(dep, "8.0.99")
    with pytest.raises(DeployError, match="serviceVersion 8.0.1: ComponentVersion mysql offers only"):
        k8s.deploy("mysql", "kubeblocks", SPEC.replace(service_version="8.0.1"))


def test_fake_cluster_scale_out_waits_for_the_new_pod_to_replicate_and_catch_up(tmp_path):
    pods = {MYSQL_NS: list(MYSQL_PODS)}
    third = pod("mysql-kb-mysql-2", "openim-poc-worker2", "secondary", "mysql", "mysql-kb", "10.0.0.3")
    runner = _day2_fake(pods, status={"mysql-kb-mysql-1": MYSQL_PRIMARY_STATUS, "mysql-kb-mysql-0": MYSQL_REPLICA_STATUS})
    answer = runner._responder

    def scaled_on_apply(argv):  # the new pod appears once the OpsRequest is applied
        if "apply" in argv and "scale-out" in " ".join(argv):
            pods[MYSQL_NS] = [*MYSQL_PODS, third]
        return answer(argv)

    runner._responder = scaled_on_apply
    k8s = _k8s(runner, tmp_path)
    dep = k8s.deploy("mysql", "kubeblocks", SPEC)
    with pytest.raises(DeployError, match=r"new pod\(s\) mysql-kb-mysql-2 replicating from the primary and caught up"):
        k8s.scale_out(dep, 3)
    runner.state["status"]["mysql-kb-mysql-2"] = MYSQL_REPLICA_STATUS
    pods[MYSQL_NS] = list(MYSQL_PODS)
    k8s2 = _k8s(runner, tmp_path)
    dep2 = k8s2.deploy("mysql", "kubeblocks", SPEC)
    out = k8s2.scale_out(dep2, 3)
    assert out.new_pods == ("mysql-kb-mysql-2",) and dep2.topology.replicas == 3
    doc = yaml_load(tmp_path / "manifests" / MYSQL_NS / "opsrequest-mysql-kb-scale-out-1.yaml")
    assert doc["spec"]["horizontalScaling"] == [{"componentName": "mysql", "scaleOut": {"replicaChanges": 1}}]
    with pytest.raises(CellNotApplicable, match="one pod per zone"):
        k8s2.scale_out(dep2, 4)


def test_fake_cluster_kubeblocks_backup_makes_the_repo_once_and_records_what_kubeblocks_did(tmp_path):
    done = json.dumps({"status": {"phase": "Completed", "totalSize": "1.5Mi", "startTimestamp": "2026-03-01T10:00:00Z",
                                  "completionTimestamp": "2026-03-01T10:00:42Z",
                                  "target": {"selectedTargetPods": ["mysql-kb-mysql-0"]},
                                  "timeRange": {"end": "2026-03-01T10:00:40Z"}}})
    runner = _day2_fake({MYSQL_NS: list(MYSQL_PODS)}, backup=done)
    k8s = _k8s(runner, tmp_path)
    dep = k8s.deploy("mysql", "kubeblocks", SPEC)
    secondary = next(p for p in k8s.pods(dep) if p.role == "secondary")
    before, waits_before = len(runner.commands()), len(runner.waits())
    out = k8s.backup(dep, secondary)
    repo_dir = tmp_path / "manifests" / "openim-poc-backup"
    assert _after(runner, before) == [
        f"apply -f {repo_dir}/namespace-openim-poc-backup.yaml",
        "apply -f - < secret/backup-minio-credential (value not shown)",
        f"apply -f {repo_dir}/deployment-backup-minio.yaml",
        f"apply -f {repo_dir}/service-backup-minio.yaml",
        f"apply -f {repo_dir}/backuprepo-openim-poc-minio.yaml",
        f"apply -f {tmp_path}/manifests/{MYSQL_NS}/backup-mysql-kb-backup-1.yaml",
    ]
    assert [w.split(" (")[0] for w, _ in runner.waits()[waits_before:]] == [
        "deployment/backup-minio -n openim-poc-backup readyReplicas=1",
        "backuprepo/openim-poc-minio status.phase=Ready",
        f"backuppolicy/mysql-kb-mysql-backup-policy -n {MYSQL_NS} status.phase=Available",
        f"backup/mysql-kb-backup-1 -n {MYSQL_NS} status.phase terminal",
    ]
    b = out.backup
    assert (b.method, b.source_pod, b.location, b.size_bytes) == ("xtrabackup", "mysql-kb-mysql-0", "mysql-kb-backup-1",
                                                                   1572864)
    assert b.consistent_point == "2026-03-01T10:00:40Z" and out.phase == "Completed"
    assert out.steps[0].done_wall - out.steps[0].started_wall == 42
    secret_stdin = next(s for s in runner.stdins if "backup-minio-credential" in s)
    assert "accessKeyId" in secret_stdin
    before = len(runner.commands())
    k8s.backup(dep, secondary)
    assert [c for c in _after(runner, before) if "backup-minio" in c or "backuprepo" in c] == [], "once per run"
    runner.state["backup"] = json.dumps({"status": {"phase": "Failed", "failureReason": "datasafed push: no such bucket"}})
    with pytest.raises(DeployError, match=r"Backup/mysql-kb-backup-3 \(xtrabackup\) ended Failed: datasafed push"):
        k8s.backup(dep, secondary)
    before = len(runner.commands())
    k8s.close()
    assert [c for c in _after(runner, before) if "prometheus" not in c and "observability" not in c] == [
        "delete backuprepos.dataprotection.kubeblocks.io/openim-poc-minio --ignore-not-found",
        "delete namespace openim-poc-backup --ignore-not-found --wait=true"]


def test_fake_cluster_kubeblocks_restore_is_a_new_cluster_on_the_other_node_port(tmp_path):
    from harness.contracts import BackupArtifact

    restored_pods = [pod("mysql-kb-restored-mysql-0", "openim-poc-worker", "primary", "mysql", "mysql-kb-restored", "10.0.1.1")]
    pods = {MYSQL_NS: list(MYSQL_PODS)}
    runner = _day2_fake(pods)
    k8s = _k8s(runner, tmp_path)
    dep = k8s.deploy("mysql", "kubeblocks", SPEC)
    pods[MYSQL_NS] = restored_pods  # the fake answers every selector with these
    before = len(runner.commands())
    new = k8s.restore(dep, BackupArtifact("xtrabackup", "mysql-kb-mysql-0", "mysql-kb-backup-1", None))
    ops = yaml_load(tmp_path / "manifests" / MYSQL_NS / "opsrequest-mysql-kb-restore-1.yaml")
    assert ops["spec"]["clusterName"] == "mysql-kb-restored" and ops["spec"]["restore"]["backupName"] == "mysql-kb-backup-1"
    assert _after(runner, before)[-1].endswith("service-mysql-kb-restored-primary-nodeport.yaml")
    assert new.id == "mysql-kubeblocks-restored" and new.handle.name == "mysql-kb-restored"
    assert k8s.endpoint(new).addresses == (("127.0.0.1", 30307),), "the statefulset port: free while this cell runs"
    assert any("-l app.kubernetes.io/instance=mysql-kb-restored" in c for c in runner.commands()[before:])
    before = len(runner.commands())
    k8s.teardown(new)
    assert _after(runner, before) == [f"delete clusters.apps.kubeblocks.io/mysql-kb-restored service/mysql-kb-restored-primary-nodeport "
                                      f"-n {MYSQL_NS} --ignore-not-found --wait=true --timeout=300s"], "the namespace stays"


def test_fake_cluster_statefulset_mysql_dump_and_restore_keep_the_password_on_stdin(tmp_path):
    from harness.contracts import PodInfo

    runner = _day2_fake({})
    k8s = _k8s(runner, tmp_path)
    dep = k8s.deploy("mysql", "statefulset", SPEC)
    src = PodInfo("mysql-0", "zone-a", "primary", "", 3306, True)
    out = k8s.backup(dep, src)
    b = out.backup
    dump = tmp_path / "backups" / "mysql-statefulset" / "mysqldump.sql"
    assert b.location == str(dump) and dump.read_text().startswith("-- CHANGE REPLICATION SOURCE")
    assert (b.method, b.consistent_point, b.size_bytes) == ("mysqldump", "binlog.000002:157", len(dump.read_bytes()))
    execs = [c for c in runner.commands() if " exec " in c]
    assert "--single-transaction" in execs[-1] and "< the password (not shown)" in execs[-1]
    new = k8s.restore(dep, b)
    ns = "openim-poc-mysql-statefulset"
    sts = yaml_load(tmp_path / "manifests" / ns / "statefulset-mysql-restored.yaml")
    assert sts["metadata"]["name"] == "mysql-restored"
    load = [c for c in runner.commands() if " exec " in c][-1]
    assert "mysql-restored-0" in load and f"< the password, then {dump} (not shown)" in load
    assert runner.stdins[-1] == SECRET_VALUE + "\n" + dump.read_text()
    assert k8s.endpoint(new).addresses == (("127.0.0.1", 30306),)
    assert SECRET_VALUE not in "\n".join(map(str, runner.steps))
    before = len(runner.commands())
    k8s.teardown(new)
    assert _after(runner, before) == [f"delete statefulset/mysql-restored service/mysql-restored service/mysql-restored-nodeport "
                                      f"pvc/data-mysql-restored-0 -n {ns} --ignore-not-found --wait=true --timeout=300s"]


def test_fake_cluster_statefulset_redis_bgsave_waits_for_lastsave_then_copies_the_rdb(tmp_path):
    from harness.contracts import PodInfo

    runner = _day2_fake({}, lastsave=["1700000000", "1700000005"])
    k8s = _k8s(runner, tmp_path)
    dep = k8s.deploy("redis", "statefulset", SPEC)
    ns = "openim-poc-redis-statefulset"
    out = k8s.backup(dep, PodInfo("redis-0", "zone-a", "primary", "", 6379, True))
    scripts = [c for c in runner.commands() if " exec " in c]
    assert ["LASTSAVE" in c for c in scripts] == [True, False, True] and "BGSAVE" in scripts[1]
    assert any("redis LASTSAVE on redis-0 newer than 1700000000" in w for w, _ in runner.waits())
    rdb = tmp_path / "backups" / "redis-statefulset" / "dump.rdb"
    assert runner.commands()[-1].endswith(f"cp -c redis {ns}/redis-0:/data/dump.rdb {rdb}")
    assert out.backup.method == "bgsave" and out.backup.consistent_point == "RDB saved at 1700000005"
    assert all("REDISCLI_AUTH=\"$PW\"" in c for c in scripts)


def test_fake_cluster_replication_state_reads_the_engines_own_status(tmp_path):
    runner = _day2_fake({MYSQL_NS: list(MYSQL_PODS)}, status={"mysql-kb-mysql-1": MYSQL_PRIMARY_STATUS,
                                                              "mysql-kb-mysql-0": MYSQL_REPLICA_STATUS})
    k8s = _k8s(runner, tmp_path)
    dep = k8s.deploy("mysql", "kubeblocks", SPEC)
    states = k8s.replication_state(dep)
    assert [(s.pod, s.role, s.healthy) for s in states] == [("mysql-kb-mysql-0", "secondary", True),
                                                            ("mysql-kb-mysql-1", "primary", True)]
    runner.state["status"]["mysql-kb-mysql-0"] = MYSQL_REPLICA_STATUS.replace("Seconds_Behind_Source: 0",
                                                                              "Seconds_Behind_Source: 12")
    lagging = k8s.replication_state(dep)[0]
    assert not lagging.healthy and "12 s behind its source" in lagging.detail
    assert SECRET_VALUE not in "\n".join(map(str, runner.steps))


def test_replica_state_parsers():
    from harness.contracts import PodInfo
    from harness.platforms.k8s_day2_parse import (
        mongodb_state,
        mysql_state,
        ops_status,
        quantity_bytes,
        redis_state,
    )

    primary = PodInfo("redis-kb-redis-1", "zone-b", "primary", "10.0.0.6", 6379, True)
    info = ("# Replication\r\nrole:slave\r\nmaster_host:redis-kb-redis-1.redis-kb-redis-headless.ns.svc\r\n"
            "master_link_status:up\r\nmaster_sync_in_progress:0\r\nslave_repl_offset:1000\r\n")
    assert redis_state("redis-kb-redis-0", info, primary, 1000).healthy
    far = redis_state("redis-kb-redis-0", info, primary, 1000 + 10**6)
    assert not far.healthy and "1000000 bytes behind" in far.detail
    down = redis_state("redis-kb-redis-0", info.replace("link_status:up", "link_status:down"), primary, 1000)
    assert not down.healthy and "link to its master down" in down.detail
    assert redis_state("redis-kb-redis-1", "role:master\r\nconnected_slaves:1\r\n", None, None).role == "primary"
    other = PodInfo("mysql-kb-mysql-2", "zone-c", "primary", "10.0.0.9", 3306, True)
    wrong = mysql_state("mysql-kb-mysql-0", MYSQL_REPLICA_STATUS, other)
    assert not wrong.healthy and "not the primary mysql-kb-mysql-2" in wrong.detail
    stopped = mysql_state("x", MYSQL_REPLICA_STATUS.replace("Replica_SQL_Running: Yes", "Replica_SQL_Running: No"), None)
    assert not stopped.healthy and "SQL thread No" in stopped.detail
    legacy = MYSQL_REPLICA_STATUS.replace("Replica_", "Slave_").replace("Source_Host", "Master_Host").replace(
        "Seconds_Behind_Source", "Seconds_Behind_Master")
    assert mysql_state("x", legacy, None).healthy
    assert mysql_state("x", "read_only=1 super_read_only=1\n", None).healthy is False
    assert mysql_state("x", "", None).role is None
    mongo = '{"state": "SECONDARY", "sync": "m-0:27017", "t": 1000, "pt": 1500, "primary": "m-0:27017"}'
    assert mongodb_state("m-1", mongo).healthy and not mongodb_state("m-1", mongo.replace("1500", "9000")).healthy
    assert quantity_bytes("1.5Mi") == 1572864 and quantity_bytes("42") == 42 and quantity_bytes(None) is None
    assert ops_status("", "Restart").phase == "" and ops_status("{not json", "Restart").steps == ()


def test_k8s_platform_has_the_operations_protocol(tmp_path):
    from harness.contracts import Operations

    assert isinstance(_k8s(_fake_k8s(), tmp_path), Operations)


def test_dry_run_backup_restore_prints_the_repo_the_backup_and_their_waits_in_order(tmp_path):
    steps = dry_run_plan("kind", [plan_cell("backup-restore", "mysql", "kubeblocks")], out=None)
    text = [str(s) for s in steps]
    joined = "\n".join(text)
    assert "--set dataProtection.enabled=false" not in joined and "snapshot.storage.k8s.io_volumesnapshots" in joined
    order = ["kind: BackupRepo", "backuprepo-openim-poc-minio.yaml", "wait: deployment/backup-minio",
             "wait: backuprepo/openim-poc-minio status.phase=Ready", "wait: backuppolicy/mysql-kb-mysql-backup-policy",
             "kind: Backup\n", "backup-mysql-kb-backup-1.yaml", "wait: backup/mysql-kb-backup-1"]
    at = [next(i for i, t in enumerate(text) if o in t + "\n") for o in order]
    assert at == sorted(at)
    assert not any("would fail" in t for t in text)


@pytest.mark.parametrize("scenario", ["switchover", "rolling-restart", "scale-out", "upgrade"])
def test_dry_run_operations_print_their_opsrequest_and_its_wait(scenario):
    steps = [str(s) for s in dry_run_plan("kind", [plan_cell(scenario, "redis", "kubeblocks")], out=None)]
    kind = {"switchover": "Switchover", "rolling-restart": "Restart", "scale-out": "HorizontalScaling",
            "upgrade": "Upgrade"}[scenario]
    manifest = next(i for i, t in enumerate(steps) if "kind: OpsRequest" in t and f"type: {kind}" in t)
    wait = next(i for i, t in enumerate(steps) if t.startswith("wait: opsrequest/redis-kb-"))
    assert manifest < wait and not any("would fail" in t for t in steps)
    if scenario == "switchover":
        assert "instanceName: redis-kb-redis-0" in steps[manifest] and "candidateName: redis-kb-redis-1" in steps[manifest]
        assert any(t.startswith("wait: pod/redis-kb-redis-1") for t in steps[wait:])
    if scenario == "upgrade":
        assert "serviceVersion 7.2.4, pinned by the deploy spec" in "\n".join(steps)


def test_dry_run_restore_plan_prints_the_restore_opsrequest_and_its_waits(tmp_path):
    """The cell does not call `restore` yet: the plan of the platform's half, on a dry-run runner."""
    from harness.contracts import BackupArtifact

    runner = DryRunRunner(out=None)
    k8s = KubernetesPlatform(runner, tmp_path, ClusterSettings(node_address="127.0.0.1", tools_dir=tmp_path))
    k8s._ready = True
    dep = k8s.deploy("mysql", "kubeblocks", SPEC)
    before = len(runner.steps)
    new = k8s.restore(dep, BackupArtifact("xtrabackup", "mysql-kb-mysql-1", "mysql-kb-backup-1", None))
    text = [str(s) for s in runner.steps[before:]]
    assert "type: Restore" in text[0] and "clusterName: mysql-kb-restored" in text[0]
    assert text[2].startswith("wait: opsrequest/mysql-kb-restore-1") and "mysql-kb-restored-primary-nodeport" in text[3]
    assert text[-1].startswith("wait: exactly one pod kubeblocks.io/role=primary in cluster/mysql-kb-restored")
    assert new.handle.node_port == 30307


def yaml_load(path):
    import yaml

    return yaml.safe_load(path.read_text())


def test_status_scripts_are_valid_shell_and_carry_no_password():
    from harness.platforms.k8s_day2 import MYSQL_DUMP, MYSQL_LOAD, STATUS_SCRIPTS

    for script in (*STATUS_SCRIPTS.values(), MYSQL_DUMP, MYSQL_LOAD):
        assert script.startswith("IFS= read -r PW; ")
        assert subprocess.run(["sh", "-n", "-c", script], capture_output=True).returncode == 0, script
    from harness.platforms.k8s_day2_parse import mysql_state

    assert mysql_state("x", "read_only= super_read_only=\n", None).detail == "no answer from mysql"
