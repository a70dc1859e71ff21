"""Starts, watches and stops the load: Locust worker processes, spawned through the registry.

The orchestrator imports this module, never `locust`: each worker is a separate
`python -m harness.workload.worker` process (gevent's monkey-patching stays there).
Each worker writes its own history file (`history-w<N>.jsonl`) and its hub watch
(`hub-w<N>.json`, see hubwatch); `LoadRun.history_paths` lists them all and the checker reads them
together (op ids are unique across workers).

The start is a rendezvous, so the measured window never opens while users are still connecting:
each worker connects all its users and reports `ready` in its progress file; once every worker is
ready, the orchestrator writes one go file with a common start a little in the future; every user
starts its schedule there, and the measured window (`load_start_us`) begins `warmup_s` later, in
the same run (no start-up ramp). Warm-up ops go to `warmup_dir`, not the history. A worker that saw
the go late records by how much (`late_start_us`).

A worker refuses to start when the harness's workload code on disk differs from what this
(orchestrator) process loaded: a run that mixes two versions of the writer and the read-back can
report acknowledged writes as lost that never were (see `code_fingerprint`).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import engines
from harness.contracts import Endpoint
from harness.errors import HarnessError
from harness.history import now_us
from harness.procs import ProcessRegistry, is_alive
from harness.workload.base import check_mix
from harness.workload.model import SeedInfo, SeedSize, plan_seed
from harness.workload.worker_config import WorkerConfig

READY_TIMEOUT_S = 180.0  # importing locust (~1 s per worker) + every user's first connect, on a busy box
GO_MARGIN_S = 0.3  # the common start is this far after the go is written: workers poll for it every 20 ms


_CODE_FILES = ("history.py", "checker", "workload", "engines")


class CodeChanged(HarnessError):
    """The harness's workload code changed on disk since the orchestrator loaded it."""


def code_fingerprint(root: Path | None = None) -> str:
    """sha256 over the sources that write the history and read it back (history, checker,
    workload/*.py, engines/*.py, which hand out the clients and readers): equal fingerprints = the
    worker writes what the orchestrator's checker reads."""
    root = root or Path(__file__).resolve().parent.parent
    h = hashlib.sha256()
    for name in _CODE_FILES:
        p = root / name
        for f in sorted(p.glob("*.py")) if p.is_dir() else [p]:
            h.update(f.relative_to(root).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:16]


LOADED_CODE = code_fingerprint()  # what this process imported (module import time)


def check_code_version(expected: str | None, root: Path | None = None) -> None:
    """Raises CodeChanged when the code on disk is not the version the orchestrator loaded."""
    if expected is None:
        return
    now = code_fingerprint(root)
    if now != expected:
        raise CodeChanged(f"harness workload code changed on disk during the run (loaded {expected}, now {now}); "
                          "a run must not mix two versions of the writer and the read-back: restart the run")


@dataclass(frozen=True)
class LoadSpec:
    engine: str
    mix: Mapping[str, float]  # op name -> weight, e.g. {"send_message": 8, "login": 1, "sync": 1}
    rate_ops_s: float  # offered load, total over all users (constant throughput)
    users: int
    duration_s: float
    seed: int
    workers: int = 1  # load processes
    op_timeout_s: float = 1.0  # driver timeouts well below failover times
    warmup_s: float = 0.0  # run before the measured window, by the same users (not in the history)
    planted_stall: tuple[float, float] | None = None  # self-test only: (at_s into the window, block_s)

    def validate(self) -> None:
        """Bad values -> one clear HarnessError line."""
        check_mix(self.mix, engines.get(self.engine).ops, self.engine)
        if not (self.rate_ops_s > 0):
            raise HarnessError(f"load: rate_ops_s must be > 0, got {self.rate_ops_s}")
        if self.users < 1 or self.workers < 1 or self.workers > self.users:
            raise HarnessError(f"load: need users >= workers >= 1, got users={self.users} workers={self.workers}")
        if not (self.warmup_s >= 0):
            raise HarnessError(f"load: warmup_s must be >= 0, got {self.warmup_s}")
        if not (self.duration_s > 0) or not (0 < self.op_timeout_s <= 30):
            raise HarnessError(f"load: duration_s > 0 and 0 < op_timeout_s <= 30 required, got {self.duration_s}, {self.op_timeout_s}")


def seed_data(endpoint: Endpoint, engine: str, size: SeedSize, seed: int) -> SeedInfo:
    """Creates the initial data set (users, friends, groups, conversations) on the primary."""
    info = plan_seed(engine, size, seed)
    engines.get(engine).seed(endpoint, info)
    return info


@dataclass(frozen=True)
class LoadProgress:
    ok_per_s: int  # over the last complete second, all workers
    failed_per_s: int  # fail + info over the last complete second
    invokes: int
    ok: int
    failed: int
    unknown: int
    workers_alive: int


