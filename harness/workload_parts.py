"""The real `Workload` for the cell: harness.workload's driver + read-back + a `harness.checker.Checker`.

One adapter, so the cell's contract stays small and the load/checker modules can evolve
without the run loop changing. Imports are lazy (the driver pulls in client libraries).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.config import Settings
from harness.contracts import Endpoint

if TYPE_CHECKING:
    from harness.checker import Checker, CheckInput

log = logging.getLogger("harness.workload_parts")

READBACK_RETRY_S = 30.0  # the primary may still be coming back when the load ends
# A deployment is "ready" by its platform's own test (a process, a readiness probe, a role label),
# which can pass a moment before the server takes this client's connection (a Service or NodePort
# still being programmed, a MySQL/MongoDB image's init server being replaced by the real one).
SEED_CONNECT_DEADLINE_S = 120.0
SEED_RETRY_INTERVAL_S = 2.0


class RealLoad:
    """A running `harness.workload.driver.LoadRun`, seen through the cell's `LoadHandle`."""

    def __init__(self, run: Any):
        self.run = run
        self.history_paths = list(run.history_paths)
        self.load_start_us = int(run.load_start_us)

    def rates(self) -> tuple[float, float]:
        p = self.run.progress()
        return float(p.ok_per_s), float(p.failed_per_s)

    def done(self) -> bool:
        return self.run.progress().workers_alive == 0

    def finish(self, timeout_s: float) -> dict[str, Any]:
        """Offered vs achieved (LoadSummary's scalar fields; per-worker detail stays in the cell dir)."""
        summary = self.run.wait(timeout_s)
        return {k: v for k, v in vars(summary).items() if isinstance(v, int | float | str) or v is None}

    def stop(self) -> None:
        self.run.stop()


class RealWorkload:
    def __init__(self, registry: Any, planted_stall: tuple[float, float] | None = None,
                 checker: Checker | None = None):
        self.registry = registry  # every load worker is spawned through it (stopped on Ctrl-C)
        self.planted_stall = planted_stall  # self-test of the validity evidence only (tests)
        self.checker = checker  # None: harness.checker.HistoryChecker (imported when first needed)

    def seed(self, endpoint: Endpoint, engine: str, settings: Settings) -> Any:
        from harness.workload.driver import seed_data
        from harness.workload.model import SeedSize

        sd = settings.seed_data
        size = SeedSize(users=sd.users, friends_per_user=min(sd.friends_per_user, sd.users - 1), groups=sd.groups,
                        group_size=min(sd.group_size, sd.users))
        return seed_with_retry(lambda: seed_data(endpoint, engine, size, settings.seed), endpoint.describe())

    def start(self, endpoint: Endpoint, engine: str, mix: dict[str, float], duration_s: float,
              settings: Settings, seed_info: Any, out_dir: Path, log_path: Path, *,
              warmup_s: float = 0.0) -> RealLoad:
        """Warm-up histories land next to `out_dir` in `warmup/` (kept for reference, never checked)."""
        from harness.workload.driver import LoadSpec, start_load

        ld = settings.load
        spec = LoadSpec(engine=engine, mix=mix, rate_ops_s=ld.rate_ops_s, users=ld.users, duration_s=duration_s,
                        seed=settings.seed, workers=ld.workers, op_timeout_s=ld.op_timeout_s, warmup_s=warmup_s,
                        planted_stall=self.planted_stall)
        out_dir.mkdir(parents=True, exist_ok=True)
        run = start_load(endpoint, spec, seed_info, out_dir, self.registry, log_path,
                         warmup_dir=out_dir.parent / "warmup")
        return RealLoad(run)

    def measure(self, endpoint: Endpoint, engine: str, inp: CheckInput, timeline_path: Path) -> dict[str, Any]:
        """Reads back from the recovered primary, hands the checker its input, writes the timeline and
        the evidence file; returns the results sub-dicts (the verdict among them)."""
        from harness.checker import HistoryChecker, write_timeline

        readback = _read_back_with_retry(endpoint, engine, list(inp.history_paths))
        m = (self.checker or HistoryChecker()).check(replace(inp, readback=readback))
        write_timeline(m, timeline_path)
        out = m.to_results()
        if m.gap_start_us is not None and m.gap_end_us is not None:
            out["availability"]["write_gap_window_s"] = [round((m.gap_start_us - inp.load_start_us) / 1e6, 3),
                                                         round((m.gap_end_us - inp.load_start_us) / 1e6, 3)]
        out["notes"] = list(m.notes)
        out["by_op"] = m.by_op
        out["verdict"] = out.pop("verdict")  # last, after the blocks it judges
        evidence = {
            "readback": readback.to_json() if readback is not None else None,
            "duplicates": [vars(d) for d in m.duplicates],
            "regressions": [vars(r) for r in m.regressions],
        }
        (timeline_path.parent / "evidence.json").write_text(json.dumps(evidence, indent=1, default=str))
        return out


    def read_restored(self, endpoint: Endpoint, engine: str, history_paths: list[Path]) -> list[tuple[Any, bool]]:
        """Every acknowledged write looked up in a restored copy (judged by harness.checker.operation)."""
        from harness import engines
        from harness.history import acked_writes

        def read() -> list[tuple[Any, bool]]:
            return [(w, found == w.id) for w, found in engines.get(engine).read_back(endpoint, acked_writes(history_paths))]

        return seed_with_retry(read, f"restored {endpoint.describe()}", deadline_s=READBACK_RETRY_S)


    def open_pools(self, endpoint: Endpoint, engine: str, processes: int | None, pool: int | None) -> dict[str, Any]:
        from harness.connections import ConnectionsPlan, measure_connections

        return measure_connections(endpoint, engine, ConnectionsPlan.from_settings(engine, processes, pool)).to_results()


