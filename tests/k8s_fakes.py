"""Shared helpers for the kind/k8s tests: where shared/ is, schema validators, a fake cluster.

The fake cluster is a canned-answer command runner: no Kubernetes API can exist on the test
machine, so tests that use it say "fake" in their names.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from harness.errors import DeployError
from harness.platforms.commands import CommandResult, DryRunRunner

REPO = Path(__file__).resolve().parents[1]


def shared_dir() -> Path | None:
    """CI clones the repo with a copy of shared/ beside it: `<repo>/../shared`."""
    cand = REPO.parent / "shared"
    return cand if cand.is_dir() else None


def cluster_crd_schema() -> dict[str, Any]:
    shared = shared_dir()
    crd = shared / "kubeblocks" / "crds-v1.0.2" / "apps.kubeblocks.io_clusters.yaml" if shared else None
    if crd is None or not crd.is_file():
        pytest.skip(f"KubeBlocks CRDs not found at {REPO.parent / 'shared/kubeblocks/crds-v1.0.2'} (shared/ absent)")
    return _crd_v1_schema(crd)


def crd_schema(file: str, version: str) -> dict[str, Any]:
    """The openAPIV3Schema of `version` in one of shared/'s KubeBlocks v1.0.2 CRD files."""
    shared = shared_dir()
    crd = shared / "kubeblocks" / "crds-v1.0.2" / file if shared else None
    if crd is None or not crd.is_file():
        pytest.skip(f"KubeBlocks CRD {file} not found under {REPO.parent / 'shared/kubeblocks/crds-v1.0.2'}")
    return _crd_schema(crd, version)


def _crd_v1_schema(crd: Path) -> dict[str, Any]:
    return _crd_schema(crd, "v1")


@functools.cache
def _crd_schema(crd: Path, version: str) -> dict[str, Any]:
    """Parsed once per session (2 MB of YAML; libyaml's loader when PyYAML has it). Read-only."""
    import yaml

    doc = yaml.load(crd.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    found = next(v for v in doc["spec"]["versions"] if v["name"] == version)
    return found["schema"]["openAPIV3Schema"]


def unknown_fields(obj: Any, schema: dict[str, Any], path: str = "") -> list[str]:
    """Fields the structural schema does not declare (the API server would prune them silently)."""
    found: list[str] = []
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return found
    if isinstance(obj, dict):
        props = schema.get("properties")
        addl = schema.get("additionalProperties")
        for k, v in obj.items():
            if props is not None and k in props:
                found += unknown_fields(v, props[k], f"{path}.{k}")
            elif isinstance(addl, dict):
                found += unknown_fields(v, addl, f"{path}.{k}")
            elif props is not None:
                found.append(f"{path}.{k}")
    elif isinstance(obj, list) and isinstance(schema.get("items"), dict):
        for i, v in enumerate(obj):
            found += unknown_fields(v, schema["items"], f"{path}[{i}]")
    return found


def validate_core(doc: dict[str, Any]) -> None:
    """Kubernetes' own schema for the node image's minor version, strict (no unknown fields)."""
    import kubernetes_validate

    kubernetes_validate.validate(doc, "1.32", strict=True)


class FakeCluster(DryRunRunner):
    """A runner that answers from canned output like a cluster would, and executes nothing.

    Unlike the dry-run, it behaves as a real run: waits poll once and fail when not ready.
    """

    dry_run = False

    def __init__(self, answer: Callable[[Sequence[str]], CommandResult | None]):
        super().__init__(out=None, responder=answer)
        self.stdins: list[str] = []

    def run(self, argv, *, stdin=None, stdin_label=None, check=True, timeout_s=120.0, quiet=False, record=True):
        if stdin is not None:
            self.stdins.append(stdin)
        return super().run(argv, stdin=stdin, stdin_label=stdin_label, check=check, timeout_s=timeout_s, quiet=quiet,
                           record=record)

    def wait(self, what, ready, timeout_s, interval_s=2.0):
        super().wait(what, ready, timeout_s, interval_s)
        if not ready():
            raise DeployError(f"fake cluster: not ready: {what}")

    def commands(self) -> list[str]:
        return [s.text for s in self.steps if s.kind == "run"]

    def waits(self) -> list[tuple[str, float | None]]:
        return [(s.text, s.timeout_s) for s in self.steps if s.kind == "wait"]


def node(name: str, zone: str | None, ready: bool = True) -> dict[str, Any]:
    labels = {"kubernetes.io/hostname": name}
    if zone:
        labels["topology.kubernetes.io/zone"] = zone
    return {"metadata": {"name": name, "labels": labels},
            "status": {"addresses": [{"type": "InternalIP", "address": "172.18.0.9"}],
                       "conditions": [{"type": "Ready", "status": "True" if ready else "Unknown"}]}}


def pod(name: str, node_name: str, role: str | None, component: str, instance: str, ip: str, ready: bool = True,
        role_event_us: int | None = None) -> dict[str, Any]:
    """`role_event_us`: KubeBlocks' `apps.kubeblocks.io/last-role-snapshot-version` (the role event's µs)."""
    labels = {"app.kubernetes.io/instance": instance, "apps.kubeblocks.io/component-name": component}
    if role:
        labels["kubeblocks.io/role"] = role
    meta: dict[str, Any] = {"name": name, "labels": labels}
    if role_event_us is not None:
        meta["annotations"] = {"apps.kubeblocks.io/last-role-snapshot-version": str(role_event_us)}
    return {
        "metadata": meta,
        "spec": {"nodeName": node_name},
        "status": {"phase": "Running", "podIP": ip, "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }


def endpoint_slice(service: str, *endpoints: tuple[str, str, bool]) -> str:
    """`kubectl get endpointslices -o json` for `service`: (pod, ip, ready) per endpoint."""
    eps = [{"addresses": [ip], "conditions": {"ready": ready, "serving": ready, "terminating": False},
            "targetRef": {"kind": "Pod", "name": name}, "nodeName": "n"} for name, ip, ready in endpoints]
    return json.dumps({"items": [{"metadata": {"name": f"{service}-x1", "labels": {"kubernetes.io/service-name": service}},
                                  "addressType": "IPv4", "endpoints": eps}]})


def controller_manager(*flags: str) -> str:
    """`kubectl get pods -n kube-system -l component=kube-controller-manager -o json` with these flags."""
    return json.dumps({"items": [{"metadata": {"name": "kube-controller-manager-x"},
                                  "spec": {"containers": [{"name": "kube-controller-manager",
                                                           "command": ["kube-controller-manager", *flags]}]}}]})


KIND_NODES = {
    "items": [
        node("openim-poc-control-plane", None),
        node("openim-poc-worker", "zone-a"),
        node("openim-poc-worker2", "zone-b"),
        node("openim-poc-worker3", "zone-c"),
    ]
}


def items(*objs: dict[str, Any]) -> str:
    return json.dumps({"items": list(objs)})


def plan_cell(scenario: str, engine: str, mode: str, fault_s: float | None = None):
    """A real cell plan (what the run loop hands `run_cell`) for dry-run tests; `fault_s` overrides the hold."""
    import scenarios
    from harness.plan import CellPlan

    sc = scenarios.get(scenario)
    t = sc.timings_for("quick")
    if fault_s is not None:
        t = t.model_copy(update={"fault_s": fault_s})
    return CellPlan(sc, engine, mode, 0, t)
