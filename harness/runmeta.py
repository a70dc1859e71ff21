"""What a run records about itself: where it runs, which software, which code; and its directory."""

from __future__ import annotations

import os
import platform as _pyplatform
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

from harness import engines
from harness.contracts import Check
from harness.errors import HarnessError
from harness.software import client_versions

PLATFORM_SOFTWARE = ("kubeblocks", "kubernetes", "kind")  # preflight checks named as their results key


def _software_of_check() -> dict[str, str]:
    """preflight check name -> results' run.software key: each engine's server binaries, then the platforms'."""
    out = {b: engines.get(e).software for e in engines.ENGINES for b in engines.get(e).binaries}
    return {**out, **{k: k for k in PLATFORM_SOFTWARE}}


def unavailable_engines(checks: list[Check], wanted: list[str]) -> dict[str, str]:
    """engine -> reason, for optional servers the preflight found missing (mongod): skipped at once."""
    out: dict[str, str] = {}
    for c in checks:
        if c.ok or c.required:
            continue
        for e in wanted:
            if c.name in engines.get(e).binaries:
                out[e] = f"{c.name} is not installed on this machine; to run these cells: {c.fix or c.detail}"
    return out


def software_versions(checks: list[Check]) -> dict[str, str | None]:
    """The servers' versions from the preflight checks, then the client libraries' from this interpreter."""
    of_check = _software_of_check()
    sw: dict[str, str | None] = {k: None for k in dict.fromkeys(of_check.values())}
    for c in checks:
        key = of_check.get(c.name.lower())
        if key and c.ok and c.version and sw[key] is None:
            sw[key] = c.version
    return {**sw, **client_versions()}


def git_sha() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def harness_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("openim-kb-poc")
    except PackageNotFoundError:
        return "0+unknown"


def host_info() -> dict[str, Any]:
    mem_kb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    except OSError:
        pass
    return {"cpus": os.cpu_count() or 1, "memory_gb": round(mem_kb / 1024 / 1024, 1),
            "os": f"{_pyplatform.system()} {_pyplatform.release()}"}


def new_run_dir(out: Path, platform: str, profile: str) -> tuple[str, Path]:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = f"{stamp}-{platform}-{profile}"
    out.mkdir(parents=True, exist_ok=True)
    for n in range(1, 100):
        run_id = base if n == 1 else f"{base}-{n}"
        run_dir = out / run_id
        try:
            run_dir.mkdir()
            return run_id, run_dir
        except FileExistsError:
            continue
    raise HarnessError(f"cannot create a run directory under {out}")


def point_latest(out: Path, run_id: str) -> None:
    """`<out>/latest` -> `<run-id>` (relative), replaced atomically."""
    link = out / "latest"
    tmp = out / f".latest.{os.getpid()}"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(run_id)
    os.replace(tmp, link)
