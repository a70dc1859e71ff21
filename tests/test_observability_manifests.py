"""The in-cluster observability of kind/k8s: the Prometheus manifests validate, its relabeling gives
every series the labels the rules select on, the exporters are on in both modes with no secret in the
manifests, the host reaches the Prometheus on 127.0.0.1 only, and the dry run shows all of it."""

from __future__ import annotations

import re
import shutil
import subprocess
from types import SimpleNamespace

import jsonschema
import pytest
import yaml
from k8s_fakes import FakeCluster, cluster_crd_schema, unknown_fields, validate_core

from harness.contracts import ENGINES, Deployment, DeploySpec, Topology
from harness.dryrun import dry_run_plan
from harness.manifests import dump_yaml, exporters, kubeblocks, observability, statefulset
from harness.manifests.common import (
    PROMETHEUS_NODE_PORT,
    deployment_id,
    harness_namespaces,
    observability_namespace,
    password_secret,
)
from harness.manifests.kind_config import kind_config
from harness.observe.rules import rules_text
from harness.platforms.commands import CommandResult
from harness.platforms.k8s_handle import K8sHandle
from harness.platforms.k8s_preflight import ClusterSettings
from harness.platforms.kind import KindPlatform, KindSettings
from harness.platforms.kubernetes import KubernetesPlatform
from harness.platforms.tools import KIND_NODE_IMAGE

SPEC = DeploySpec()
NS = observability_namespace()
TARGET_LABELS = {"deployment", "engine", "mode", "pod", "zone", "role", "kind"}


def _docs(control_plane=False):
    return observability.manifests(NS, harness_namespaces(), control_plane=control_plane)


def _config():
    cm = next(d for d in _docs() if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "prometheus-config")
    return yaml.safe_load(cm["data"][observability.CONFIG_FILE])


@pytest.mark.parametrize("control_plane", [False, True])
def test_every_observability_manifest_validates_against_kubernetes_schema(control_plane):
    docs = _docs(control_plane)
    assert [d["kind"] for d in docs] == ["Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding",
                                         "ConfigMap", "ConfigMap", "Deployment", "Service"]
    for doc in docs:
        validate_core(doc)
    dep = docs[6]["spec"]["template"]["spec"]
    assert dep["containers"][0]["image"] == "prom/prometheus:v2.42.0"
    assert dep["containers"][0]["readinessProbe"]["httpGet"]["path"] == "/-/ready"
    assert ("nodeSelector" in dep) == control_plane, "kind: on the control plane, which no zone fault touches"


