"""Where a load worker's CPU goes: py-spy on `python -m harness.workload.worker`, flat out.

Deploys one local server, seeds it, starts the harness load (one worker, N users, flat out, as in
load_efficiency.py), attaches py-spy to the worker once the warm-up is over (connects are not in
the profile), records `--seconds` of the measured window, tears down, and prints the top costs by
self time and by cumulative time plus the share of a few known suspects. py-spy is not a harness
dependency: install it anywhere (`python3 -m venv /tmp/pyspy && /tmp/pyspy/bin/pip install py-spy`)
and pass `--py-spy`. Usage:
    .venv/bin/python benchmarks/profile_load_worker.py --engine mysql [--connections 200] [--seconds 8]
        [--py-spy /tmp/pyspy/bin/py-spy] [--native] [--out DIR]
    .venv/bin/python benchmarks/profile_load_worker.py --summarise FILE.txt   # an existing raw profile
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

MIXES = {"redis": {"send_message": 1}, "mysql": {"login": 1}}
FLAT_OUT_OPS_S = 1_000_000.0
# OS threads that py-spy counts busy while they wait: gevent's threadpool workers (waiting for work)
# and gevent's monitor thread (sleeping between checks; its reports are not left out)
IDLE_POOL = re.compile(r"threadpool\.py[^;]*;Queue\.get \(gevent/_threading\.py[^;]*(;[^;]*gevent/_threading\.py[^;]*)*$"
                       r"|^PeriodicMonitoringThread\.__call__ \(gevent/_monitor\.py:\d+\)$")
FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")

# name -> pattern over "qualname (file)"; reported as the share of samples with such a frame anywhere
# on the stack (cumulative) and as the leaf (self). Builtins (json's C encoder, time.time, socket
# calls) have no frame of their own without --native: their time is the calling line's self time.
_Q = r"(?:^|[.;])"  # start of a qualname part: "Class.method" and "method" both match "method"
SUSPECTS = {
    "history: HistoryWriter.invoke + complete": _Q + r"(invoke|complete) \(harness/history\.py",
    "history: HistoryWriter._emit": _Q + r"_emit \(harness/history\.py",
    "history: json.dumps (Python part of the encoder)": _Q + r"(dumps|encode|iterencode) \(json/",
    "time: now_us() (time.monotonic_ns)": _Q + r"now_us \(harness/history\.py",
    "locust: events.request.fire": _Q + r"fire \(locust/event\.py",
    "locust: RequestStats / StatsEntry (stats.py)": r"\(locust/stats\.py",
    "locust: any locust/ frame": r"\(locust/",
    "gevent.Timeout (create/start/cancel), any caller": r"\(gevent/timeout\.py",
    "gevent.Timeout of the op deadline (one_op)": r"one_op \(harness/workload/locust_users\.py\);Timeout\.",
    "pacing: wait_time / after_op / slot_time": _Q + r"(wait_time|after_op|slot_time) \(harness/workload/(locust_users|pacing)\.py",
    "PyMySQL": r"\(pymysql/",
    "redis-py": r"\(redis/",
    "gevent socket I/O (_socketcommon / _socket3)": r"\(gevent/(_socket3|_socketcommon)\.py",
    "gevent hub / waits / greenlet switches": r"\(gevent/(hub|_hub_primitives|_waiter|_abstract_linkable|greenlet|_hub_local)\.py",
    "ssl": r"ssl",
    "DNS (getaddrinfo / resolver)": r"getaddrinfo|gevent/resolver|gethostbyname",
    "logging": r"\(logging/",
    "gevent monitor thread (blocking reports: greenlet tree)": r"PeriodicMonitoringThread\.",
    "progress / csv writers": r"(report|_progress|_write_json) \(harness/workload/worker\.py|stats_writer \(locust/",
    "model: message / msg_cache_json": r"\(harness/workload/model\.py",
    "random (op_picker choices, rng.choice)": r"\(random\.py",
}


def parse(path: Path) -> tuple[list[tuple[list[str], int]], int]:
    """py-spy raw (collapsed) stacks: 'root;...;leaf count' -> [(frames root..leaf, count)], total."""
    stacks: list[tuple[list[str], int]] = []
    total = 0
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        stacks.append((stack.split(";"), int(n)))
        total += int(n)
    return stacks, total


def _func(frame: str) -> str:
    """'func (file:line)' -> 'func (file)': one key per function, whatever line was running."""
    m = FRAME.match(frame)
    return f"{m['func']} ({m['file']})" if m else frame


def summarise(path: Path, top: int = 25, rate: float | None = None, seconds: float | None = None) -> str:
    stacks, total = parse(path)
    total -= sum(n for frames, n in stacks if IDLE_POOL.search(";".join(frames)))
    if not total:
        return f"{path}: no samples"
    self_line: Counter[str] = Counter()
    self_fn: Counter[str] = Counter()
    cum_fn: Counter[str] = Counter()
    cum_s: Counter[str] = Counter()
    self_s: Counter[str] = Counter()
    pats = {k: re.compile(v) for k, v in SUSPECTS.items()}
    idle = 0
    for frames, n in stacks:
        frames = [f for f in frames if not f.startswith("process ") and not f.startswith("thread ")]
        if not frames or IDLE_POOL.search(";".join(frames)):
            idle += n
            continue
        self_line[frames[-1]] += n
        self_fn[_func(frames[-1])] += n
        keys = [_func(f) for f in frames]
        for f in set(keys):
            cum_fn[f] += n
        joined = ";".join(keys)
        leaf_from = len(joined) - len(keys[-1])
        for k, p in pats.items():
            ends = [m.end() for m in p.finditer(joined)]
            if ends:
                cum_s[k] += n
                if max(ends) > leaf_from:
                    self_s[k] += n
    out = [f"{path}: {total} samples" + (f" ({total / (rate * seconds):.0%} of {rate * seconds:.0f}: "
                                         "the rest the worker was idle)" if rate and seconds else "")
           + (f"; {idle} samples of waiting threadpool / monitor threads left out" if idle else "")]

    def block(title: str, c: Counter[str]) -> None:
        out.append(f"-- {title}")
        for k, n in c.most_common(top):
            out.append(f"{100 * n / total:6.1f}%  {k}")

    block("self time by function", self_fn)
    block("self time by line", self_line)
    block("cumulative time by function", cum_fn)
    out.append("-- suspects: cumulative (such a frame on the stack; they overlap) / self (the leaf)")
    for k in SUSPECTS:
        out.append(f"{100 * cum_s[k] / total:6.1f}% {100 * self_s[k] / total:6.1f}%  {k}")
    return "\n".join(out)


def profile(a) -> int:
    from harness.contracts import DeploySpec
    from harness.platforms.local import LocalPlatform
    from harness.procs import ProcessRegistry
    from harness.workload.driver import LoadSpec, seed_data, start_load
    from harness.workload.model import SeedSize

    pyspy = a.py_spy or shutil.which("py-spy")
    if not pyspy:
        print("py-spy not found: pass --py-spy PATH", file=sys.stderr)
        return 2
    out = Path(a.out or tempfile.mkdtemp(prefix="profile-"))
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="profile-run-"))
    registry = ProcessRegistry(tmp / "state.json", "profile")
    platform = LocalPlatform(registry, tmp / "run", tmp / "work")
    raw = out / f"{a.engine}-{a.connections}{'-native' if a.native else ''}.txt"
    try:
        dep = platform.deploy(a.engine, "statefulset", DeploySpec(ready_timeout_s=120))
        try:
            ep = platform.endpoint(dep)
            info = seed_data(ep, a.engine, SeedSize(users=max(a.connections, 20), friends_per_user=2, groups=1,
                                                    group_size=5), 1)
            spec = LoadSpec(a.engine, MIXES[a.engine], rate_ops_s=FLAT_OUT_OPS_S, users=a.connections,
                            duration_s=a.seconds + 2, seed=1, warmup_s=a.warmup)
            before = {r.pid for r in registry.records()}
            run = start_load(ep, spec, info, out / "load", registry, out / "load" / "load.log")
            try:
                pid = next(r.pid for r in registry.records() if r.pid not in before and r.name.startswith("load-w"))
                time.sleep(max(0.0, (run.load_start_us - time.monotonic_ns() // 1000) / 1e6) + 0.5)
                cmd = [pyspy, "record", "--pid", str(pid), "--duration", str(int(a.seconds)), "--rate", str(a.rate),
                       "--format", "raw", "-o", str(raw)] + (["--native"] if a.native else [])
                sched0, t0 = _schedstat(pid), time.monotonic()
                subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
                sched1, dt = _schedstat(pid), time.monotonic() - t0
                s = run.wait(a.seconds + 120)
            finally:
                run.stop()
        finally:
            platform.teardown(dep)
    finally:
        registry.close()
    w = s.workers[0]
    ops = w["ok"] + w["failed"] + w["unknown"]
    print(f"{a.engine} [{a.connections} connections]: {s.ok_ops_s:.0f} ok ops/s, {ops} ops, worker CPU "
          f"{w['cpu_user_s'] + w['cpu_sys_s']:.1f} s (whole process)")
    if sched0 and sched1:  # py-spy counts a runnable-but-preempted worker as busy: this tells how often
        ran, waited = ((b - a) / 1e9 / dt for a, b in zip(sched0, sched1, strict=True))
        print(f"worker main thread while profiled: on a CPU {ran:.0%} of the time, runnable but waiting for "
              f"one {waited:.0%}, blocked/idle {max(0.0, 1 - ran - waited):.0%}")
    print(summarise(raw, a.top, a.rate, a.seconds))
    return 0


def _schedstat(pid: int) -> tuple[int, int] | None:
    """(ns on a CPU, ns waiting on a run queue) of a process's main thread."""
    try:
        ran, waited, _ = Path(f"/proc/{pid}/schedstat").read_text().split()
    except (OSError, ValueError):
        return None
    return int(ran), int(waited)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--engine", choices=sorted(MIXES), default="mysql")
    ap.add_argument("--connections", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=8.0, help="profiled part of the measured window")
    ap.add_argument("--warmup", type=float, default=3.0)
    ap.add_argument("--rate", type=int, default=100, help="py-spy samples per second")
    ap.add_argument("--native", action="store_true", help="C frames too (json encoder, ssl, libev)")
    ap.add_argument("--py-spy", default=None)
    ap.add_argument("--out", default=None, help="directory for the raw profile and the load's files")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--summarise", type=Path, default=None, help="only summarise this raw profile")
    a = ap.parse_args(argv)
    if a.summarise:
        print(summarise(a.summarise, a.top))
        return 0
    return profile(a)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
