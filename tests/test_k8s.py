"""The shared kubernetes logic, the command runner and the pinned tools."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import subprocess
import sys
import tarfile

import pytest
from k8s_fakes import KIND_NODES, REPO, FakeCluster, items, pod

from harness.errors import CellNotApplicable, DeployError, HarnessError
from harness.platforms.base import DeploySpec, Fault, Platform
from harness.platforms.commands import CommandResult, DryRunRunner, RealRunner
from harness.platforms.kubernetes import (
    ClusterSettings,
    KubernetesPlatform,
    PlanCell,
    dry_run_plan,
    parse_switch_master,
)
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
        "wait: cluster/x phase=Running",
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


def _fake_k8s(pods_by_ns: dict[str, list[dict]] | None = None, sentinel_log: str = ""):
    pods_by_ns = pods_by_ns or {}
    secret = {"data": {"password": base64.b64encode(SECRET_VALUE.encode()).decode()}}

    def answer(argv):
        cmd = " ".join(argv)
        ns = argv[argv.index("-n") + 1] if "-n" in argv else ""
        if "get nodes -o json" in cmd:
            return CommandResult(0, json.dumps(KIND_NODES))
        if "get pods" in cmd:
            return CommandResult(0, items(*pods_by_ns.get(ns, [])))
        if "componentversions" in cmd:
            return CommandResult(0, json.dumps({"status": {"serviceVersions": "8.0.44,8.0.46,8.4.9"}}))
        if "clusters.apps.kubeblocks.io" in cmd and "get" in argv:
            return CommandResult(0, "Running")
        if "get secret/" in cmd:
            return CommandResult(0, json.dumps(secret))
        if "jsonpath={.status.readyReplicas}" in cmd:
            return CommandResult(0, "1")
        if "addons.extensions" in cmd:
            return CommandResult(0, "Enabled")
        if argv[1:2] == ["logs"] or " logs " in cmd:
            return CommandResult(0, sentinel_log)
        return None

    return FakeCluster(answer)


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
    inj = k8s.inject(dep, Fault("zone-outage", "primary", 10))
    assert inj.zone == "zone-c" and inj.instances == ("mysql-kb-mysql-1",)
    cmds = [c.split(" ", 1)[1] for c in runner.commands()[before:] if "get " not in c]
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
        k8s.inject(dep, Fault("zone-partition", "zone-a", 5))
    with pytest.raises(CellNotApplicable, match="pod-freeze"):
        k8s.inject(dep, Fault("pod-freeze", "primary", 5))
    sts = k8s.deploy("mysql", "statefulset", SPEC)
    with pytest.raises(CellNotApplicable, match="no secondary"):
        k8s.inject(sts, Fault("pod-kill", "secondary"))


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


SENTINEL_LOG = """\
[pod/redis-kb-redis-sentinel-0/redis-sentinel] 2026-03-01T10:00:01.500000000Z 1:X 01 Mar 10:00:01.500 # +sdown master redis-kb-redis 10.0.0.5 6379
[pod/redis-kb-redis-sentinel-0/redis-sentinel] 2026-03-01T10:00:21.250000000Z 1:X 01 Mar 10:00:21.250 # +switch-master redis-kb-redis 10.0.0.5 6379 10.0.0.6 6379
[pod/redis-kb-redis-sentinel-1/redis-sentinel] 2026-03-01T10:00:21.260000000Z 1:X 01 Mar 10:00:21.260 # +switch-master redis-kb-redis 10.0.0.5 6379 10.0.0.6 6379
"""


def test_parse_switch_master_reads_sentinel_timestamps():
    got = parse_switch_master(SENTINEL_LOG)
    assert [ip for _, ip in got] == ["10.0.0.6", "10.0.0.6"]
    assert got[0][0] == pytest.approx(1772359221.25)


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


def test_k8s_platform_implements_the_contract(tmp_path):
    assert isinstance(_k8s(_fake_k8s(), tmp_path), Platform)


def test_k8s_dry_run_plan_has_no_cluster_creation_nor_docker(tmp_path):
    steps = dry_run_plan("k8s", [PlanCell("z", "mongodb", "kubeblocks", Fault("zone-outage", "primary", 5))], out=None, run_dir=tmp_path)
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
