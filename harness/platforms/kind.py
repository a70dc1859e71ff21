"""The `kind` platform: a cluster this harness creates and deletes, zones as Docker containers.

One control-plane node (never faulted; it carries the host port mappings) and three workers
labelled zone-a/b/c. Zone faults act on the workers' containers: `docker stop`/`start` for an
outage, `docker network disconnect`/`connect kind` for a partition. The kubeconfig lives in the
run directory, so the user's own kubeconfig is never touched.

A partitioned node is reconnected with the addresses it had (`--ip`/`--ip6`): kind fixes a changed
node IP only when the container starts (its entrypoint rewrites the kubelet's flags), not on a live
reconnect, so a node that came back on another address would stay NotReady. The addresses are
checked after the reconnect, and the zone's nodes must be Ready again before the cell ends.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from harness.contracts import ZONES, Check, Deployment
from harness.errors import DeployError, HarnessError
from harness.manifests import dump_yaml
from harness.manifests.common import ZONE_LABEL
from harness.manifests.kind_config import kind_config, worker_container_names
from harness.platforms.commands import Runner
from harness.platforms.k8s_parse import nodes_in_zone, ready_nodes
from harness.platforms.k8s_preflight import ClusterSettings
from harness.platforms.kubernetes import (
    CLUSTER_NODES_READY_TIMEOUT_S,
    KubernetesPlatform,
    platform_dir,
    runner_for,
)
from harness.platforms.tools import (
    KIND_NODE_IMAGE,
    KUBEBLOCKS_VERSION,
    KUBERNETES_VERSION,
    PINS,
    TOOLS_DIR,
    docker_engine_check,
    tool_check,
)
from harness.procs import ProcessRegistry

if TYPE_CHECKING:
    from harness.context import RunContext

KIND_NETWORK = "kind"  # kind's fixed Docker network name
CREATE_WAIT = "180s"  # control plane Ready on a 2-core laptop


def network_addresses(inspect_json: str, network: str = KIND_NETWORK) -> tuple[str, str]:
    """(IPv4, IPv6) of a container on `network`, from `docker inspect --format '{{json .NetworkSettings.Networks}}'`."""
    try:
        nets = json.loads(inspect_json or "{}") or {}
    except ValueError:
        return "", ""
    net = nets.get(network) or {}
    return net.get("IPAddress") or "", net.get("GlobalIPv6Address") or ""


def ip_not_accepted(stderr: str) -> bool:
    """Docker refuses `--ip` on a network without a user-configured subnet for that family
    (kind configures only its IPv6 subnet; whether IPv4 `--ip` is accepted depends on the engine)."""
    text = stderr.lower()
    return "user specified ip address is supported only" in text or "user configured subnets" in text


@dataclass(frozen=True)
class KindSettings:
    cluster_name: str = "openim-poc"
    node_image: str = KIND_NODE_IMAGE
    tools_dir: Path = TOOLS_DIR
    keep_cluster: bool = False  # leave the cluster after the run (for debugging)
    extra: ClusterSettings = field(default_factory=ClusterSettings)


class KindPlatform(KubernetesPlatform):
    name = "kind"
    creates_cluster = True
    supports_partition = True

    def __init__(
        self,
        runner: Runner | None = None,
        run_dir: Path = Path("."),
        settings: KindSettings | None = None,
        *,
        registry: ProcessRegistry | None = None,
        work_dir: Path | None = None,
    ):
        self.kind_settings = settings or KindSettings()
        kubeconfig = str(Path(run_dir).resolve() / "kubeconfig")
        cluster = replace(
            self.kind_settings.extra,
            kubeconfig=kubeconfig,
            context=f"kind-{self.kind_settings.cluster_name}",
            install_kubeblocks=True,  # the cluster is this run's own
            node_address="127.0.0.1",  # extraPortMappings listen on the host's loopback only
            tools_dir=self.kind_settings.tools_dir,
        )
        super().__init__(runner, run_dir, cluster, registry=registry)
        self._created = False

    def preflight(self) -> list[Check]:
        return preflight(self.kind_settings.tools_dir)

    def setup(self) -> None:
        if self._ready:
            return
        if not self.runner.dry_run:
            engine = docker_engine_check()
            if not engine.ok:
                raise HarnessError(f"kind: {engine.detail}. {engine.fix}")
        self.ensure_tools(("kind", "kubectl", "helm"))
        self.create_cluster()
        self.install_kubeblocks()
        self.install_observability()
        self._ready = True

    def install_kubeblocks(self) -> None:
        """The cluster is this run's own: KubeBlocks at the pinned version, its addons Enabled (the
        chart installs them), their ClusterDefinitions Available."""
        self.install_pinned_kubeblocks()
        self.wait_addons_enabled()
        self.wait_cluster_definitions()

    def kubernetes_minor(self) -> int | None:
        return int(KUBERNETES_VERSION.split(".")[1])  # the pinned node image

    def kind(self, *args: str, **kw) -> object:
        return self.runner.run([self._tool("kind"), *args], **kw)

    def create_cluster(self) -> None:
        name = self.kind_settings.cluster_name
        existing = self.runner.run([self._tool("kind"), "get", "clusters"], check=False).stdout.split()
        if name in existing:
            raise HarnessError(
                f"a kind cluster named {name} already exists; delete it (`kind delete cluster --name {name}`) "
                "or choose another cluster_name"
            )
        config_path = self.run_dir / "kind-config.yaml"
        text = dump_yaml([kind_config(self.kind_settings.node_image)])
        if not self.runner.dry_run:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            config_path.write_text(text)
        self.runner.note(f"kind config ({config_path}):\n" + "\n".join("#   " + line for line in text.splitlines()))
        delete_argv = [self._tool("kind"), "delete", "cluster", "--name", name]
        if self._registry is not None and not self.runner.dry_run:
            self._registry.add_undo(f"kind-cluster:{name}", delete_argv)  # a SIGKILLed run leaves it to cleanup
        self.runner.run(
            [self._tool("kind"), "create", "cluster", "--name", name, "--config", str(config_path),
             "--kubeconfig", str(self.settings.kubeconfig), "--wait", CREATE_WAIT],
            timeout_s=900,
        )  # fmt: skip
        self._created = True
        self.runner.wait(
            f"3 worker nodes Ready (condition Ready=True) with {ZONE_LABEL} zone-a/b/c, and the control plane",
            self._zones_ready,
            CLUSTER_NODES_READY_TIMEOUT_S,
        )

    def _zones_ready(self) -> bool:
        nodes = self.kubectl("get", "nodes", "-o", "json", check=False).stdout
        ready = ready_nodes(nodes)
        zoned = [nodes_in_zone(nodes, z) for z in ZONES]
        return bool(ready) and all(ready.values()) and all(zoned)

    def close(self) -> None:
        """Deletes the cluster this run created (unless `keep_cluster`)."""
        if not self._created or self.kind_settings.keep_cluster:
            return
        self.runner.run(
            [self._tool("kind"), "delete", "cluster", "--name", self.kind_settings.cluster_name,
             "--kubeconfig", str(self.settings.kubeconfig)],
            timeout_s=300,
        )  # fmt: skip
        self._created = False
        if self._registry is not None and not self.runner.dry_run:
            self._registry.remove_undo(f"kind-cluster:{self.kind_settings.cluster_name}")

    def zone_nodes(self, zone: str) -> list[str]:
        """The zone's node containers (kind names each node container after its node)."""
        if self._is_plan():
            return [worker_container_names(self.kind_settings.cluster_name)[zone]]
        nodes = nodes_in_zone(self.kubectl("get", "nodes", "-o", "json").stdout, zone)
        if not nodes:
            raise HarnessError(f"no kind node carries {ZONE_LABEL}={zone}")
        return nodes

    def zone_fault(self, dep: Deployment, kind: str, zone: str, hit: tuple[str, ...]) -> Callable[[], None]:
        nodes = self.zone_nodes(zone)
        if kind == "zone-outage":
            # -t 0: the machines die, they do not shut down cleanly
            self.runner.run(["docker", "stop", "-t", "0", *nodes], timeout_s=120)

            def undo() -> None:
                self.runner.run(["docker", "start", *nodes], timeout_s=120)

            return undo
        before = {node: self.node_addresses(node) for node in nodes}
        for node in nodes:
            self.runner.run(["docker", "network", "disconnect", KIND_NETWORK, node], timeout_s=60)

        def reconnect() -> None:
            for node in nodes:
                self.reconnect(node, *before[node])

        return reconnect

    def node_addresses(self, node: str) -> tuple[str, str]:
        """The node container's (IPv4, IPv6) on the kind network; placeholders in a dry-run plan."""
        r = self.runner.run(["docker", "inspect", "--format", "{{json .NetworkSettings.Networks}}", node],
                            timeout_s=30, check=not self._is_plan())
        v4, v6 = network_addresses(r.stdout)
        if self._is_plan():
            return v4 or "<IPv4 read above>", v6 or "<IPv6 read above>"
        if not v4 and not v6:
            raise DeployError(f"docker inspect {node}: no address on the {KIND_NETWORK} network")
        return v4, v6

    def reconnect(self, node: str, v4: str, v6: str) -> None:
        """Back on the kind network at the same addresses, and checked to be so."""
        pinned = (["--ip", v4] if v4 else []) + (["--ip6", v6] if v6 else [])
        r = self.runner.run(["docker", "network", "connect", *pinned, KIND_NETWORK, node], timeout_s=60, check=False)
        if r.returncode != 0:
            if not ip_not_accepted(r.stderr):
                raise DeployError(f"docker network connect {KIND_NETWORK} {node} failed with exit {r.returncode}: "
                                  f"{r.stderr.strip()[-300:]}")
            self.runner.note(f"docker refused --ip on the {KIND_NETWORK} network ({r.stderr.strip()[-120:]}); "
                             "reconnecting without it, then checking the addresses")
            self.runner.run(["docker", "network", "connect", KIND_NETWORK, node], timeout_s=60)
        if self._is_plan():
            self.runner.note(f"then: {node}'s addresses must be {v4} / {v6} again (docker inspect)")
            self.node_addresses(node)
            return
        got = self.node_addresses(node)
        if got != (v4, v6):
            raise DeployError(
                f"{node} came back on the {KIND_NETWORK} network as {got[0] or '-'} / {got[1] or '-'} instead of "
                f"{v4 or '-'} / {v6 or '-'}: kind rewrites a node's kubelet address only at container start, so "
                "this node would stay unreachable; delete the cluster (`harness cleanup`) and run again"
            )


