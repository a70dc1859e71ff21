"""How the k8s platform is reached (`ClusterSettings`) and what `harness doctor --platform k8s` checks.

Starts nothing: the checks only ask kubectl."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from harness.contracts import (
    Check,
)
from harness.manifests.common import (
    NAMESPACE_PREFIX,
)
from harness.platforms.tools import (
    KUBEBLOCKS_VERSION,
    TOOLS_DIR,
    find_tool,
    tool_check,
)

if TYPE_CHECKING:
    pass


from harness.platforms.k8s_parse import kubeblocks_decision, kubeblocks_version_of

KUBEBLOCKS_SELECTOR = "app.kubernetes.io/name=kubeblocks,app.kubernetes.io/component=apps"  # the chart's operator Deployment
KUBEBLOCKS_CRD = "clusters.apps.kubeblocks.io"
# CRDs present, no operator Deployment with the chart's labels (another release name, nameOverride, a
# stopped operator): some KubeBlocks the harness cannot identify, so it is not touched without asking.
UNKNOWN_KUBEBLOCKS = "unknown (its CRDs are installed, no operator Deployment labelled by the chart)"

@dataclass(frozen=True)
class ClusterSettings:
    """How to reach the cluster and where things go; defaults suit kind."""

    kubeconfig: str | None = None
    context: str | None = None
    namespace_prefix: str = NAMESPACE_PREFIX
    kubeblocks_version: str = KUBEBLOCKS_VERSION
    # k8s: an installed KubeBlocks of another version is refused unless this is set (`--install-kubeblocks`),
    # which moves it to the pinned version; one of the pinned version is used as it is; none is installed.
    install_kubeblocks: bool = False
    # A backup scenario needs KubeBlocks' data-protection controller, which watches VolumeSnapshots:
    # then the pinned snapshot CRDs are applied first. Without one (none exists yet) the controller is
    # switched off (`dataProtection.enabled=false`), so it cannot crash-loop for want of those CRDs.
    data_protection: bool = False
    node_address: str | None = None  # k8s: where NodePorts are reached (default: first node's InternalIP)
    tools_dir: Path = TOOLS_DIR



def _kubectl_argv(kubectl: str, settings: ClusterSettings | None) -> list[str]:
    """kubectl with the kubeconfig and context of the settings (the preflight's own calls)."""
    settings = settings or ClusterSettings()
    argv = [kubectl]
    if settings.kubeconfig:
        argv += ["--kubeconfig", settings.kubeconfig]
    if settings.context:
        argv += ["--context", settings.context]
    return argv


def cluster_check(kubectl: str, settings: ClusterSettings | None = None) -> Check:
    """Is a cluster reachable through the kubeconfig? (k8s only: kind creates its own.)"""
    argv = _kubectl_argv(kubectl, settings) + ["version", "--request-timeout=5s", "-o", "json"]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=15, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        proc = None
        why = str(e)
    if proc is not None and proc.returncode == 0:
        try:
            server = json.loads(proc.stdout).get("serverVersion", {}).get("gitVersion")
        except ValueError:
            server = None
        return Check("kubernetes cluster", True, server, "reachable through the kubeconfig")
    if proc is not None:
        why = (proc.stderr.strip().splitlines() or ["no answer"])[-1]
    return Check(
        "kubernetes cluster",
        False,
        detail=f"no cluster answers through the kubeconfig: {why}",
        fix="set KUBECONFIG (or --settings kubeconfig/context) to a reachable cluster, or use --platform kind",
    )


def kubeblocks_check(kubectl: str, settings: ClusterSettings | None = None) -> Check:
    """Which KubeBlocks the cluster runs, and whether a run may use it (a different version is refused
    unless `install_kubeblocks`). Its version goes into results.json (`run.software.kubeblocks`)."""
    settings = settings or ClusterSettings()
    argv = _kubectl_argv(kubectl, settings) + ["get", "deployments", "-A", "-l", KUBEBLOCKS_SELECTOR, "-o", "json",
                                               "--request-timeout=10s"]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        return Check("kubeblocks", False, detail=f"cannot ask the cluster: {e}", required=False)
    if proc.returncode != 0:
        why = (proc.stderr.strip().splitlines() or ["no answer"])[-1]
        return Check("kubeblocks", False, detail=f"cannot list deployments: {why}", required=False)
    try:
        found = kubeblocks_version_of(proc.stdout)
    except ValueError:
        found = None
    if found is None:
        crd = subprocess.run([*argv[: argv.index("get")], "get", "crd", KUBEBLOCKS_CRD, "-o", "name",
                              "--request-timeout=10s"], capture_output=True, text=True, timeout=20, check=False)
        if crd.returncode == 0 and crd.stdout.strip():
            found = UNKNOWN_KUBEBLOCKS
    pinned = settings.kubeblocks_version
    action, why = kubeblocks_decision(found, pinned, settings.install_kubeblocks)
    if action == "refuse":
        return Check("kubeblocks", False, found, why, fix=f"--install-kubeblocks (moves it to {pinned}), or another cluster")
    return Check("kubeblocks", True, pinned if action == "install" else found, why, required=False)


def preflight(settings: ClusterSettings | None = None) -> list[Check]:
    """What `harness doctor --platform k8s` reports: tools, a reachable cluster, its KubeBlocks."""
    settings = settings or ClusterSettings()
    checks = [tool_check("kubectl", settings.tools_dir), tool_check("helm", settings.tools_dir)]
    kubectl = find_tool("kubectl", settings.tools_dir)
    if kubectl is None:
        checks.append(Check("kubernetes cluster", False, detail="cannot ask without kubectl", fix="install kubectl"))
    else:
        cluster = cluster_check(str(kubectl), settings)
        checks.append(cluster)
        if cluster.ok:
            checks.append(kubeblocks_check(str(kubectl), settings))
    return checks