def unreachable(exc: BaseException) -> bool:
    """Does `exc` say the server did not take the connection (yet), rather than refusing the work?"""
    if isinstance(exc, ConnectionError | TimeoutError):  # refused, reset; socket timeouts
        return True
    try:
        from pymysql.err import OperationalError

        if isinstance(exc, OperationalError) and exc.args and exc.args[0] in (2002, 2003, 2006, 2013):
            return True  # can't connect (socket / TCP), server gone, lost during the handshake
    except ImportError:
        pass
    try:
        from redis.exceptions import BusyLoadingError
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError

        if isinstance(exc, RedisConnectionError | RedisTimeoutError | BusyLoadingError):
            return True
    except ImportError:
        pass
    try:
        from pymongo.errors import ConnectionFailure

        if isinstance(exc, ConnectionFailure):  # AutoReconnect, ServerSelectionTimeoutError, ...
            return True
    except ImportError:
        pass
    return False


def seed_with_retry(seed: Any, what: str, deadline_s: float | None = None, interval_s: float | None = None) -> Any:
    """Runs `seed()` until the server takes the connection or `deadline_s` passes (every platform).

    Only "cannot reach the server" errors are retried (the seeds are idempotent up to their first
    write); any other error is the cell's failure at once."""
    deadline_s = SEED_CONNECT_DEADLINE_S if deadline_s is None else deadline_s
    interval_s = SEED_RETRY_INTERVAL_S if interval_s is None else interval_s
    deadline = time.monotonic() + deadline_s
    attempts = 0
    while True:
        attempts += 1
        try:
            return seed()
        except Exception as e:
            if not unreachable(e):
                raise
            if time.monotonic() + interval_s > deadline:
                raise RuntimeError(f"seed: {what} did not take a connection within {deadline_s:.0f} s "
                                   f"({attempts} attempts); last error {type(e).__name__}: {e}") from e
            log.info("seed: %s not reachable yet (%s: %s); retrying", what, type(e).__name__, e)
            time.sleep(interval_s)


def _read_back_with_retry(endpoint: Endpoint, engine: str, history_paths: list[Path]) -> Any:
    """Read-back from the recovered primary; connection errors are retried while it comes back."""
    from harness.history import acked_writes
    from harness.workload.readback import read_back

    deadline = time.monotonic() + READBACK_RETRY_S
    while True:
        try:
            return read_back(endpoint, engine, acked_writes(history_paths))
        except Exception as e:  # noqa: BLE001 - retried until the deadline, then the cell fails
            if time.monotonic() > deadline:
                raise RuntimeError(f"read-back failed for {READBACK_RETRY_S:.0f} s: {type(e).__name__}: {e}") from e
            log.info("read-back: %s: %s; retrying", type(e).__name__, e)
            time.sleep(1.0)
