"""How much load the harness itself can offer, next to a bare client doing the same commands.

On one local Redis (and one MariaDB) server and with the same number of connections, run
  1. the harness: Locust worker process + engine client + per-op history, flat out
     (offered rate far above what one core can drive), then the checker over that history;
  2. a bare loop: plain redis-py / PyMySQL in N threads, one connection each, same commands
     (redis: EVALSHA seq alloc + HSET MSG_CACHE + EXPIRE; mysql: SELECT account + INSERT
     user_login_records), no history, no Locust;
and print ops/s of both and their ratio. Usage:
    .venv/bin/python benchmarks/load_efficiency.py [--seconds 10] [--connections 8] [--engines redis,mysql]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

from harness.checker import check
from harness.platforms.base import DeploySpec
from harness.platforms.local import LocalPlatform
from harness.procs import ProcessRegistry
from harness.workload import model
from harness.workload.driver import LoadSpec, seed_data, start_load
from harness.workload.model import SeedSize

MIXES = {"redis": {"send_message": 1}, "mysql": {"login": 1}}
FLAT_OUT_OPS_S = 1_000_000.0  # constant_throughput never waits: users run back to back


def harness_rate(ep, engine: str, info, seconds: float, conns: int, registry, out: Path) -> dict:
    spec = LoadSpec(engine, MIXES[engine], rate_ops_s=FLAT_OUT_OPS_S, users=conns, duration_s=seconds, seed=1)
    run = start_load(ep, spec, info, out, registry, out / "load.log")
    try:
        s = run.wait(seconds + 120)
    finally:
        run.stop()
    t = time.monotonic()
    m = check(run.history_paths, load_start_us=s.load_start_us, load_end_us=s.load_end_us, fault=None, readback=None)
    check_s = time.monotonic() - t
    return {"ok_ops_s": s.ok_ops_s, "failed": s.failed + s.unknown, "peak_rss_mb": s.peak_rss_mb,
            "checker_ops_s": m.ops["total"] / check_s if check_s else 0.0, "p99_ms": m.latency_ms["p99"]}


def _bare_redis_worker(ep, stop: threading.Event, counts: list[int], i: int) -> None:
    from harness.workload.redis import MALLOC_LUA, connect

    r = connect(ep, 5.0)
    malloc = r.register_script(MALLOC_LUA)
    conv = model.Conversation(f"si_bench_{i}", model.SESSION_SINGLE, ("a", "b"))
    payload = model.msg_cache_json(model.message(conv, "a", 1, "cm", 0, "x" * model.PAYLOAD_TEXT_BYTES))
    n = 0
    while not stop.is_set():
        seq = malloc(keys=[model.malloc_seq_key(conv.cid)], args=[1, 50, 0, model.MALLOC_SEQ_TTL_S])[1]
        key = model.msg_cache_key(conv.cid, seq)
        r.hset(key, "value", payload)
        r.expire(key, model.MSG_CACHE_TTL_S)
        n += 1
    counts[i] = n
    r.close()


def _bare_mysql_worker(ep, stop: threading.Event, counts: list[int], i: int) -> None:
    from harness.workload.mysql import connect

    c = connect(ep, 5.0, ep.database or "openIM_v3")
    uid = model.user_id(i)
    n = 0
    with c.cursor() as cur:
        while not stop.is_set():
            cur.execute("SELECT user_id, password, create_time FROM accounts WHERE user_id=%s", (uid,))
            cur.fetchall()
            cur.execute("INSERT INTO user_login_records (user_id, login_time, ip, device_id, platform)"
                        " VALUES (%s, NOW(3), '127.0.0.1', %s, 'Android')", (uid, f"dev-{n}"))
            n += 1
    counts[i] = n
    c.close()


def bare_rate(ep, engine: str, seconds: float, conns: int) -> float:
    target = _bare_redis_worker if engine == "redis" else _bare_mysql_worker
    stop = threading.Event()
    counts = [0] * conns
    threads = [threading.Thread(target=target, args=(ep, stop, counts, i)) for i in range(conns)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    time.sleep(seconds)  # the measurement interval itself, not synchronisation
    stop.set()
    for t in threads:
        t.join()
    return sum(counts) / (time.monotonic() - t0)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--engines", default="redis,mysql")
    a = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="bench-"))
    registry = ProcessRegistry(tmp / "state.json", "bench")
    platform = LocalPlatform(registry, tmp / "run", tmp / "work")
    try:
        for engine in a.engines.split(","):
            dep = platform.deploy(engine, "statefulset", DeploySpec(ready_timeout_s=120))
            try:
                ep = platform.endpoint(dep)
                info = seed_data(ep, engine, SeedSize(users=max(a.connections, 20), friends_per_user=2, groups=1,
                                                      group_size=5), 1)
                bare = bare_rate(ep, engine, a.seconds, a.connections)
                h = harness_rate(ep, engine, info, a.seconds, a.connections, registry, tmp / f"out-{engine}")
                print(f"{engine}: harness {h['ok_ops_s']:.0f} ops/s (p99 {h['p99_ms']:.2f} ms, failed {h['failed']}, "
                      f"worker peak RSS {h['peak_rss_mb']:.0f} MB), bare client {bare:.0f} ops/s, "
                      f"ratio {h['ok_ops_s'] / bare:.2f}; checker reads {h['checker_ops_s']:.0f} ops/s "
                      f"[{a.connections} connections, {a.seconds:.0f} s]")
            finally:
                platform.teardown(dep)
    finally:
        registry.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
