"""The `kind` platform: a cluster this harness creates and deletes, zones as Docker containers.

One control-plane node (never faulted; it carries the host port mappings) and three workers
labelled zone-a/b/c. Zone faults act on the workers' containers: `docker stop`/`start` for an
outage, `docker network disconnect`/`connect kind` for a partition. The kubeconfig lives in the
run directory, so the user's own kubeconfig is never touched.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import HarnessError
from harness.manifests import dump_yaml
from harness.manifests.common import ZONE_LABEL
from harness.manifests.kind_config import kind_config, worker_container_names
from harness.platforms.base import Check, Deployment
from harness.platforms.commands import Runner
from harness.platforms.kubernetes import ClusterSettings, KubernetesPlatform, nodes_in_zone
from harness.platforms.tools import (
    KIND_NODE_IMAGE,
    KUBERNETES_VERSION,
    PINS,
    TOOLS_DIR,
    docker_engine_check,
    tool_check,
)
from harness.procs import ProcessRegistry

KIND_NETWORK = "kind"  # kind's fixed Docker network name
CREATE_WAIT = "180s"  # control plane Ready on a 2-core laptop


@dataclass(frozen=True)
class KindSettings:
    cluster_name: str = "openim-poc"
    node_image: str = KIND_NODE_IMAGE
    tools_dir: Path = TOOLS_DIR
    keep_cluster: bool = False  # leave the cluster after the run (for debugging)
    extra: ClusterSettings = field(default_factory=ClusterSettings)


class KindPlatform(KubernetesPlatform):
    name = "kind"

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
        base = self.kind_settings.extra
        cluster = ClusterSettings(
            kubeconfig=kubeconfig,
            context=f"kind-{self.kind_settings.cluster_name}",
            namespace_prefix=base.namespace_prefix,
            kubeblocks_version=base.kubeblocks_version,
            install_kubeblocks=True,
            node_address="127.0.0.1",  # extraPortMappings listen on the host's loopback only
            tools_dir=self.kind_settings.tools_dir,
        )
        super().__init__(runner, run_dir, cluster)
        self._registry = registry
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
        self._ready = True

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
            f"3 worker nodes Ready with {ZONE_LABEL} zone-a/b/c",
            self._zones_ready,
            300,
        )

    def _zones_ready(self) -> bool:
        nodes = self.kubectl("get", "nodes", "-o", "json", check=False).stdout
        return all(nodes_in_zone(nodes, z) for z in ("zone-a", "zone-b", "zone-c"))

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
        for node in nodes:
            self.runner.run(["docker", "network", "disconnect", KIND_NETWORK, node], timeout_s=60)

        def reconnect() -> None:
            for node in nodes:
                self.runner.run(["docker", "network", "connect", KIND_NETWORK, node], timeout_s=60)

        return reconnect


def preflight(tools_dir: Path = TOOLS_DIR) -> list[Check]:
    """What `harness doctor --platform kind` reports: the Docker engine first, then the tools."""
    checks = [docker_engine_check()]
    checks += [tool_check(name, tools_dir) for name in ("kind", "kubectl", "helm")]
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
