"""KubeBlocks on the cluster: used as it is at the pinned version, refused at another unless asked,
installed when absent (CRDs first, then the Helm chart at the same version), addons Enabled and the
engines' ClusterDefinitions Available before any deploy."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from harness.errors import HarnessError
from harness.platforms.commands import CommandResult, Runner
from harness.platforms.tools import (
    KUBEBLOCKS_CRDS_URL,
    KUBEBLOCKS_HELM_REPO,
    KUBEBLOCKS_VERSION,
    SNAPSHOT_CRDS,
    fetch_verified,
)

if TYPE_CHECKING:
    pass


from harness.platforms.k8s_parse import kubeblocks_decision, kubeblocks_version_of
from harness.platforms.k8s_preflight import (
    KUBEBLOCKS_CRD,
    KUBEBLOCKS_SELECTOR,
    UNKNOWN_KUBEBLOCKS,
    ClusterSettings,
)

KB_NAMESPACE = "kb-system"
ADDONS = {"mysql": "mysql", "redis": "redis", "mongodb": "mongodb"}
HELM_INSTALL_TIMEOUT_S = 900.0  # pulls the operator images on a fresh cluster
ADDON_ENABLED_TIMEOUT_S = 600.0  # the chart installs nine addons one after another


class KubeBlocksInstall:
    """The install steps, as the k8s and kind platforms run them (a part of `KubernetesPlatform`)."""

    settings: ClusterSettings
    runner: Runner
    creates_cluster: bool
    kubeblocks_found: str | None

    def kubectl(self, *args: str, **kw: Any) -> CommandResult:
        raise NotImplementedError

    def helm(self, *args: str, **kw: Any) -> CommandResult:
        raise NotImplementedError

    def _is_plan(self) -> bool:
        raise NotImplementedError

    def install_kubeblocks(self) -> None:
        """k8s: an installed KubeBlocks is used as it is when it is the pinned version, refused when it
        is another (unless `install_kubeblocks`), installed when absent. Then the engines'
        ClusterDefinitions must be Available (a manual `helm install kb-addon-mysql` creates no Addon CR)."""
        pinned = self.settings.kubeblocks_version
        self.kubeblocks_found = self.installed_kubeblocks()
        action, why = kubeblocks_decision(self.kubeblocks_found, pinned, self.settings.install_kubeblocks)
        if self._is_plan():
            why += " (dry run: the installed version is read at run time; shown as if there were none)"
        self.runner.note(why)
        if action == "refuse":
            raise HarnessError(why)
        if action == "install":
            self.install_pinned_kubeblocks()
        self.wait_cluster_definitions()

    def installed_kubeblocks(self) -> str | None:
        """The version of the KubeBlocks operator running in the cluster, None when there is none;
        `UNKNOWN_KUBEBLOCKS` when its CRDs are there but no operator Deployment the chart labels."""
        r = self.kubectl("get", "deployments", "-A", "-l", KUBEBLOCKS_SELECTOR, "-o", "json", check=False)
        found = kubeblocks_version_of(r.stdout) if r.returncode == 0 else None
        if found is None and not self._is_plan():
            crd = self.kubectl("get", "crd", KUBEBLOCKS_CRD, "-o", "name", check=False)
            if crd.returncode == 0 and crd.stdout.strip():
                return UNKNOWN_KUBEBLOCKS
        return found

    def install_pinned_kubeblocks(self) -> None:
        """The v<pinned> CRDs (server-side), then the chart at the same version; the data-protection
        controller only with the snapshot CRDs it watches (see `ClusterSettings.data_protection`)."""
        version = self.settings.kubeblocks_version
        self.runner.note(f"KubeBlocks {version}: CRDs first, then the Helm chart at the same version")
        self.kubectl("apply", "--server-side", "--force-conflicts", "-f", KUBEBLOCKS_CRDS_URL.replace(KUBEBLOCKS_VERSION, version), timeout_s=300)
        values: list[str] = []
        if self.settings.data_protection:
            self.apply_snapshot_crds()
        else:
            self.runner.note(
                "no backup scenario selected: dataProtection.enabled=false. KubeBlocks' backup controller watches "
                "VolumeSnapshots, whose CRDs kubeblocks_crds.yaml does not contain, and can crash-loop without them"
            )
            values = ["--set", "dataProtection.enabled=false"]
        self.helm("repo", "add", "kubeblocks", KUBEBLOCKS_HELM_REPO, "--force-update", timeout_s=120)
        self.helm("repo", "update", "kubeblocks", timeout_s=120)
        self.helm(
            "upgrade", "--install", "kubeblocks", "kubeblocks/kubeblocks",
            "--namespace", KB_NAMESPACE, "--create-namespace", "--version", version, *values,
            "--wait", "--timeout", f"{int(HELM_INSTALL_TIMEOUT_S)}s",
            timeout_s=HELM_INSTALL_TIMEOUT_S + 60,
        )  # fmt: skip

    def apply_snapshot_crds(self) -> None:
        """The VolumeSnapshot CRDs of KubeBlocks' v1.0.2 tree, sha256-checked, applied before the chart.
        On an existing cluster that has them (a CSI snapshotter's own) they are left as they are."""
        if not self.creates_cluster:
            r = self.kubectl("get", "crd", "volumesnapshots.snapshot.storage.k8s.io", "-o", "name", check=False)
            if r.returncode == 0 and r.stdout.strip():
                self.runner.note("VolumeSnapshot CRDs present in the cluster: left as they are")
                return
        for url, sha in SNAPSHOT_CRDS:
            name = url.rsplit("/", 1)[1]
            text = "" if self.runner.dry_run else fetch_verified(url, sha, f"snapshot CRD {name}").decode()
            self.kubectl(
                "apply", "--server-side", "--force-conflicts", "-f", "-",
                stdin=text, stdin_label=f"{name} (from {url}, sha256 {sha[:12]}... checked)", timeout_s=120,
            )  # fmt: skip

    def wait_addons_enabled(self) -> None:
        for addon in ADDONS.values():
            self.runner.wait(
                f"addon {addon} status.phase=Enabled",
                lambda: self._addon_phase(addon) == "Enabled",  # noqa: B023 - polled here
                ADDON_ENABLED_TIMEOUT_S,
            )

    def wait_cluster_definitions(self) -> None:
        for engine in ADDONS:
            self.runner.wait(
                f"clusterdefinition/{engine} status.phase=Available",
                lambda: self._cluster_definition_phase(engine) == "Available",  # noqa: B023 - polled here
                ADDON_ENABLED_TIMEOUT_S,
            )

    def _addon_phase(self, addon: str) -> str:
        r = self.kubectl("get", f"addons.extensions.kubeblocks.io/{addon}", "-o", "jsonpath={.status.phase}", check=False)
        return r.stdout.strip()

    def _cluster_definition_phase(self, engine: str) -> str:
        r = self.kubectl("get", f"clusterdefinitions.apps.kubeblocks.io/{engine}", "-o", "jsonpath={.status.phase}", check=False)
        return r.stdout.strip()

