"""What the local platform needs on this machine, found (with version) or missing (with the fix).

Starts no server: only `--version` runs of the binaries.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import subprocess

from harness.contracts import Check

APT = "sudo apt-get install -y"
MONGO_FIX = ("install mongodb-org from MongoDB's own Debian repository (not in Debian's): "
             "https://www.mongodb.com/docs/manual/tutorial/install-mongodb-on-debian/")

# (check name, binary, version regex, fix, required)
BINARIES: tuple[tuple[str, str, str, str, bool], ...] = (
    ("mariadbd", "mariadbd", r"Ver (\S+?)-MariaDB", f"{APT} mariadb-server", True),
    ("mariadb-install-db", "mariadb-install-db", r"", f"{APT} mariadb-server", True),
    ("redis-server", "redis-server", r"v=(\S+)", f"{APT} redis-server", True),
    ("redis-sentinel", "redis-sentinel", r"v=(\S+)", f"{APT} redis-sentinel", True),
    ("mongod", "mongod", r"db version v(\S+)", MONGO_FIX, False),
    ("prometheus", "prometheus", r"version (\S+)", f"{APT} prometheus", False),
    ("mysqld_exporter", "prometheus-mysqld-exporter", r"version (\S+)", f"{APT} prometheus-mysqld-exporter", False),
    ("redis_exporter", "prometheus-redis-exporter", r"Exporter v?(\S+)", f"{APT} prometheus-redis-exporter", False),
)
WITHOUT = {"mongod": "mongodb cells are skipped without it"}
UNOBSERVED = "cells run without the server's view (no exporter metrics, no alerts) without it"
PY_MODULES: tuple[tuple[str, str], ...] = (("pymysql", "PyMySQL"), ("redis", "redis"), ("pymongo", "pymongo"))


def find_binary(name: str) -> str | None:
    for cand in (shutil.which(name), f"/usr/sbin/{name}", f"/usr/bin/{name}"):
        if cand and os.access(cand, os.X_OK):
            return cand
    return None


def parse_version(text: str, pattern: str) -> str | None:
    """Pure: the version a `--version` output reports, or None."""
    if not pattern:
        return None
    m = re.search(pattern, text)
    return m.group(1) if m else None


def binary_version(path: str, pattern: str) -> str | None:
    if not pattern:
        return None
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return parse_version(out.stdout + out.stderr, pattern)


def check_binary(name: str, binary: str, pattern: str, fix: str, required: bool) -> Check:
    path = find_binary(binary)
    if path is None:
        detail = "not found on PATH" + ("" if required else f" ({WITHOUT.get(name, UNOBSERVED)})")
        return Check(name=name, ok=False, detail=detail, fix=fix, required=required)
    return Check(name=name, ok=True, version=binary_version(path, pattern), detail=path, required=required)


def check_module(module: str, dist: str) -> Check:
    try:
        version = importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return Check(name=f"python: {module}", ok=False, detail="not installed",
                     fix="make setup (installs requirements.lock into .venv)")
    return Check(name=f"python: {module}", ok=True, version=version)


def check_limits() -> Check:
    """Whether pods will run under their CPU / memory limits here (read only: `probe=False` creates nothing).
    Not required: without cgroups the limits are nominal and every report says so."""
    from harness.platforms.local import cgroups

    support = cgroups.detect(probe=False)
    if support.enforced:
        return Check(name="pod limits", ok=True, version=f"cgroup v{support.version}", detail=support.detail,
                     required=False)
    return Check(name="pod limits", ok=False, detail=f"nominal: {support.detail}", required=False,
                 fix="run as root on a host with writable cgroup v1 cpu/cpuacct/memory or delegated cgroup v2 "
                     "cpu+memory controllers")


def preflight() -> list[Check]:
    checks = [check_binary(*b) for b in BINARIES]
    checks += [check_module(m, d) for m, d in PY_MODULES]
    checks.append(check_limits())
    return checks
