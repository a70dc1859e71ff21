"""Exporter sidecars: one upstream exporter process beside every data pod, in both modes (what an SRE
adds to a StatefulSet, and what KubeBlocks' `disableExporter: false` gives), bound to 127.0.0.1.

Credentials reach the exporter through 0600 files (mysqld_exporter's my.cnf, redis_exporter's
password file), never argv. A sidecar shares its pod's zone: a zone outage or partition takes it
down with the pod, while a pod kill only kills the server (the container crashed; the pod, and its
sidecar, stay). An exporter that will not start leaves its pod unobserved, never the cell failed.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable

from harness.observe.metrics import METRICS
from harness.observe.promapi import answers as http_answers
from harness.platforms.local.pods import Pod, free_port, server_errors
from harness.platforms.local.preflight import find_binary
from harness.platforms.local.state import LocalHandle, write_secret_file

READY_TIMEOUT_S = 10.0
PORT_ATTEMPTS = 3  # a port picked free may be taken before the exporter binds it: pick another


def _mysqld_exporter(handle: LocalHandle, pod: Pod, binary: str) -> Callable[[Pod], list[str]]:
    cnf = write_secret_file(handle.work_dir / "conf" / f"{pod.name}-exporter.cnf",
                            f"[client]\nuser=root\npassword={handle.secrets['root']}\nhost=127.0.0.1\nport={pod.port}\n")
    return lambda sidecar: [binary, f"--config.my-cnf={cnf}", f"--web.listen-address=127.0.0.1:{sidecar.port}",
                            "--log.level=warn"]


def _redis_exporter(handle: LocalHandle, pod: Pod, binary: str) -> Callable[[Pod], list[str]]:
    addr = f"redis://127.0.0.1:{pod.port}"
    pw = write_secret_file(handle.work_dir / "conf" / f"{pod.name}-exporter.json",
                           json.dumps({addr: handle.secrets["redis"]}))
    return lambda sidecar: [binary, "-redis.addr", addr, "-redis.password-file", str(pw),
                            "-web.listen-address", f"127.0.0.1:{sidecar.port}", "-set-client-name=false"]


ARGV: dict[str, Callable[[LocalHandle, Pod, str], Callable[[Pod], list[str]]]] = {
    "mysql": _mysqld_exporter, "redis": _redis_exporter,
}
_VERSIONS: dict[str, str] = {}


def exporter_version(binary: str) -> str:
    """`<name> <version>` from `--version` (cached per binary)."""
    if binary not in _VERSIONS:
        try:
            out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10)
            text = (out.stdout + out.stderr).split()
            ver = next((w for w in text if w[:1].isdigit() or (w[:1] == "v" and w[1:2].isdigit())), "?")
        except (OSError, subprocess.SubprocessError):
            ver = "?"
        _VERSIONS[binary] = f"{binary.rsplit('/', 1)[-1]} {ver.lstrip('v')}"
    return _VERSIONS[binary]


def answers(port: int) -> bool:
    return http_answers(f"http://127.0.0.1:{port}/metrics")


def start_sidecars(handle: LocalHandle) -> dict[str, str]:
    """One exporter per data pod; returns pod -> `exporter version`, or `missing: why`."""
    m = METRICS.get(handle.engine)
    build = ARGV.get(handle.engine)
    pods = handle.data_pods()
    if m is None or build is None:
        return {p.name: "missing: no exporter for this engine on the local platform" for p in pods}
    binary = find_binary(m.exporter)
    if binary is None:
        return {p.name: f"missing: {m.exporter} not installed (sudo apt-get install -y {m.package})" for p in pods}
    out: dict[str, str] = {}
    for pod in pods:
        out[pod.name] = _start_one(handle, pod, build(handle, pod, binary), exporter_version(binary))
    return out


def _start_one(handle: LocalHandle, pod: Pod, argv: Callable[[Pod], list[str]], version: str) -> str:
    name = f"{pod.name}-exporter"
    why = ""
    for _ in range(PORT_ATTEMPTS):
        sidecar = Pod(name=name, zone=pod.zone, port=free_port(), data_dir=handle.work_dir / name,
                      log_path=handle.log_dir / f"{name}.log", build_argv=argv, kind="exporter")
        sidecar.start(handle.registry)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while sidecar.alive() and time.monotonic() < deadline and not answers(sidecar.port):
            time.sleep(0.05)
        if sidecar.alive() and answers(sidecar.port):
            handle.sidecars[pod.name] = sidecar
            handle.events.write(f"exporter {name} on 127.0.0.1:{sidecar.port} (pid {sidecar.pid})")
            return version
        why = server_errors(sidecar.log_path, limit=2)
        sidecar.stop(handle.registry, 1.0)
    handle.events.write(f"exporter {name} did not start: {why}")
    return f"missing: {name} did not start: {why}"[:300]


def targets(handle: LocalHandle) -> list[dict]:
    """Prometheus file_sd entries: one per running sidecar, labelled like the in-cluster relabelling."""
    return [{"targets": [f"127.0.0.1:{s.port}"],
             "labels": {"deployment": handle.id, "engine": handle.engine, "mode": handle.mode,
                        "pod": pod_name, "zone": s.zone, "kind": "exporter"}}
            for pod_name, s in sorted(handle.sidecars.items())]


def of_zone(handle: LocalHandle, zone: str) -> list[Pod]:
    return [s for s in list(handle.sidecars.values()) if s.zone == zone]
