"""Every manifest the kind/k8s platforms apply validates against the real schemas."""

from __future__ import annotations

import json
import subprocess
import sys

import jsonschema
import pytest
import yaml
from k8s_fakes import REPO, cluster_crd_schema, unknown_fields, validate_core

from harness.contracts import ENGINES, ZONES, DeploySpec
from harness.manifests import kubeblocks, review_manifests, statefulset, write_all
from harness.manifests.common import NODE_PORTS, PROMETHEUS_NODE_PORT, password_secret
from harness.manifests.kind_config import kind_config
from harness.platforms.tools import KIND_NODE_IMAGE

SPEC = DeploySpec(cpu="0.25", memory="256Mi", storage="1Gi", semi_sync_timeout_ms=3000)


@pytest.mark.parametrize("engine", ENGINES)
def test_kubeblocks_cluster_validates_against_crd_v1_0_2(engine):
    schema = cluster_crd_schema()
    doc = kubeblocks.cluster(engine, "ns", SPEC, kubeblocks.REVIEW_SERVICE_VERSION[engine])
    jsonschema.Draft7Validator(schema).validate(doc)
    assert unknown_fields(doc, schema) == [], "fields the API server would prune"


def test_crd_validation_can_fail():
    schema = cluster_crd_schema()
    doc = kubeblocks.cluster("mysql", "ns", SPEC, "8.0.44")
    doc["spec"]["terminationPolicy"] = "Halt"  # deprecated since 0.9, not in the v1 enum
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(schema).validate(doc)
    doc = kubeblocks.cluster("mysql", "ns", SPEC, "8.0.44")
    doc["spec"]["componentSpecs"][0]["affinity"] = {}  # the v1alpha1 field, gone in v1
    assert unknown_fields(doc, schema) == [".spec.componentSpecs[0].affinity"]


