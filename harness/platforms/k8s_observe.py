"""The in-cluster Prometheus of the kind/k8s platforms (a part of `KubernetesPlatform`): applied at
install time beside KubeBlocks, read from the host on 127.0.0.1 only.

kind maps its NodePort to 127.0.0.1 of the host (kind_config.py). On an existing cluster (k8s) the node
addresses are not the host's loopback, so the platform runs `kubectl port-forward --address 127.0.0.1`
in the background for the run. Observation is evidence, not a precondition: a Prometheus that does not
become ready leaves the cells unobserved with the reason, and the run goes on.
"""

from __future__ import annotations

import urllib.request
from pathlib import Path
from typing import Any

from harness.contracts import Deployment, ObservationSource
from harness.errors import DeployError
from harness.manifests import exporters, observability
from harness.manifests.common import (
    PROMETHEUS_NODE_PORT,
    deployment_id,
    harness_namespaces,
    observability_namespace,
)
from harness.observe.metrics import SCRAPE_INTERVAL_S
from harness.observe.metrics import of as metrics_of
from harness.platforms.commands import CommandResult, Runner, render_argv

PROMETHEUS_READY_TIMEOUT_S = 300.0  # an image pull on a fresh cluster
PORT_FORWARD_READY_TIMEOUT_S = 30.0
NOTES = (
    "KubeBlocks' Redis exporter (agamotto) collects every 15 s: its series change at most every 15 s whatever "
    "the scrape interval",
    "the StatefulSet sidecars are the upstream exporters (prom/mysqld-exporter, oliver006/redis_exporter, "
    "percona/mongodb_exporter); KubeBlocks ships forks (apecloud/mysqld-exporter, apecloud/mongodb_exporter) and, "
    "for Redis, agamotto",
    "a pod kill deletes the pod with its exporter: the target disappears and its `up` says it",
)


