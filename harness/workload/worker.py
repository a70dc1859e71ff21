"""A load worker process: `python -m harness.workload.worker CONFIG.json`.

Runs Locust headless as a library for one share of the load: connects every user, reports
`ready`, waits for the orchestrator's go file (the common start), runs the schedule; streams this
worker's history, keeps a progress file current (once a second), watches its own event loop
(hubwatch) and writes the hub evidence and a summary file at the end. It is the
only place `locust` (and so gevent's monkey-patching) is imported; the orchestrator never is.
SIGTERM stops the load gracefully (in-flight ops finish or time out, the history is flushed).
"""

from __future__ import annotations

import json
import os
import resource
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import gevent
import gevent.event

# locust first: it monkey-patches the process before any client library is imported
import locust  # noqa: F401, I001
from locust.env import Environment
from locust.stats import PERCENTILES_TO_REPORT, StatsCSVFileWriter

from harness import engines
from harness.history import HistoryWriter, now_us
from harness.workload.driver import CodeChanged, check_code_version
from harness.workload.hubwatch import HubWatch
from harness.workload.locust_users import PlantedStall, StartSignal, Tally, make_user_class
from harness.workload.worker_config import WorkerConfig, WorkerConfigError

PROGRESS_EVERY_S = 1.0
OP_ID_STRIDE = 1 << 40  # worker w numbers its ops from w * OP_ID_STRIDE: ids unique across files
CONNECT_TIMEOUT_S = 120.0  # every user's first connect attempt is bounded by the op timeout; this is the backstop
GO_POLL_S = 0.02


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


def _progress(tally: Tally, started_us: int, ready: bool) -> dict[str, Any]:
    last = int(time.monotonic()) - 1  # the last complete second
    for s in [s for s in tally.per_second if s < last - 5]:
        del tally.per_second[s]  # keep memory flat
    ok_s, bad_s = tally.per_second.get(last, [0, 0])
    return {"t_us": now_us(), "started_us": started_us, "ready": ready, "connected": tally.connected,
            "connect_failed": tally.connect_failed, "invokes": tally.invokes, "ok": tally.ok,
            "failed": tally.failed, "unknown": tally.unknown, "ok_last_s": ok_s, "failed_last_s": bad_s}


class PoolLog:
    """The worker's client pool in the load log: one line per second when it changed (`peak` = the
    most connections open at once in that second), and its totals at the end. Why: the pool's size
    is part of the load OpenIM would put on the server (its connections count against max_connections)."""

    def __init__(self, pool: Any):
        self.pool = pool
        self._last: tuple[int, ...] | None = None

    def second(self, t_s: float | None) -> None:
        """`t_s`: seconds into the measured window (negative: warm-up), None before the start."""
        if self.pool is None:
            return
        peak, st = self.pool.take_peak(), self.pool.stats()
        key = (peak, st["open"], *(v for k, v in st.items() if k.endswith("_total")))  # not the momentary in_use
        if key != self._last:
            self._last = key
            when = "connecting" if t_s is None else f"{t_s:+.1f}s"
            print(f"client pool t={when} peak={peak} " + _fields(st), flush=True)

    def end(self, t_s: float) -> dict[str, int] | None:
        """The final line (before the idle connections are closed); the stats go into the summary."""
        if self.pool is None:
            return None
        st: dict[str, int] = self.pool.stats()
        print(f"client pool end t={t_s:+.1f}s " + _fields(st), flush=True)
        self.pool.close()
        return st


def _fields(st: dict[str, int]) -> str:
    return " ".join(f"{k}={v}" for k, v in st.items())


def _wait_for_go(go_path: Path, stop_now: gevent.event.Event) -> int | None:
    """The orchestrator's common start (monotonic µs), or None when stopped before it came."""
    while not stop_now.is_set():
        try:
            return int(json.loads(go_path.read_text())["start_at_mono_us"])
        except (OSError, ValueError, KeyError):
            gevent.sleep(GO_POLL_S)
    return None