def test_prometheus_config_scrapes_the_exporters_every_second_with_the_target_labels():
    c = _config()
    assert c["global"] == {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"}
    (job,) = c["scrape_configs"]
    (sd,) = job["kubernetes_sd_configs"]
    assert sd["role"] == "pod" and sd["namespaces"]["names"] == sorted(harness_namespaces())
    targets = {r.get("target_label") for r in job["relabel_configs"]}
    assert TARGET_LABELS <= targets
    assert {"target_label": "kind", "replacement": "exporter", "action": "replace"} in job["relabel_configs"]
    assert c["rule_files"] == [f"/etc/prometheus/rules/{observability.RULES_FILE}"]


def test_rules_config_map_holds_the_local_platforms_rules():
    cm = next(d for d in _docs() if d["metadata"]["name"] == "prometheus-rules")
    assert cm["data"] == {observability.RULES_FILE: rules_text()}
    mounts = {m["name"]: m["mountPath"] for m in _docs()[6]["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]}
    assert _config()["rule_files"][0] == f"{mounts['rules']}/{observability.RULES_FILE}"


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool comes with the Debian package prometheus")
def test_promtool_accepts_the_in_cluster_config(tmp_path):
    """Globals, rule file and relabeling; Debian builds Prometheus without Kubernetes discovery, so the
    `kubernetes_sd_configs` block is swapped for a static target here (the schema test covers the rest)."""
    c = _config()
    (tmp_path / "rules.yml").write_text(rules_text())
    c["rule_files"] = [str(tmp_path / "rules.yml")]
    del c["scrape_configs"][0]["kubernetes_sd_configs"]
    c["scrape_configs"][0]["static_configs"] = [{"targets": ["127.0.0.1:9104"]}]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(c))
    out = subprocess.run(["promtool", "check", "config", str(tmp_path / "prometheus.yml")], capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stdout + out.stderr


# -- the relabeling, applied to the pods the harness builds ------------------------------------------


def _meta(labels: dict[str, str]) -> str:
    return re.sub(r"[^a-zA-Z0-9_]", "_", labels)


def _relabel(target: dict[str, str]) -> dict[str, str] | None:
    """Prometheus's `keep` / `replace` as the config uses them (None: the target is dropped)."""
    t = dict(target)
    for r in _config()["scrape_configs"][0]["relabel_configs"]:
        value = r.get("separator", ";").join(t.get(s, "") for s in r.get("source_labels", []))
        m = re.fullmatch(r.get("regex", "(.*)"), value)
        if r["action"] == "keep":
            if not m:
                return None
        elif m:
            t[r["target_label"]] = m.expand(r.get("replacement", "$1").replace("${1}", r"\1").replace("$1", r"\1"))
    return {k: v for k, v in t.items() if not k.startswith("__")}


def _target(pod_labels, port_name, pod="p-0", zone="zone-b"):
    t = {"__meta_kubernetes_pod_label_" + _meta(k): v for k, v in pod_labels.items()}
    t |= {"__meta_kubernetes_pod_container_port_name": port_name, "__meta_kubernetes_pod_name": pod,
          "__meta_kubernetes_namespace": "ns", "__meta_kubernetes_node_label_topology_kubernetes_io_zone": zone}
    return t


@pytest.mark.parametrize("engine", ENGINES)
def test_relabeling_gives_both_modes_series_the_deployment_id_the_platform_selects(engine):
    sts = statefulset.statefulset(engine, "ns", SPEC)["spec"]["template"]
    (port,) = sts["spec"]["containers"][1]["ports"]
    got = _relabel(_target(sts["metadata"]["labels"], port["name"], pod=f"{engine}-0", zone="zone-a"))
    assert got == {"deployment": deployment_id(engine, "statefulset"), "engine": engine, "mode": "statefulset",
                   "pod": f"{engine}-0", "namespace": "ns", "zone": "zone-a", "kind": "exporter", "role": ""}
    comp = kubeblocks.cluster(engine, "ns", SPEC, "1")["spec"]["componentSpecs"][0]
    kb_pod = {**comp["labels"], "app.kubernetes.io/instance": f"{engine}-kb", "kubeblocks.io/role": "primary"}
    got = _relabel(_target(kb_pod, exporters.PORTS[engine][1]))
    assert (got["deployment"], got["mode"], got["role"], got["zone"]) == (
        deployment_id(engine, "kubeblocks"), "kubeblocks", "primary", "zone-b")
    # a Cluster restored from a backup keeps the component labels: its series are its own
    restored = {**kb_pod, "app.kubernetes.io/instance": f"{engine}-kb-restored"}
    assert _relabel(_target(restored, "http-metrics"))["deployment"] == deployment_id(engine, "kubeblocks") + "-restored"
    # not scraped: the server's own port, agamotto's self-telemetry, pods without the harness's labels
    assert _relabel(_target(kb_pod, engine)) is None
    assert _relabel(_target(kb_pod, "server-metrics")) is None
    assert _relabel(_target({"app.kubernetes.io/instance": f"{engine}-kb"}, "http-metrics")) is None


# -- exporters in both modes --------------------------------------------------------------------------


def _clusters():
    return [kubeblocks.cluster(e, "ns", SPEC, kubeblocks.REVIEW_SERVICE_VERSION[e]) for e in ENGINES]


def test_kubeblocks_clusters_run_their_exporters():
    for doc in _clusters():
        assert all(c["disableExporter"] is False for c in doc["spec"]["componentSpecs"])


def test_kubeblocks_clusters_with_exporters_and_labels_validate_against_crd_v1_0_2():
    schema = cluster_crd_schema()
    for doc in _clusters():
        jsonschema.Draft7Validator(schema).validate(doc)
        assert unknown_fields(doc, schema) == [], "fields the API server would prune"


@pytest.mark.parametrize("engine", ENGINES)
def test_statefulset_sidecar_is_the_upstream_exporter_with_no_secret_in_the_manifest(engine):
    docs = statefulset.manifests(engine, "ns", SPEC, "pw-s3cr3t-value")
    sts = next(d for d in docs if d["kind"] == "StatefulSet")
    validate_core(sts)
    side = sts["spec"]["template"]["spec"]["containers"][1]
    assert side["image"] == exporters.IMAGES[engine]
    assert [(p["containerPort"], p["name"]) for p in side["ports"]] == [exporters.PORTS[engine]]
    assert side["resources"]["limits"] and side["resources"]["requests"]
    no_secrets = dump_yaml([d for d in docs if d["kind"] != "Secret"])
    assert "pw-s3cr3t-value" not in no_secrets
    assert not any("pass" in a.lower() or "secret" in a.lower() for a in side.get("args", []))
    secret = password_secret(engine, "statefulset")
    for env in side["env"]:
        if "PASSWORD" in env["name"]:
            assert "value" not in env
            ref = env["valueFrom"]["secretKeyRef"]
            assert (ref["name"], ref["key"]) == secret
    assert any("PASSWORD" in e["name"] for e in side["env"])


# -- the host's access ----------------------------------------------------------------------------------


def test_kind_maps_the_prometheus_node_port_on_loopback_only():
    svc = _docs()[-1]
    assert svc["spec"]["type"] == "NodePort" and svc["spec"]["ports"][0]["nodePort"] == PROMETHEUS_NODE_PORT
    maps = [m for n in kind_config(KIND_NODE_IMAGE)["nodes"] for m in n.get("extraPortMappings", [])
            if m["containerPort"] == PROMETHEUS_NODE_PORT]
    assert maps == [{"containerPort": PROMETHEUS_NODE_PORT, "hostPort": PROMETHEUS_NODE_PORT,
                     "listenAddress": "127.0.0.1", "protocol": "TCP"}]


def test_dry_run_of_kind_applies_the_prometheus_first_and_shows_the_sidecars():
    from k8s_fakes import plan_cell

    cells = [plan_cell("steady", e, m) for e in ("mysql", "redis") for m in ("kubeblocks", "statefulset")]
    text = "\n".join(map(str, dry_run_plan("kind", cells, out=None)))
    prom = text.index("deployment-prometheus.yaml")
    assert "image: prom/prometheus:v2.42.0" in text
    assert prom < text.index("deploy mysql/kubeblocks"), "installed with the platform, before any deploy"
    assert "image: prom/mysqld-exporter:v0.15.1" in text and "image: oliver006/redis_exporter:v1.45.0" in text
    assert text.count("disableExporter: false") == 3  # mysql; redis and its Sentinels
    assert "port-forward" not in text, "kind reaches it through its NodePort mapping"


def test_dry_run_of_k8s_reaches_the_prometheus_through_a_loopback_port_forward():
    text = "\n".join(map(str, dry_run_plan("k8s", [], out=None)))
    assert (f"port-forward --address 127.0.0.1 -n {NS} service/prometheus "
            f"{PROMETHEUS_NODE_PORT}:9090") in text


def _stub_tools(tmp_path):
    tools = tmp_path / "t"
    tools.mkdir(exist_ok=True)
    for name in ("kubectl", "helm", "kind"):
        (tools / name).write_text("#!/bin/sh\nexit 99\n")
        (tools / name).chmod(0o755)
    return tools


def _ready_prometheus(argv):
    if "deployment/prometheus" in argv and "get" in argv:
        return CommandResult(0, "1")
    return None


def _dep(engine, mode, platform):
    return Deployment(deployment_id(engine, mode), engine, mode, platform, Topology(1, ("zone-a",)),
                      handle=K8sHandle(f"openim-poc-{engine}-{mode}", engine, mode, None))


def test_kind_observation_is_the_mapped_node_port_and_the_deployment_label(tmp_path):
    runner = FakeCluster(_ready_prometheus)
    kind = KindPlatform(runner, tmp_path, KindSettings(tools_dir=_stub_tools(tmp_path)))
    kind.install_observability()
    src = kind.observation(_dep("redis", "kubeblocks", "kind"))
    assert src.missing is None
    assert src.url == f"http://127.0.0.1:{PROMETHEUS_NODE_PORT}" and src.scrape_interval_s == 1.0
    assert src.selector == {"deployment": "redis-kubeblocks"}
    assert any("agamotto" in n and "15 s" in n for n in src.notes)
    assert any("upstream" in n and "forks" in n for n in src.notes)
    assert set(src.exporters.values()) == {exporters.KUBEBLOCKS_IMAGES["redis"]}
    assert kind.observation(_dep("mongodb", "statefulset", "kind")).missing, "no metric table for mongodb yet"


def test_kind_observation_says_why_when_the_prometheus_is_not_ready(tmp_path):
    kind = KindPlatform(FakeCluster(lambda argv: None), tmp_path, KindSettings(tools_dir=_stub_tools(tmp_path)))
    kind.install_observability()
    assert "did not become ready" in kind.observation(_dep("mysql", "statefulset", "kind")).missing


def test_k8s_runs_the_port_forward_under_the_registry_and_stops_it(tmp_path, monkeypatch):
    spawned, stopped = [], []
    registry = SimpleNamespace(spawn=lambda argv, name, log_path=None: spawned.append(argv) or SimpleNamespace(pid=7),
                               stop=stopped.append)
    k8s = KubernetesPlatform(FakeCluster(_ready_prometheus), tmp_path,
                             ClusterSettings(node_address="127.0.0.1", tools_dir=_stub_tools(tmp_path)),
                             registry=registry)
    monkeypatch.setattr(KubernetesPlatform, "_answers", lambda self: True)
    k8s.install_observability()
    (argv,) = spawned
    assert argv[-6:] == ["--address", "127.0.0.1", "-n", NS, "service/prometheus", f"{PROMETHEUS_NODE_PORT}:9090"]
    assert k8s.observation(_dep("mysql", "statefulset", "k8s")).missing is None
    k8s.close()
    assert stopped == [7]
    deletes = [c for c in k8s.runner.commands() if " delete " in c]
    assert any(f"delete namespace {NS}" in c for c in deletes) and any("clusterrole/openim-poc-prometheus" in c
                                                                        for c in deletes)
