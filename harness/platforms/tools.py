"""kind, kubectl and helm: found on PATH or in `<repo>/.tools/`, else fetched at a pinned version.

A fetch is only ever done against a sha256 recorded here; a tool with no recorded checksum for
this machine's architecture is refused, never installed unverified. The checksums were copied
from public pins of the same release files (see the report of issue 5); they were not computed
here (no internet on the development machine).
"""

from __future__ import annotations

import hashlib
import io
import os
import platform as _platform
import re
import shutil
import stat
import subprocess
import tarfile
import tempfile
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from harness.contracts import Check
from harness.errors import HarnessError

REPO_ROOT = Path(__file__).resolve().parents[2]
TOOLS_DIR = REPO_ROOT / ".tools"

KUBEBLOCKS_VERSION = "1.0.2"
KUBEBLOCKS_CRDS_URL = f"https://github.com/apecloud/kubeblocks/releases/download/v{KUBEBLOCKS_VERSION}/kubeblocks_crds.yaml"
KUBEBLOCKS_HELM_REPO = "https://apecloud.github.io/helm-charts"
# The VolumeSnapshot CRDs KubeBlocks' backup controller watches: not in `kubeblocks_crds.yaml`
# (a separate `snapshot.storage.k8s.yaml` release asset built from these three files). Pinned to
# the files at the v1.0.2 tag's commit; each sha256 was computed from that commit's git blob.
KUBEBLOCKS_COMMIT = "30c8209a0ff2c7b8b90eaf0625c29265bffd2cfe"  # tag v1.0.2
SNAPSHOT_CRDS: tuple[tuple[str, str], ...] = tuple(
    (f"https://raw.githubusercontent.com/apecloud/kubeblocks/{KUBEBLOCKS_COMMIT}/deploy/helm/crds/snapshot/"
     f"snapshot.storage.k8s.io_{name}.yaml", sha)
    for name, sha in (
        ("volumesnapshotclasses", "6f71c7bdc603a7f61abe720b3eb707285ed78b56c73788830b2605e0d55736d4"),
        ("volumesnapshotcontents", "67240abdcbfea256ba8e51cbce72c661d780b341065fab12a1123be4c58b109d"),
        ("volumesnapshots", "7c47a75d1c0f49a6d8fdb6e3853e9af58f8ab6eb110a1c6cb24b6d8d0f8d9c4d"),
    )
)
# kind v0.27.0's release notes pin this node image (Kubernetes v1.32.2) by digest.
KIND_NODE_IMAGE = "kindest/node:v1.32.2@sha256:f226345927d7e348497136874b6d207e0b32cc52154ad8323129352923a3142f"
KUBERNETES_VERSION = "1.32.2"


@dataclass(frozen=True)
class ToolPin:
    """One tool at one version: where to get it and the sha256 of the downloaded file per arch."""

    name: str
    version: str
    url: str  # "{arch}" is replaced by amd64/arm64
    sha256: dict[str, str] = field(default_factory=dict)
    member: str | None = None  # path inside a .tar.gz download; None: the download is the binary
    version_argv: tuple[str, ...] = ()
    version_pattern: str = r"v?(\d+\.\d+\.\d+)"

    def download_url(self, arch: str) -> str:
        return self.url.format(arch=arch, version=self.version)


PINS: dict[str, ToolPin] = {
    "kind": ToolPin(
        "kind",
        "0.27.0",
        "https://github.com/kubernetes-sigs/kind/releases/download/v{version}/kind-linux-{arch}",
        {
            "amd64": "a6875aaea358acf0ac07786b1a6755d08fd640f4c79b7a2e46681cc13f49a04b",
            "arm64": "5e4507a41c69679562610b1be82ba4f80693a7826f4e9c6e39236169a3e4f9d0",
        },
        version_argv=("version",),
    ),
    "kubectl": ToolPin(
        "kubectl",
        "1.32.2",
        "https://dl.k8s.io/release/v{version}/bin/linux/{arch}/kubectl",
        {
            "amd64": "4f6a959dcc5b702135f8354cc7109b542a2933c46b808b248a214c1f69f817ea",
            "arm64": "7381bea99c83c264100f324c2ca6e7e13738a73b8928477ac805991440a065cd",
        },
        version_argv=("version", "--client"),
    ),
    "helm": ToolPin(
        "helm",
        "3.17.3",
        "https://get.helm.sh/helm-v{version}-linux-{arch}.tar.gz",
        {
            "amd64": "ee88b3c851ae6466a3de507f7be73fe94d54cbf2987cbaa3d1a3832ea331f2cd",
            "arm64": "7944e3defd386c76fd92d9e6fec5c2d65a323f6fadc19bfb5e704e3eee10348e",
        },
        member="linux-{arch}/helm",
        version_argv=("version", "--short"),
    ),
}