def run(cfg: WorkerConfig) -> dict[str, Any]:
    check_code_version(cfg.code_fingerprint)
    hub = HubWatch().start()
    worker = cfg.worker
    users = cfg.users
    warmup_us = int(cfg.warmup_s * 1e6)
    writer = HistoryWriter(cfg.history_path, op_id_base=worker * OP_ID_STRIDE)
    warm_writer = (HistoryWriter(cfg.warmup_history_path, op_id_base=worker * OP_ID_STRIDE + OP_ID_STRIDE // 2)
                   if warmup_us > 0 and cfg.warmup_history_path else None)
    tally = Tally()
    stopping = gevent.event.Event()
    start = StartSignal()
    pool = engines.get(cfg.engine).client_pool(cfg.endpoint, cfg.op_timeout_s)  # one per worker, as OpenIM has
    user_cls = make_user_class(
        engine=cfg.engine, endpoint=cfg.endpoint, info=cfg.seed_info, mix=cfg.mix,
        per_user_rate=cfg.rate_ops_s / users, op_timeout_s=cfg.op_timeout_s,
        writer=writer, worker=worker, seed=cfg.seed, tally=tally, stopping=stopping,
        start=start, warm_writer=warm_writer, warmup_us=warmup_us, tag=cfg.id_tag,
        stall=None if not cfg.planted_stall else PlantedStall(*cfg.planted_stall), pool=pool)
    env = Environment(user_classes=[user_cls], stop_timeout=cfg.op_timeout_s * 4 + 1)
    runner = env.create_local_runner()
    if cfg.locust_csv_prefix:
        csv_writer = StatsCSVFileWriter(env, PERCENTILES_TO_REPORT, cfg.locust_csv_prefix, False)
        gevent.spawn(csv_writer.stats_writer)
    progress_path = cfg.progress_path
    stop_now = gevent.event.Event()
    gevent.signal_handler(signal.SIGTERM, stop_now.set)

    started = now_us()
    ready = False
    window: dict[str, int] = {}  # the load log's pool lines count from the measured window, once it is known
    pool_log = PoolLog(pool)

    def report() -> None:
        while True:
            _write_json(progress_path, _progress(tally, started, ready))
            pool_log.second((now_us() - window["from_us"]) / 1e6 if window else None)
            gevent.sleep(PROGRESS_EVERY_S)

    reporter = gevent.spawn(report)
    # users connect now, then wait for the common start (see make_user_class)
    runner.start(users, spawn_rate=max(users, 1) * 100)
    connect_deadline = time.monotonic() + CONNECT_TIMEOUT_S
    while tally.connected < users and not stop_now.is_set() and time.monotonic() < connect_deadline:
        gevent.sleep(GO_POLL_S)
    connected_us = now_us()
    ready = True
    _write_json(progress_path, _progress(tally, started, ready))
    start_at = _wait_for_go(cfg.go_path, stop_now)
    go_seen = now_us()
    if start_at is None:  # stopped before the start: nothing was measured
        start_at = go_seen
    late_us = max(0, go_seen - start_at)  # > 0: this worker saw the go after the common start
    measure_from = start_at + warmup_us
    window["from_us"] = measure_from
    start.go(start_at)
    end_at = measure_from + int(cfg.duration_s * 1e6)
    stop_now.wait(max(0.0, (end_at - now_us()) / 1e6))
    stopped_early = stop_now.is_set()
    ended = now_us()
    stopping.set()
    drain_deadline = time.monotonic() + cfg.op_timeout_s * 4 + 2
    writers = [w for w in (writer, warm_writer) if w is not None]
    while any(w.open_ops for w in writers) and time.monotonic() < drain_deadline:
        gevent.sleep(0.01)
    runner.quit()
    runner.greenlet.join(timeout=cfg.op_timeout_s * 4 + 5)
    reporter.kill()
    hub.stop()
    pool_stats = pool_log.end((now_us() - measure_from) / 1e6)
    finished = now_us()
    open_ops = writer.open_ops
    for w in writers:
        w.close()
    hub.write(cfg.hub_path)
    _write_json(progress_path, _progress(tally, started, ready))
    total = env.stats.total
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "worker": worker, "users": users, "rate_ops_s": cfg.rate_ops_s,
        "start_at_mono_us": start_at, "measure_from_us": measure_from, "started_us": started,
        "connected_us": connected_us, "connected": tally.connected, "connect_failed": tally.connect_failed,
        "late_start_us": late_us, "load_end_us": ended, "finished_us": finished, "stopped_early": stopped_early,
        "invokes": tally.invokes, "ok": tally.ok, "failed": tally.failed, "unknown": tally.unknown,
        "unfinished": open_ops, "max_hub_lag_us": hub.max_lag_us,
        "peak_rss_kb": usage.ru_maxrss, "client_pool": pool_stats,
        "cpu_user_s": round(usage.ru_utime, 3), "cpu_sys_s": round(usage.ru_stime, 3),
        "locust": {"num_requests": total.num_requests, "num_failures": total.num_failures,
                   "avg_response_time_ms": total.avg_response_time},
    }


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m harness.workload.worker CONFIG.json", file=sys.stderr)
        return 2
    cfg_path = Path(argv[0])
    data = json.loads(cfg_path.read_text())
    cfg_path.unlink(missing_ok=True)  # it holds the endpoint password: gone once read
    try:
        cfg = WorkerConfig.from_json(data)
        summary = run(cfg)
    except (CodeChanged, WorkerConfigError) as e:  # one clear line: the orchestrator reports it as the cell's failure
        print(f"load worker refused to start: {e}", file=sys.stderr)
        return 3
    except Exception:  # noqa: BLE001 - the driver reads the log; passwords never reach it
        traceback.print_exc()
        return 1
    _write_json(cfg.summary_path, summary)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
