"""Every process the harness starts, recorded in a state file the moment it starts.

The state file outlives a SIGKILLed harness, so `harness cleanup` can stop what it left behind.
A pid is only signalled when its kernel start time still matches the recorded one, so a
recycled pid never gets killed by mistake.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

DEFAULT_STATE_DIR = Path(".harness") / "state"
STOP_GRACE_S = 5.0  # SIGTERM, then SIGKILL after this


def state_dir_from_env() -> Path:
    return Path(os.environ.get("HARNESS_STATE_DIR", str(DEFAULT_STATE_DIR)))


def process_start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/<pid>/stat)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # comm (field 2) may contain spaces and parentheses: split after the last ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[19])


def is_alive(pid: int, start_ticks: int | None = None) -> bool:
    """True while the process exists, is not a zombie, and is the one we started."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] in ("Z", "X"):
        return False
    return start_ticks is None or int(fields[19]) == start_ticks


@dataclass(frozen=True)
class ProcessRecord:
    pid: int
    start_ticks: int | None
    name: str  # e.g. "redis-0"
    argv0: str


class ProcessRegistry:
    """Starts processes and keeps the state file of one run current."""

    def __init__(self, state_file: Path, run_id: str):
        self.state_file = Path(state_file)
        self.run_id = run_id
        self._lock = threading.RLock()
        self._records: dict[int, ProcessRecord] = {}
        self._popens: dict[int, subprocess.Popen] = {}
        self._paths: list[str] = []
        self._undo: dict[str, list[str]] = {}  # label -> command that removes an external resource
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        self._write()

    # -- recording -------------------------------------------------------------------------
    def _write(self) -> None:
        data = {
            "run_id": self.run_id,
            "owner_pid": os.getpid(),
            "owner_start_ticks": process_start_ticks(os.getpid()),
            "processes": [asdict(r) for r in self._records.values()],
            "paths": list(self._paths),
            "undo": dict(self._undo),
        }
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1))
        os.replace(tmp, self.state_file)

    def add_path(self, path: Path) -> None:
        """A temporary directory (data volumes, secrets) to delete at cleanup."""
        with self._lock:
            self._paths.append(str(path))
            self._write()

    def add_undo(self, label: str, argv: Sequence[str]) -> None:
        """An external resource (e.g. a kind cluster) and the command that removes it, for cleanup."""
        with self._lock:
            self._undo[label] = list(argv)
            self._write()

    def remove_undo(self, label: str) -> None:
        with self._lock:
            self._undo.pop(label, None)
            self._write()

    def spawn(
        self,
        argv: Sequence[str],
        name: str,
        log_path: Path | None = None,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        preexec: Callable[[], None] | None = None,
    ) -> subprocess.Popen:
        """Starts a process in its own session (so Ctrl-C reaches only the harness) and records it.

        `preexec` runs in the child before exec() (joining a cgroup); it must only make os calls."""
        with self._lock:
            out = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
            try:
                proc = subprocess.Popen(
                    list(argv),
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env=dict(env) if env is not None else None,
                    cwd=cwd,
                    start_new_session=True,
                    preexec_fn=preexec,
                )
            finally:
                if not isinstance(out, int):  # our log file, not DEVNULL
                    out.close()
            self._records[proc.pid] = ProcessRecord(proc.pid, process_start_ticks(proc.pid), name, argv[0])
            self._popens[proc.pid] = proc
            self._write()
            return proc

    def forget(self, pid: int) -> None:
        """The process has exited (and was reaped): drop it from the state file."""
        with self._lock:
            self._records.pop(pid, None)
            self._popens.pop(pid, None)
            self._write()

    def records(self) -> list[ProcessRecord]:
        with self._lock:
            return list(self._records.values())

    # -- stopping --------------------------------------------------------------------------
    def stop(self, pid: int, grace_s: float = STOP_GRACE_S) -> None:
        """SIGCONT (a frozen process cannot exit), SIGTERM, then SIGKILL after the grace period."""
        with self._lock:
            rec = self._records.get(pid)
            proc = self._popens.get(pid)
        if rec is not None:
            stop_process(pid, rec.start_ticks, grace_s, proc)
        self.forget(pid)

    def stop_all(self, grace_s: float = STOP_GRACE_S) -> None:
        """Stops every recorded process (in parallel) and deletes the recorded temp paths."""
        records = self.records()
        threads = [threading.Thread(target=self.stop, args=(r.pid, grace_s)) for r in records]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        with self._lock:
            for p in self._paths:
                shutil.rmtree(p, ignore_errors=True)
            self._paths.clear()
            self._write()

    def close(self) -> None:
        """Everything stopped: the state file is no longer needed."""
        self.stop_all()
        self.state_file.unlink(missing_ok=True)


def stop_process(
    pid: int, start_ticks: int | None, grace_s: float = STOP_GRACE_S, proc: subprocess.Popen | None = None
) -> None:
    if not is_alive(pid, start_ticks):
        _reap(proc)
        return
    for sig in (signal.SIGCONT, signal.SIGTERM):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            break
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        _reap(proc)
        if not is_alive(pid, start_ticks):
            return
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline and is_alive(pid, start_ticks):
        _reap(proc)
        time.sleep(0.05)
    _reap(proc)


def _reap(proc: subprocess.Popen | None) -> None:
    if proc is not None:
        try:
            proc.poll()
        except Exception:  # noqa: BLE001 - reaping is best effort
            pass


@dataclass(frozen=True)
class Leftover:
    state_file: Path
    run_id: str
    alive: list[ProcessRecord]
    paths: list[str]
    undo: dict[str, list[str]]


def find_leftovers(state_dir: Path) -> list[Leftover]:
    """State files whose owning harness is gone (a killed run), with what still runs."""
    found: list[Leftover] = []
    if not state_dir.is_dir():
        return found
    for sf in sorted(state_dir.glob("*.json")):
        try:
            data = json.loads(sf.read_text())
        except (OSError, ValueError):
            continue
        if is_alive(data.get("owner_pid", -1), data.get("owner_start_ticks")):
            continue  # a run in progress, not a leftover
        alive = [ProcessRecord(**r) for r in data.get("processes", []) if is_alive(r["pid"], r.get("start_ticks"))]
        found.append(
            Leftover(sf, data.get("run_id", sf.stem), alive, list(data.get("paths", [])), dict(data.get("undo", {})))
        )
    return found


def cleanup_leftovers(state_dir: Path) -> list[Leftover]:
    """Stops every process a dead run recorded, deletes its temp paths and its state file."""
    leftovers = find_leftovers(state_dir)
    for lo in leftovers:
        threads = [threading.Thread(target=stop_process, args=(r.pid, r.start_ticks)) for r in lo.alive]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for p in lo.paths:
            shutil.rmtree(p, ignore_errors=True)
        for argv in lo.undo.values():
            try:
                subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=300)
            except (OSError, subprocess.TimeoutExpired):
                pass  # best effort: `harness cleanup` prints what it tried
        lo.state_file.unlink(missing_ok=True)
    return leftovers