class KubernetesObservation:
    """Install and read the Prometheus (the `Observed` protocol)."""

    runner: Runner
    run_dir: Path
    creates_cluster: bool
    _registry: Any
    _prometheus_missing: str | None
    _port_forward: Any
    _observability_applied: bool

    def kubectl(self, *args: str, **kw: Any) -> CommandResult:
        raise NotImplementedError

    def _tool(self, name: str) -> str:
        raise NotImplementedError

    def _kube_flags(self) -> list[str]:
        raise NotImplementedError

    def _apply(self, docs: list[dict[str, Any]], ns: str) -> None:
        raise NotImplementedError

    def _is_plan(self) -> bool:
        raise NotImplementedError

    @property
    def _namespace_prefix(self) -> str:
        return self.settings.namespace_prefix  # type: ignore[attr-defined]

    def prometheus_url(self) -> str:
        """kind: the NodePort mapped to the host's loopback; k8s: the port-forward's local end (same number)."""
        return f"http://127.0.0.1:{PROMETHEUS_NODE_PORT}"

    def install_observability(self) -> None:
        """The Prometheus manifests, then its Deployment ready, then (k8s) the port-forward."""
        self._prometheus_missing = None
        ns = observability_namespace(self._namespace_prefix)
        self.runner.note(f"observability: Prometheus {observability.IMAGE} in {ns}, scraping the exporters of "
                         f"{', '.join(harness_namespaces(self._namespace_prefix))} every {SCRAPE_INTERVAL_S:g} s")
        # kind (the cluster is the run's own): on the control plane, which zone faults leave alone
        self._observability_applied = True
        self._apply(observability.manifests(ns, harness_namespaces(self._namespace_prefix),
                                            control_plane=self.creates_cluster), ns)
        try:
            self.runner.wait(f"deployment/{observability.NAME} -n {ns} ready (its /-/ready probe passes)",
                             lambda: self._prometheus_ready(ns), PROMETHEUS_READY_TIMEOUT_S)
        except DeployError as e:
            self._prometheus_missing = f"the in-cluster Prometheus did not become ready: {e}"[:300]
            self.runner.note(self._prometheus_missing + "; the cells run unobserved")
            return
        if not self.creates_cluster:
            self._start_port_forward(ns)

    def _prometheus_ready(self, ns: str) -> bool:
        r = self.kubectl("get", f"deployment/{observability.NAME}", "-n", ns, "-o",
                         "jsonpath={.status.readyReplicas}", check=False)
        return r.stdout.strip() == "1"

    def _start_port_forward(self, ns: str) -> None:
        """k8s: the Service on 127.0.0.1 of the host only, for the run (stopped by `close`)."""
        argv = [self._tool("kubectl"), *self._kube_flags(), *observability.port_forward_args(ns, PROMETHEUS_NODE_PORT)]
        if self.runner.dry_run or self._registry is None:
            self.runner.note(f"background for the run: {render_argv(argv)}")
            if not self.runner.dry_run:
                self._prometheus_missing = "no process registry to run the port-forward under: " + render_argv(argv)
            return
        log = self.run_dir / "logs" / "prometheus-port-forward.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        self._port_forward = self._registry.spawn(argv, "prometheus-port-forward", log_path=log)
        try:
            self.runner.wait(f"{self.prometheus_url()}/-/ready answers (port-forward)", self._answers,
                             PORT_FORWARD_READY_TIMEOUT_S, interval_s=1.0)
        except DeployError as e:
            self._prometheus_missing = f"kubectl port-forward to the Prometheus does not answer ({log}): {e}"[:300]

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(self.prometheus_url() + "/-/ready", timeout=2) as r:  # noqa: S310 - loopback
                return r.status == 200
        except OSError:
            return False

    def remove_observability(self) -> None:
        """k8s: the port-forward stopped, the Prometheus and its cluster-scoped RBAC deleted, so the run
        leaves nothing on a cluster it does not own (kind deletes the whole cluster instead)."""
        proc, self._port_forward = getattr(self, "_port_forward", None), None
        if proc is not None and self._registry is not None:
            self._registry.stop(proc.pid)
        if self.creates_cluster or not getattr(self, "_observability_applied", False):
            return
        role = observability.cluster_role_name()
        self.kubectl("delete", f"clusterrolebinding/{role}", f"clusterrole/{role}", "--ignore-not-found", check=False)
        self.kubectl("delete", "namespace", observability_namespace(self._namespace_prefix), "--ignore-not-found",
                     "--wait=false", check=False)
        self._observability_applied = False

    def observation(self, dep: Deployment) -> ObservationSource:
        """The Prometheus and the labels of this deployment's series; `missing` says why there are none."""
        h = dep.handle
        missing = getattr(self, "_prometheus_missing", None)
        if missing is None and self._is_plan():
            missing = "dry run: no Prometheus is queried"
        if missing is None and metrics_of(dep.engine) is None:
            missing = f"its exporter is scraped, but the harness has no metric table for {dep.engine} yet"
        if missing is None and not h.owns_namespace:
            missing = ("a restored copy: not compared (a StatefulSet copy is not scraped; a Cluster copy's series "
                       "carry `deployment=<id>-restored`)")
        return ObservationSource(url=self.prometheus_url(), selector={"deployment": deployment_id(dep.engine, dep.mode)},
                                 scrape_interval_s=SCRAPE_INTERVAL_S, exporters=self._exporters(dep),
                                 notes=NOTES, missing=missing)

    def _exporters(self, dep: Deployment) -> dict[str, str]:
        """pod -> exporter image (the baseline's from its manifest, KubeBlocks' as its addon ships it)."""
        table = exporters.IMAGES if dep.mode == "statefulset" else exporters.KUBEBLOCKS_IMAGES
        image = table[dep.engine]
        pods: list[str] = []
        if not self._is_plan():
            try:
                pods = [p.name for p in self.pods(dep)]  # type: ignore[attr-defined]
            except Exception:  # noqa: BLE001 - the pod list only names the keys
                pods = []
        return {p: image for p in pods} or {"*": image}