@dataclass(frozen=True)
class LoadSummary:
    """Offered vs achieved. `load_start_us`/`load_end_us` are the checker's load window."""

    offered_ops_s: float
    attempted_ops_s: float  # invokes / duration: below offered when users were blocked (closed loop)
    ok_ops_s: float
    invokes: int
    ok: int
    failed: int
    unknown: int
    load_start_us: int
    load_end_us: int
    duration_s: float
    peak_rss_mb: float  # the largest worker's peak RSS
    ready_s: float = 0.0  # spawn -> every user of every worker connected (or its first connect failed)
    late_start_us: int = 0  # the latest worker's delay past the common start (0: all on time)
    connect_failed: int = 0  # users whose first connect failed (they retry in their first ops)
    cpu_s: float = 0.0  # load workers' CPU time (user + system), all workers
    worker_cpu_max: float = 0.0  # the busiest worker's CPU time over its life, as a fraction of one core
    worker_wall_s: float = 0.0  # the longest worker's life (spawn to exit), the base of `cpu_s`
    workers: list[dict[str, Any]] = field(default_factory=list)


class LoadWorkerError(HarnessError):
    """A load worker crashed or never reported; the message points at its log."""


@dataclass(frozen=True)
class _Worker:
    """One spawned worker: what it was told, where that file is, its process."""

    cfg: WorkerConfig
    config_path: Path
    proc: subprocess.Popen


class LoadRun:
    """Handle of a running load. `stop()` is idempotent and safe after `wait()`."""

    def __init__(self, spec: LoadSpec, out_dir: Path, registry: ProcessRegistry, log_path: Path,
                 workers: list[_Worker], go_path: Path):
        self.spec = spec
        self.out_dir = out_dir
        self.registry = registry
        self.log_path = log_path
        self._workers = workers
        self._go_path = go_path
        self._spawned_us = now_us()
        self.ready_s = 0.0
        self.users_start_us = 0  # the common start (warm-up begins); set by `go`
        self.load_start_us = 0  # the measured window begins, warm-up after the common start
        self.history_paths: list[Path] = [w.cfg.history_path for w in workers]
        self.warmup_history_paths: list[Path] = [w.cfg.warmup_history_path for w in workers
                                                 if spec.warmup_s > 0 and w.cfg.warmup_history_path is not None]
        self._summary: LoadSummary | None = None

    def _progress_files(self) -> list[dict[str, Any]]:
        out = []
        for w in self._workers:
            try:
                out.append(json.loads(w.cfg.progress_path.read_text()))
            except (OSError, ValueError):
                out.append({})
        return out

    def wait_ready(self, timeout_s: float = READY_TIMEOUT_S) -> None:
        """Blocks until every user of every worker is connected, then gives the common start.

        The measured window is counted from that start (plus the warm-up), so it never opens while
        users are still connecting. A worker that died is not waited for: `wait()` reports it."""
        deadline = time.monotonic() + timeout_s
        while True:
            files = self._progress_files()
            if all(f.get("ready") for f in files):
                break
            if any(w.proc.poll() is not None for w in self._workers):
                break
            if time.monotonic() > deadline:
                connected = sum(int(f.get("connected", 0)) for f in files)
                self.stop()
                raise LoadWorkerError(f"the load's users did not connect within {timeout_s:.0f} s "
                                      f"({connected} of {self.spec.users} tried); see {self.log_path}")
            time.sleep(0.02)
        self.ready_s = round((now_us() - self._spawned_us) / 1e6, 3)
        start_at = now_us() + int(GO_MARGIN_S * 1e6)
        tmp = self._go_path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"start_at_mono_us": start_at}))
        os.replace(tmp, self._go_path)
        self.users_start_us = start_at
        self.load_start_us = start_at + int(self.spec.warmup_s * 1e6)

    def progress(self) -> LoadProgress:
        tot = dict.fromkeys(("ok_last_s", "failed_last_s", "invokes", "ok", "failed", "unknown"), 0)
        for data in self._progress_files():
            for k in tot:
                tot[k] += int(data.get(k, 0))
        alive = sum(1 for w in self._workers if w.proc.poll() is None)
        return LoadProgress(tot["ok_last_s"], tot["failed_last_s"], tot["invokes"], tot["ok"], tot["failed"],
                            tot["unknown"], alive)

    def wait(self, timeout_s: float) -> LoadSummary:
        """Waits for every worker to finish; raises LoadWorkerError on a crash or timeout."""
        if self._summary is not None:
            return self._summary
        deadline = time.monotonic() + timeout_s
        for w in self._workers:
            proc = w.proc
            while proc.poll() is None:
                if time.monotonic() > deadline:
                    self.stop()
                    raise LoadWorkerError(f"load worker {w.cfg.worker} did not finish within {timeout_s:.0f} s; see {self.log_path}")
                time.sleep(0.1)
            self.registry.forget(proc.pid)
            if proc.returncode != 0 or not w.cfg.summary_path.exists():
                self.stop()
                why = _last_refusal(self.log_path)
                raise LoadWorkerError(f"load worker {w.cfg.worker} exited with status {proc.returncode}"
                                      f"{': ' + why if why else ''}; see {self.log_path}")
        self._summary = self._summarise()
        return self._summary

    def _summarise(self) -> LoadSummary:
        sums = [json.loads(w.cfg.summary_path.read_text()) for w in self._workers]
        start = self.load_start_us
        end = max(s["load_end_us"] for s in sums)
        dur = max(1e-9, (end - start) / 1e6)
        inv = sum(s["invokes"] for s in sums)
        ok = sum(s["ok"] for s in sums)
        return LoadSummary(
            offered_ops_s=self.spec.rate_ops_s, attempted_ops_s=round(inv / dur, 3), ok_ops_s=round(ok / dur, 3),
            invokes=inv, ok=ok, failed=sum(s["failed"] for s in sums),
            unknown=sum(s["unknown"] + s["unfinished"] for s in sums), load_start_us=start, load_end_us=end,
            duration_s=round(dur, 6), peak_rss_mb=round(max(s["peak_rss_kb"] for s in sums) / 1024, 1),
            ready_s=self.ready_s, late_start_us=max(s["late_start_us"] for s in sums),
            connect_failed=sum(s["connect_failed"] for s in sums),
            cpu_s=round(sum(s["cpu_user_s"] + s["cpu_sys_s"] for s in sums), 3),
            worker_cpu_max=round(max((s["cpu_user_s"] + s["cpu_sys_s"]) / max(1e-6, (s["finished_us"] - s["started_us"]) / 1e6)
                                     for s in sums), 3),
            worker_wall_s=round(max((s["finished_us"] - s["started_us"]) / 1e6 for s in sums), 3), workers=sums)

    def stop(self) -> None:
        for w in self._workers:
            proc = w.proc
            if proc.poll() is None and is_alive(proc.pid):
                self.registry.stop(proc.pid, grace_s=self.spec.op_timeout_s * 4 + 10)
            else:
                self.registry.forget(proc.pid)
        for w in self._workers:  # the configs hold the endpoint password
            w.config_path.unlink(missing_ok=True)
        self._go_path.unlink(missing_ok=True)