def test_kubeblocks_topologies_replicas_and_settings():
    my = kubeblocks.cluster("mysql", "ns", SPEC, "8.0.44")["spec"]
    assert (my["clusterDef"], my["topology"], my["componentSpecs"][0]["replicas"]) == ("mysql", "semisync", 2)
    assert my["componentSpecs"][0]["env"] == [{"name": "SEMI_SYNC_TIMEOUT", "value": "3000"}]
    rd = kubeblocks.cluster("redis", "ns", SPEC, "7.2.4")["spec"]
    assert rd["topology"] == "replication"
    assert [(c["name"], c["replicas"]) for c in rd["componentSpecs"]] == [("redis", 2), ("redis-sentinel", 3)]
    mg = kubeblocks.cluster("mongodb", "ns", SPEC, "6.0.27")["spec"]
    assert (mg["topology"], mg["componentSpecs"][0]["replicas"]) == ("replicaset", 3)
    for spec in (my, rd, mg):
        for comp in spec["componentSpecs"]:
            assert comp["resources"]["limits"] == {"cpu": "0.25", "memory": "256Mi"}
            assert comp["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "1Gi"
            term = comp["schedulingPolicy"]["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]
            assert term["topologyKey"] == "topology.kubernetes.io/zone"
            assert term["labelSelector"]["matchLabels"]["apps.kubeblocks.io/component-name"] == comp["name"]


def test_service_version_comes_from_component_version():
    cmpv = {
        "spec": {"releases": [{"serviceVersion": v} for v in ("5.7.44", "8.0.45", "8.0.46", "8.4.9")]},
        "status": {"serviceVersions": "5.7.44,8.0.45,8.0.46,8.4.9"},
    }
    assert kubeblocks.choose_service_version("mysql", json.dumps(cmpv)) == "8.0.46"
    only_new = {"status": {"serviceVersions": "7.4.2,8.0.1"}}
    assert kubeblocks.choose_service_version("redis", json.dumps(only_new)) == "8.0.1"
    with pytest.raises(ValueError, match="offers no serviceVersion"):
        kubeblocks.choose_service_version("mongodb", json.dumps({"spec": {}}))


def test_every_core_manifest_validates_against_kubernetes_schema():
    count = 0
    for docs in review_manifests(SPEC).values():
        for doc in docs:
            if doc["apiVersion"].startswith("apps.kubeblocks.io"):
                continue
            validate_core(doc)
            count += 1
    # per engine: 2 namespaces, kubeblocks NodePort, statefulset Secret + 2 Services + StatefulSet;
    # the Prometheus: Namespace, ServiceAccount, ClusterRole(Binding), 2 ConfigMaps, Deployment, Service
    assert count == 3 * 7 + 8


def test_core_validation_can_fail():
    import kubernetes_validate

    doc = statefulset.statefulset("redis", "ns", SPEC)
    doc["spec"]["volumeClaimTemplate"] = []  # typo
    with pytest.raises(kubernetes_validate.ValidationError):
        validate_core(doc)


@pytest.mark.parametrize("engine", ENGINES)
def test_statefulset_baseline_flaws_are_fixed(engine):
    docs = statefulset.manifests(engine, "ns", SPEC, "pw")
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
    sts = by_kind["StatefulSet"][0]["spec"]
    assert sts["replicas"] == 1
    assert sts["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
    pod = sts["template"]["spec"]
    assert "volumes" not in pod, "no shared PVC"
    headless = [s for s in by_kind["Service"] if s["spec"].get("clusterIP") == "None"]
    assert [s["metadata"]["name"] for s in headless] == [sts["serviceName"]]
    assert headless[0]["spec"]["selector"] == sts["selector"]["matchLabels"]
    assert sts["selector"]["matchLabels"].items() <= sts["template"]["metadata"]["labels"].items()
    secret = by_kind["Secret"][0]
    refs = [e["valueFrom"]["secretKeyRef"] for e in pod["containers"][0]["env"] if "secretKeyRef" in e.get("valueFrom", {})]
    assert refs and all(r["name"] == secret["metadata"]["name"] and r["key"] in secret["stringData"] for r in refs)
    assert (secret["metadata"]["name"], next(iter(secret["stringData"]))) == password_secret(engine, "statefulset")
    assert pod["nodeSelector"] == {"topology.kubernetes.io/zone": "zone-a"}


def test_kind_config_has_zones_and_loopback_port_mappings():
    cfg = kind_config(KIND_NODE_IMAGE)
    roles = [n["role"] for n in cfg["nodes"]]
    assert roles == ["control-plane", "worker", "worker", "worker"]
    assert "labels" not in cfg["nodes"][0], "the control plane has no zone: it is never faulted"
    assert [n["labels"]["topology.kubernetes.io/zone"] for n in cfg["nodes"][1:]] == list(ZONES)
    maps = cfg["nodes"][0]["extraPortMappings"]
    assert {m["containerPort"] for m in maps} == set(NODE_PORTS.values()) | {PROMETHEUS_NODE_PORT}
    assert {m["listenAddress"] for m in maps} == {"127.0.0.1"}
    assert all("extraPortMappings" not in n for n in cfg["nodes"][1:])
    assert all(n["image"] == KIND_NODE_IMAGE and "@sha256:" in n["image"] for n in cfg["nodes"])


def test_nodeport_services_match_kind_mappings():
    ports = set()
    for docs in review_manifests(SPEC).values():
        for d in docs:
            if d["kind"] == "Service" and d["spec"].get("type") == "NodePort":
                ports |= {p["nodePort"] for p in d["spec"]["ports"]}
    assert ports == {m["containerPort"] for m in kind_config(KIND_NODE_IMAGE)["nodes"][0]["extraPortMappings"]}


def test_kubeblocks_nodeport_selects_the_primary_only():
    svc = kubeblocks.primary_nodeport_service("redis", "ns")
    assert svc["spec"]["selector"] == {
        "app.kubernetes.io/instance": "redis-kb",
        "apps.kubeblocks.io/component-name": "redis",
        "kubeblocks.io/role": "primary",
    }


def test_write_all_kind_writes_every_manifest_and_the_config(tmp_path):
    paths = write_all("kind", tmp_path, KIND_NODE_IMAGE)
    rel = sorted(str(p.relative_to(tmp_path)) for p in paths)
    assert rel == sorted(
        ["kind-config.yaml", "observability/prometheus.yaml"]
        + [f"{m}/{e}.yaml" for m in ("kubeblocks", "statefulset") for e in ENGINES]
    )
    for p in paths:
        docs = list(yaml.safe_load_all(p.read_text()))
        assert docs and all(isinstance(d, dict) for d in docs)
    assert statefulset.PLACEHOLDER_PASSWORD in (tmp_path / "statefulset/redis.yaml").read_text()
    k8s = write_all("k8s", tmp_path / "k8s", KIND_NODE_IMAGE)
    assert not any(p.name == "kind-config.yaml" for p in k8s)


def test_cli_manifests_command(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "harness.cli", "manifests", "--platform", "kind", "--out", str(tmp_path / "m")],
        capture_output=True, text=True, cwd=REPO, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.split()) == 8  # the kind config, 6 deployments, the Prometheus
    assert (tmp_path / "m" / "kind-config.yaml").is_file()


def test_cli_manifests_unwritable_out_is_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    proc = subprocess.run(
        [sys.executable, "-m", "harness.cli", "manifests", "--platform", "kind", "--out", str(blocker / "sub")],
        capture_output=True, text=True, cwd=REPO, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and proc.stderr.startswith("error: manifests: cannot write")


@pytest.mark.parametrize("engine", ENGINES)
def test_statefulset_readiness_probe_waits_for_the_real_server(engine):
    """Issue 11 #1: without a probe the pod is Ready (and the seed refused) while the image's init server runs."""
    sts = statefulset.statefulset(engine, "ns", SPEC)
    c = sts["spec"]["template"]["spec"]["containers"][0]
    probe = c["readinessProbe"]
    argv = probe["exec"]["command"]
    assert argv[:2] == ["/bin/sh", "-c"]
    assert probe["periodSeconds"] <= 5 and probe["failureThreshold"] >= 3 and probe["timeoutSeconds"] >= 3
    cmd = argv[2]
    assert "set-at-run-time" not in cmd and "pw" not in cmd.split(), "no password value in the probe"
    env = {e["name"]: e for e in c["env"]}
    if engine in ("mysql", "mongodb"):
        # the init server listens on a socket (mysql --skip-networking) or 127.0.0.1 only (mongo): ask the pod IP
        assert '"$POD_IP"' in cmd and "127.0.0.1" not in cmd
        assert env["POD_IP"]["valueFrom"] == {"fieldRef": {"fieldPath": "status.podIP"}}
    assert {"mysql": "mysqladmin", "redis": "redis-cli", "mongodb": "mongosh"}[engine] in cmd
    if engine == "redis":
        assert "REDISCLI_AUTH=\"$REDIS_PASSWORD\"" in cmd and "grep -q PONG" in cmd
    if engine == "mysql":
        assert "--protocol=TCP" in cmd and 'MYSQL_PWD="$MYSQL_ROOT_PASSWORD"' in cmd
    validate_core(sts)


# -- day-2 objects (harness/manifests/day2.py) ------------------------------------------------------
OPS_CRD = "operations.kubeblocks.io_opsrequests.yaml"
BACKUP_CRD = "dataprotection.kubeblocks.io_backups.yaml"


def _day2_ops(engine):
    from harness.manifests import day2

    pod = f"{engine}-kb-{engine}-"
    return {
        "switchover": day2.switchover("sw", "ns", engine, pod + "0", pod + "1", 330),
        "switchover-no-candidate": day2.switchover("sw", "ns", engine, pod + "0", None),
        "restart": day2.restart("rs", "ns", engine, 900),
        "scale-out": day2.scale_out("so", "ns", engine, 1),
        "upgrade": day2.upgrade("up", "ns", engine, day2.UPGRADES[engine].kubeblocks_to),
        "restore": day2.restore("re", "ns", engine, f"{engine}-kb-backup-1"),
    }


def _valid(doc, schema):
    jsonschema.Draft7Validator(schema).validate(doc)
    assert unknown_fields(doc, schema) == [], "fields the API server would prune"


@pytest.mark.parametrize("engine", ENGINES)
def test_every_opsrequest_validates_against_crd_v1_0_2(engine):
    from k8s_fakes import crd_schema

    schema = crd_schema(OPS_CRD, "v1alpha1")
    for doc in _day2_ops(engine).values():
        _valid(doc, schema)


@pytest.mark.parametrize("engine", ENGINES)
def test_opsrequest_shapes_are_kubeblocks_examples(engine):
    ops = _day2_ops(engine)
    sw = ops["switchover"]["spec"]
    assert (sw["clusterName"], sw["type"], sw["timeoutSeconds"]) == (f"{engine}-kb", "Switchover", 330)
    assert sw["switchover"] == [{"componentName": engine, "instanceName": f"{engine}-kb-{engine}-0",
                                 "candidateName": f"{engine}-kb-{engine}-1"}]
    assert "candidateName" not in ops["switchover-no-candidate"]["spec"]["switchover"][0]
    assert ops["restart"]["spec"]["restart"] == [{"componentName": engine}]
    assert ops["scale-out"]["spec"]["horizontalScaling"] == [{"componentName": engine, "scaleOut": {"replicaChanges": 1}}]
    up = ops["upgrade"]["spec"]["upgrade"]["components"][0]
    assert up["componentName"] == engine and up["serviceVersion"]
    re_ = ops["restore"]["spec"]
    assert re_["type"] == "Restore" and re_["clusterName"] == f"{engine}-kb-restored", "restore goes to a NEW cluster"
    assert re_["restore"]["backupName"] == f"{engine}-kb-backup-1"


@pytest.mark.parametrize("engine", ENGINES)
def test_backup_validates_against_crd_v1_0_2(engine):
    from k8s_fakes import crd_schema

    from harness.manifests import day2

    doc = day2.backup(f"{engine}-kb-backup-1", "ns", engine)
    _valid(doc, crd_schema(BACKUP_CRD, "v1alpha1"))
    assert doc["spec"] == {"backupPolicyName": f"{engine}-kb-{engine}-backup-policy",
                           "backupMethod": {"mysql": "xtrabackup", "redis": "datafile", "mongodb": "dump"}[engine],
                           "deletionPolicy": "Delete"}


def test_day2_crd_validation_can_fail():
    from k8s_fakes import crd_schema

    from harness.manifests import day2

    schema = crd_schema(OPS_CRD, "v1alpha1")
    doc = day2.switchover("sw", "ns", "mysql", "p", "c")
    del doc["spec"]["switchover"][0]["instanceName"]  # required
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(schema).validate(doc)
    doc = day2.restore("re", "ns", "mysql", "b")
    doc["spec"]["restore"]["volumeRestorePolicy"] = "AllAtOnce"  # not in the enum
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(schema).validate(doc)
    doc = day2.backup("b", "ns", "redis")
    doc["spec"]["backupRepo"] = "x"  # not a Backup field
    assert unknown_fields(doc, crd_schema(BACKUP_CRD, "v1alpha1")) == [".spec.backupRepo"]


def test_backup_repo_is_structurally_what_kubeblocks_reads():
    """No BackupRepo CRD in shared/kubeblocks/crds-v1.0.2: checked against the shape of KubeBlocks'
    examples/mysql/backuprepo.yaml (reference/kubeblocks-day2.md) instead; its core objects strictly."""
    from harness.manifests import day2

    docs = day2.backup_repo_manifests("openim-poc-backup", "ak", "sk")
    assert [d["kind"] for d in docs] == ["Namespace", "Secret", "Deployment", "Service", "BackupRepo"]
    repo = docs[-1]
    assert repo["apiVersion"] == "dataprotection.kubeblocks.io/v1alpha1" and "namespace" not in repo["metadata"]
    assert repo["metadata"]["annotations"] == {"dataprotection.kubeblocks.io/is-default-repo": "true"}
    spec = repo["spec"]
    assert set(spec) == {"storageProviderRef", "accessMethod", "pvReclaimPolicy", "volumeCapacity", "config", "credential"}
    assert (spec["storageProviderRef"], spec["accessMethod"]) == ("minio", "Tool")
    assert spec["pvReclaimPolicy"] in ("Retain", "Delete")
    assert set(spec["config"]) == {"bucket", "endpoint", "region"}
    secret, minio, svc = docs[1], docs[2], docs[3]
    assert spec["credential"] == {"name": secret["metadata"]["name"], "namespace": "openim-poc-backup"}
    assert set(secret["stringData"]) == {"accessKeyId", "secretAccessKey"}, "the keys the minio StorageProvider reads"
    assert spec["config"]["endpoint"] == f"http://{svc['metadata']['name']}.openim-poc-backup.svc.cluster.local:9000"
    assert spec["config"]["bucket"] in minio["spec"]["template"]["spec"]["containers"][0]["command"][2]
    for doc in docs[:-1]:
        validate_core(doc)


@pytest.mark.parametrize("engine", ["mysql", "redis"])
def test_restored_statefulset_is_a_renamed_copy_on_the_other_node_port(engine):
    from harness.manifests import day2
    from harness.manifests.common import restored_node_port

    port = restored_node_port(engine, "statefulset")
    assert port == NODE_PORTS[(engine, "kubeblocks")]
    docs = day2.restored_statefulset(statefulset.manifests(engine, "ns", SPEC, "pw"), engine, port)
    assert [d["kind"] for d in docs] == ["Service", "Service", "StatefulSet"], "the Secret is the original's"
    sts = docs[-1]
    assert sts["metadata"]["name"] == sts["spec"]["serviceName"] == f"{engine}-restored"
    assert sts["spec"]["selector"]["matchLabels"] == {"app": f"{engine}-restored"}
    assert [s["spec"]["selector"] for s in docs[:2]] == [{"app": f"{engine}-restored"}] * 2
    assert docs[1]["spec"]["ports"][0]["nodePort"] == port
    pod = sts["spec"]["template"]["spec"]
    if engine == "redis":
        assert pod["initContainers"][0]["name"] == "restore-wait"
        assert "--appendonly no" in pod["containers"][0]["command"][2]
    for d in docs:
        validate_core(d)
    assert statefulset.statefulset(engine, "ns", SPEC)["metadata"]["name"] == engine, "the original is untouched"


def test_upgrades_are_minor_steps_within_one_line():
    from harness.manifests import day2, kubeblocks

    for engine, path in day2.UPGRADES.items():
        assert kubeblocks.version_key(path.kubeblocks_from) < kubeblocks.version_key(path.kubeblocks_to)
        assert path.kubeblocks_from.rsplit(".", 1)[0] == path.kubeblocks_to.rsplit(".", 1)[0] == kubeblocks.PREFERRED_LINE[engine]
        old, new = statefulset.IMAGES[engine], path.image_to
        assert old.split(":")[0] == new.split(":")[0] and old != new
    # both ends in the v1.0.2 mysql addon's list (reference/kubeblocks.md section 1)
    assert {day2.UPGRADES["mysql"].kubeblocks_from, day2.UPGRADES["mysql"].kubeblocks_to} <= {
        "8.0.33", "8.0.34", "8.0.35", "8.0.36", "8.0.37", "8.0.38", "8.0.39", "8.0.41", "8.0.44"}
