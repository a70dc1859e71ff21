"""A pod: one server process with a fixed port, its own data directory (its volume) and a log.

The pod keeps port and data dir across restarts, like a StatefulSet pod keeps its name and PVC.
Its argv is rebuilt at every start (a Redis pod asks the Sentinels who the master is first).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from harness.errors import DeployError
from harness.procs import ProcessRegistry

if TYPE_CHECKING:
    from harness.platforms.local.cgroups import PodGroup

READY_POLL_S = 0.05
ERROR_MARKERS = ("error", "fatal", "abort", "can't", "cannot", "failed", "# ", "denied", "unknown")


def free_port() -> int:
    """A port nobody listens on right now (the kernel picks it; 127.0.0.1 only)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def binary(name: str, package: str | None = None) -> str:
    """The server binary's path (PATH, then /usr/sbin), or DeployError saying how to install it."""
    for cand in (shutil.which(name), f"/usr/sbin/{name}", f"/usr/bin/{name}"):
        if cand and os.access(cand, os.X_OK):
            return cand
    raise DeployError(f"{name} not found; install it: sudo apt-get install -y {package or name}")


def log_tail(path: Path, lines: int = 40) -> list[str]:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 16384))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return []
    return text.splitlines()[-lines:]


def server_errors(path: Path, limit: int = 8) -> str:
    """The server's own error lines from the end of its log (the last lines when none look like errors)."""
    tail = log_tail(path)
    errs = [ln.strip() for ln in tail if any(m in ln.lower() for m in ERROR_MARKERS)]
    picked = (errs or [ln.strip() for ln in tail])[-limit:]
    return " | ".join(p for p in picked if p) or f"(no output in {path})"


@dataclass
class Pod:
    """One server process; `build_argv` is called before every start."""

    name: str
    zone: str
    port: int
    data_dir: Path
    log_path: Path
    build_argv: Callable[[Pod], list[str]]
    kind: str = "data"  # "data" or "sentinel"
    cgroup: PodGroup | None = None  # its CPU / memory limits (None: nominal); every start joins it
    proc: subprocess.Popen | None = None
    frozen: bool = False
    died_at: float | None = None  # monotonic, when the supervisor first saw it dead
    starts: int = 0
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def start(self, registry: ProcessRegistry) -> None:
        with self._lock:
            if self.alive():
                return
            self.data_dir.mkdir(parents=True, exist_ok=True)
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            argv = self.build_argv(self)
            if self.proc is not None:
                registry.forget(self.proc.pid)
            with open(self.log_path, "ab") as f:
                f.write(f"---- harness: starting {self.name} at {time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode())
            join = self.cgroup.join if self.cgroup is not None else None
            try:
                self.proc = registry.spawn(argv, self.name, log_path=self.log_path, cwd=self.data_dir, preexec=join)
            except subprocess.SubprocessError as e:  # only the preexec can fail this way
                raise DeployError(f"{self.name}: could not join its cgroup {self.cgroup.dirs[0][1] if self.cgroup else ''}"
                                  f" before starting: {e}") from e
            self.frozen = False
            self.died_at = None
            self.starts += 1

    def alive(self) -> bool:
        """Running (frozen counts as alive: the process exists)."""
        return self.proc is not None and self.proc.poll() is None

    def send(self, sig: signal.Signals) -> bool:
        with self._lock:
            if not self.alive():
                return False
            try:
                os.kill(self.proc.pid, sig)  # type: ignore[union-attr]
            except ProcessLookupError:
                return False
            return True

    def kill(self, registry: ProcessRegistry) -> None:
        """SIGKILL and reap: the process is gone when this returns."""
        with self._lock:
            if self.proc is None:
                return
            self.send(signal.SIGKILL)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
            self.frozen = False
            registry.forget(self.proc.pid)

    def freeze(self) -> bool:
        ok = self.send(signal.SIGSTOP)
        self.frozen = self.frozen or ok
        return ok

    def thaw(self) -> bool:
        ok = self.send(signal.SIGCONT)
        self.frozen = False
        return ok

    def stop(self, registry: ProcessRegistry, grace_s: float = 5.0) -> None:
        with self._lock:
            if self.proc is not None:
                registry.stop(self.proc.pid, grace_s)
                try:
                    self.proc.wait(timeout=1)
                except subprocess.TimeoutExpired:
                    pass
            self.frozen = False


def wait_ready(pod: Pod, probe: Callable[[], bool], deadline: float, what: str) -> None:
    """Polls `probe` until it is true; a dead process or the deadline raises DeployError with the log."""
    while True:
        if not pod.alive():
            raise DeployError(f"{pod.name} exited while {what}: {server_errors(pod.log_path)}")
        try:
            if probe():
                return
        except Exception:  # noqa: BLE001 - not ready yet
            pass
        if time.monotonic() > deadline:
            raise DeployError(f"{pod.name} not ready ({what}) before the deadline: {server_errors(pod.log_path)}")
        time.sleep(READY_POLL_S)