def _last_refusal(log_path: Path) -> str | None:
    """The worker's one-line reason when it refused to start (e.g. the code changed)."""
    try:
        lines = Path(log_path).read_text(errors="replace").splitlines()
    except OSError:
        return None
    hits = [ln for ln in lines if ln.startswith("load worker refused to start: ")]
    return hits[-1].removeprefix("load worker refused to start: ") if hits else None


def _split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def start_load(endpoint: Endpoint, spec: LoadSpec, seed_info: SeedInfo, out_dir: Path, registry: ProcessRegistry,
               log_path: Path, warmup_dir: Path | None = None) -> LoadRun:
    """Spawns `spec.workers` worker processes, waits until all their users are connected, gives
    them one common start; they warm up for `spec.warmup_s` (histories in `warmup_dir`, default
    `out_dir/warmup`) and then run the measured window from `load_start_us` for `spec.duration_s`."""
    spec.validate()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    warmup_dir = Path(warmup_dir) if warmup_dir is not None else out_dir / "warmup"
    if spec.warmup_s > 0:
        warmup_dir.mkdir(parents=True, exist_ok=True)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    workers: list[_Worker] = []
    id_tag = "." + _base36(now_us())  # ids unique across load runs on one database
    go_path = out_dir / ".go.json"
    go_path.unlink(missing_ok=True)
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    for i, users in enumerate(_split(spec.users, spec.workers)):
        cfg = WorkerConfig(
            engine=spec.engine, mix=dict(spec.mix), users=users,
            rate_ops_s=spec.rate_ops_s * users / spec.users, duration_s=spec.duration_s,
            seed=spec.seed, worker=i, op_timeout_s=spec.op_timeout_s,
            endpoint=endpoint, seed_info=seed_info,
            history_path=out_dir / f"history-w{i}.jsonl", progress_path=out_dir / f".progress-w{i}.json",
            summary_path=out_dir / f"load-summary-w{i}.json",
            locust_csv_prefix=str(out_dir / f"locust-w{i}"), go_path=go_path,
            hub_path=out_dir / f"hub-w{i}.json",
            warmup_s=spec.warmup_s, warmup_history_path=warmup_dir / f"history-w{i}.jsonl",
            id_tag=id_tag, code_fingerprint=LOADED_CODE,
            planted_stall=spec.planted_stall,
        )
        cfg_path = out_dir / f".load-w{i}.json"
        fd = os.open(cfg_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(cfg.to_json(), fh)
        proc = registry.spawn([sys.executable, "-m", "harness.workload.worker", str(cfg_path)],
                              name=f"load-w{i}", log_path=log_path, env=env)
        workers.append(_Worker(cfg, cfg_path, proc))
    run = LoadRun(spec, out_dir, registry, log_path, workers, go_path)
    try:
        run.wait_ready()
    except BaseException:
        run.stop()
        raise
    return run


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out
