"""Pure manifest builders (dicts in, dicts out) and `write_all` for `harness manifests`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.errors import HarnessError


def dump_yaml(docs: list[dict[str, Any]]) -> str:
    """Multi-line strings (a ConfigMap's files) as literal blocks, so the dry run shows them readably."""
    import yaml

    class _Dumper(yaml.SafeDumper):
        pass

    def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)

    _Dumper.add_representer(str, _str)
    return yaml.dump_all(docs, Dumper=_Dumper, sort_keys=False, default_flow_style=False)


def review_manifests(spec: Any = None, kind: bool = False) -> dict[str, list[dict[str, Any]]]:
    """file name -> documents, for every deployment the kind/k8s platforms apply, and their Prometheus
    (`kind`: pinned to the control-plane node, as the kind platform applies it).

    serviceVersions are the review defaults (a run picks them from the installed addon) and
    Secrets carry a placeholder (a run generates a fresh password).
    """
    from harness.contracts import ENGINES, DeploySpec
    from harness.manifests import kubeblocks, observability, statefulset
    from harness.manifests.common import harness_namespaces, namespace_for, observability_namespace

    spec = spec or DeploySpec()
    out: dict[str, list[dict[str, Any]]] = {}
    for engine in ENGINES:
        ns = namespace_for(engine, "kubeblocks")
        out[f"kubeblocks/{engine}.yaml"] = [_namespace(ns)] + kubeblocks.manifests(
            engine, ns, spec, kubeblocks.REVIEW_SERVICE_VERSION[engine]
        )
        ns = namespace_for(engine, "statefulset")
        out[f"statefulset/{engine}.yaml"] = [_namespace(ns)] + statefulset.manifests(
            engine, ns, spec, statefulset.PLACEHOLDER_PASSWORD
        )
    out["observability/prometheus.yaml"] = observability.manifests(observability_namespace(), harness_namespaces(),
                                                                       control_plane=kind)
    return out


def _namespace(name: str) -> dict[str, Any]:
    from harness.manifests.common import HARNESS_LABEL

    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": {HARNESS_LABEL: "openim-kb-poc"}}}


def write_all(platform: str, out: Path, node_image: str) -> list[Path]:
    """Writes every manifest (and, for kind, the cluster config with `node_image`) under `out`; returns
    the paths. The pinned image comes from the caller: builders stand on no platform."""
    from harness.manifests.kind_config import kind_config

    if platform not in ("kind", "k8s"):
        raise HarnessError(f"manifests: platform must be kind or k8s, not {platform!r}")
    out = Path(out)
    written: list[Path] = []
    try:
        files = review_manifests(kind=platform == "kind")
        if platform == "kind":
            files = {"kind-config.yaml": [kind_config(node_image)], **files}
        for rel, docs in files.items():
            path = out / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(dump_yaml(docs))
            written.append(path)
    except OSError as e:
        raise HarnessError(f"manifests: cannot write under {out}: {e.strerror or e}") from e
    return written