def machine_arch() -> str:
    m = _platform.machine().lower()
    return {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(m, m)


def find_tool(name: str, tools_dir: Path = TOOLS_DIR) -> Path | None:
    """PATH first (the user's own install wins), then the repo's tools folder."""
    found = shutil.which(name)
    if found:
        return Path(found)
    local = tools_dir / name
    if local.is_file() and os.access(local, os.X_OK):
        return local
    return None


def tool_version(path: Path, pin: ToolPin) -> str | None:
    try:
        out = subprocess.run(
            [str(path), *pin.version_argv], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(pin.version_pattern, out)
    return m.group(1) if m else None


def tool_check(name: str, tools_dir: Path = TOOLS_DIR, arch: str | None = None) -> Check:
    """Found (with version) or missing (fetchable with a checksum, or what to install)."""
    pin = PINS[name]
    path = find_tool(name, tools_dir)
    if path is not None:
        version = tool_version(path, pin)
        note = "" if version in (None, pin.version) else f" (harness pins {pin.version})"
        return Check(name, True, version, f"{path}{note}")
    arch = arch or machine_arch()
    if arch in pin.sha256:
        return Check(
            name,
            False,
            None,
            f"not on PATH nor in {tools_dir}; will be fetched at {pin.version} (sha256-checked) on first use",
            fix=f"fetched into .tools/ at {pin.version} on first use (sha256-checked); or install it: {pin.download_url(arch)}",
            required=False,
        )
    return Check(
        name,
        False,
        None,
        f"not on PATH nor in {tools_dir}, and no checksum is pinned for linux/{arch}, so it is not fetched",
        fix=f"install {name} {pin.version} on PATH",
    )


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fetch_verified(url: str, sha256: str, what: str, refused: str = "not used", timeout_s: float = 120.0) -> bytes:
    """The bytes at `url`, only when their sha256 is the pinned one; otherwise one clear error."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:  # noqa: S310 - pinned https/file URL
            data = resp.read()
    except OSError as e:
        raise HarnessError(f"cannot download {what} from {url}: {e}") from e
    got = sha256_of(data)
    if got != sha256:
        raise HarnessError(f"{what} from {url}: sha256 {got} != pinned {sha256}; {refused}")
    return data


def fetch_tool(pin: ToolPin, tools_dir: Path = TOOLS_DIR, arch: str | None = None) -> Path:
    """Downloads `pin`, verifies its sha256, installs it as `<tools_dir>/<name>`; refuses on mismatch."""
    arch = arch or machine_arch()
    expected = pin.sha256.get(arch)
    if not expected:
        raise HarnessError(
            f"no sha256 pinned for {pin.name} {pin.version} on linux/{arch}; refusing to fetch it unverified: "
            f"install {pin.name} on PATH"
        )
    url = pin.download_url(arch)
    data = fetch_verified(url, expected, f"{pin.name} {pin.version}", refused="not installed")
    if pin.member:
        member = pin.member.format(arch=arch)
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            try:
                extracted = tar.extractfile(member)
            except KeyError as e:
                raise HarnessError(f"{url} has no {member}") from e
            if extracted is None:
                raise HarnessError(f"{url}: {member} is not a file")
            data = extracted.read()
    tools_dir.mkdir(parents=True, exist_ok=True)
    target = tools_dir / pin.name
    with tempfile.NamedTemporaryFile(dir=tools_dir, delete=False) as tmp:
        tmp.write(data)
    os.chmod(tmp.name, stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
    os.replace(tmp.name, target)
    return target


def ensure_tool(name: str, tools_dir: Path = TOOLS_DIR, dry_run: bool = False) -> str:
    """The command to run for `name`: found, or fetched now (in dry-run: what would be fetched)."""
    path = find_tool(name, tools_dir)
    if path is not None:
        return str(path)
    if dry_run:
        return str(tools_dir / name)
    return str(fetch_tool(PINS[name], tools_dir))


def docker_engine_check(timeout_s: float = 10.0) -> Check:
    """kind needs a Docker engine, not just the CLI: ask the daemon for its version."""
    docker = shutil.which("docker")
    if docker is None:
        return Check(
            "docker engine",
            False,
            detail="no docker CLI on PATH; kind runs its nodes as Docker containers",
            fix="install Docker Engine (https://docs.docker.com/engine/install/) and start it",
        )
    try:
        proc = subprocess.run(
            [docker, "version", "--format", "{{.Server.Version}}"],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired:
        proc = None
    if proc is not None and proc.returncode == 0 and proc.stdout.strip():
        return Check("docker engine", True, proc.stdout.strip(), f"daemon answers ({docker})")
    why = (proc.stderr.strip().splitlines() or ["no answer"])[-1] if proc is not None else "timed out"
    return Check(
        "docker engine",
        False,
        detail=f"the docker CLI is installed ({docker}) but no Docker engine answers: {why}; "
        "kind cannot create nodes without one",
        fix="no Docker engine answers here (the docker CLI alone is not enough): start one "
        "(e.g. `sudo systemctl start docker`) or run on a machine that has one; `--platform local` needs no Docker",
    )
