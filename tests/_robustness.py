"""Helpers for the robustness tests: run the real `harness` CLI as a subprocess with its own state
and work directories, watch every process it starts (from its state file and from /proc, so
descendants are seen too), and hold a server binary at a chosen point through a PATH wrapper."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from _helpers import wait_until

from harness.procs import is_alive, process_start_ticks

HARNESS = Path(sys.executable).parent / "harness"

# Short KubeBlocks-shaped timings so a cell takes seconds (the settings file's deploy overrides).
FAST_DEPLOY = {"restart_delay_s": 1.0, "sentinel_down_after_ms": 1500, "sentinel_failover_timeout_ms": 5000,
               "role_probe_period_s": 0.3, "role_probe_failure_threshold": 2, "semi_sync_timeout_ms": 1000,
               "ready_timeout_s": 60}
SMALL = {"load": {"rate_ops_s": 40, "users": 4, "op_timeout_s": 1.0},
         "seed_data": {"users": 10, "friends_per_user": 2, "groups": 1, "group_size": 3},
         "cell_overhead_s": 5}


def settings_yaml(path: Path, timings: dict, deploy: dict | None = None) -> Path:
    data = {**SMALL, "timings": timings, "deploy": {**FAST_DEPLOY, **(deploy or {})}}
    path.write_text(yaml.safe_dump(data))
    return path


def _ppid_map() -> dict[int, int]:
    out: dict[int, int] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            stat = Path(f"/proc/{d}/stat").read_text()
        except OSError:
            continue
        out[int(d)] = int(stat[stat.rindex(")") + 2:].split()[1])
    return out


def descendants(root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for pid, ppid in _ppid_map().items():
        children.setdefault(ppid, []).append(pid)
    found: set[int] = set()
    todo = [root]
    while todo:
        for c in children.get(todo.pop(), []):
            if c not in found:
                found.add(c)
                todo.append(c)
    return found


def comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


@dataclass(frozen=True)
class Seen:
    pid: int
    start_ticks: int | None
    name: str
    how: str  # "state file" or "descendant"


@dataclass
class HarnessRun:
    """One `harness run` subprocess and every process it was ever seen to own."""

    tmp: Path
    args: list[str]
    env_extra: dict[str, str] = field(default_factory=dict)
    work_root: Path | None = None  # HARNESS_WORK_DIR; short (mariadbd's socket path is limited to 107 bytes)
    proc: subprocess.Popen | None = None
    seen: dict[tuple[int, int | None], Seen] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    @property
    def state_dir(self) -> Path:
        return self.tmp / "state"

    def __post_init__(self) -> None:
        if self.work_root is None:
            self.work_root = self.tmp / "work"

    @property
    def out(self) -> Path:
        return self.tmp / "out"

    def start(self) -> HarnessRun:
        env = {**os.environ, "HARNESS_STATE_DIR": str(self.state_dir), "HARNESS_WORK_DIR": str(self.work_root),
               **self.env_extra}
        self.stdout = open(self.tmp / "stdout.txt", "wb")  # noqa: SIM115 - closed in finish()
        self.stderr = open(self.tmp / "stderr.txt", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen([str(HARNESS), "run", *self.args, "--out", str(self.out)], env=env,
                                     stdout=self.stdout, stderr=self.stderr, stdin=subprocess.DEVNULL, cwd=self.tmp)
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self) -> None:
        while not self._stop.is_set():
            self.scan()
            time.sleep(0.03)

    def scan(self) -> None:
        assert self.proc is not None
        if self.proc.poll() is None:
            for pid in descendants(self.proc.pid):
                ticks = process_start_ticks(pid)
                self.seen.setdefault((pid, ticks), Seen(pid, ticks, comm(pid), "descendant"))
        for sf in self.state_dir.glob("*.json"):
            try:
                data = json.loads(sf.read_text())
            except (OSError, ValueError):
                continue
            for r in data.get("processes", []):
                key = (r["pid"], r.get("start_ticks"))
                self.seen[key] = Seen(r["pid"], r.get("start_ticks"), r["name"], "state file")

    def run_dir(self) -> Path:
        return (self.out / "latest").resolve()

    def state(self) -> dict:
        files = list(self.state_dir.glob("*.json"))
        return json.loads(files[0].read_text()) if files else {}

    def live_names(self) -> list[str]:
        return [p["name"] for p in self.state().get("processes", []) if is_alive(p["pid"], p.get("start_ticks"))]

    def running(self) -> bool:
        assert self.proc is not None
        return self.proc.poll() is None

    def wait_phase(self, check, timeout: float, what: str):
        def guarded():
            if not self.running():
                raise AssertionError(f"the harness exited ({self.proc.returncode}) before {what}: "  # type: ignore[union-attr]
                                     f"{self.output()[-2000:]}")
            return check()

        try:
            return wait_until(guarded, timeout, what)
        except AssertionError as e:
            if "harness exited" in str(e):
                raise
            raise AssertionError(f"{e}\n{self.output()[-2000:]}") from None

    def alive(self) -> list[Seen]:
        return [s for s in self.seen.values() if s.pid != self.proc.pid and is_alive(s.pid, s.start_ticks)]  # type: ignore[union-attr]

    def interrupt(self, sig: signal.Signals, stop_within_s: float = 10.0, exit_within_s: float = 90.0
                  ) -> tuple[int, list[Seen]]:
        """Sends `sig`; returns (exit status, processes still alive `stop_within_s` after the signal)."""
        assert self.proc is not None
        self.scan()
        os.kill(self.proc.pid, sig)
        os.kill(self.proc.pid, signal.SIGCONT)  # a harness frozen by the test gets the signal now
        deadline = time.monotonic() + stop_within_s
        while time.monotonic() < deadline and self.alive():
            time.sleep(0.05)
        left = self.alive()
        try:
            code = self.proc.wait(timeout=exit_within_s)
        finally:
            self.finish()
        return code, left

    def finish(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        for f in (getattr(self, "stdout", None), getattr(self, "stderr", None)):
            if f is not None and not f.closed:
                f.close()

    def kill_everything_seen(self) -> None:
        """Test teardown safety net: nothing this test started may outlive it."""
        for s in self.seen.values():
            if is_alive(s.pid, s.start_ticks):
                try:
                    os.kill(s.pid, signal.SIGCONT)
                    os.kill(s.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def output(self) -> str:
        text = ""
        for name in ("stdout.txt", "stderr.txt"):
            p = self.tmp / name
            if p.exists():
                text += p.read_text(errors="replace")
        return text


WRAPPER = """#!{python}
# Test-only stand-in on PATH for {name}: holds the harness at a chosen point, then becomes the real
# binary (exec keeps the pid, so the process the harness recorded is the real server).
import os, sys, time
real = {real!r}
hold = os.environ.get("E_HOLD_VERSION" if "--version" in sys.argv else "E_HOLD_START")
if hold and os.path.exists(hold):
    open(hold + ".held", "w").close()
    while os.path.exists(hold):
        time.sleep(0.02)
os.execv(real, [real] + sys.argv[1:])
"""


def wrapper_bin(dir_: Path, name: str, real: str) -> Path:
    """A directory to put first on PATH holding a `name` wrapper around the real binary."""
    dir_.mkdir(parents=True, exist_ok=True)
    w = dir_ / name
    w.write_text(WRAPPER.format(python=sys.executable, name=name, real=real))
    w.chmod(0o755)
    return dir_