def preflight(tools_dir: Path = TOOLS_DIR) -> list[Check]:
    """What `harness doctor --platform kind` reports: the Docker engine first, then the tools."""
    checks = [docker_engine_check()]
    checks += [tool_check(name, tools_dir) for name in ("kind", "kubectl", "helm")]
    checks.append(
        Check(
            "kubeblocks",
            True,
            KUBEBLOCKS_VERSION,
            f"installed by each run into its own cluster: the v{KUBEBLOCKS_VERSION} CRDs, then the chart",
            required=False,
        )
    )
    checks.append(
        Check(
            "kind node image",
            True,
            KUBERNETES_VERSION,
            f"kind {PINS['kind'].version} creates nodes from {KIND_NODE_IMAGE} (pulled on first create)",
            required=False,
        )
    )
    checks.append(_inotify_check())
    return checks


def _inotify_check() -> Check:
    """Multi-node kind needs more inotify instances than most distributions allow (kind known-issues)."""
    try:
        value = int(Path("/proc/sys/fs/inotify/max_user_instances").read_text().strip())
    except (OSError, ValueError):
        return Check("inotify instances", False, detail="cannot read fs.inotify.max_user_instances", required=False)
    ok = value >= 512
    return Check(
        "inotify instances",
        ok,
        str(value),
        "fs.inotify.max_user_instances" + ("" if ok else " below 512: multi-node kind clusters may fail to start"),
        fix=None if ok else "sudo sysctl fs.inotify.max_user_instances=512 fs.inotify.max_user_watches=524288",
        required=False,
    )


def create(run: RunContext) -> KindPlatform:
    """The platform registry's factory (harness/platforms/__init__.py)."""
    settings = KindSettings(extra=ClusterSettings(data_protection=run.data_protection))
    return KindPlatform(runner_for(run), platform_dir(run), settings, registry=run.registry,
                        work_dir=run.work_dir)
