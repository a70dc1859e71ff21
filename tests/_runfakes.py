"""Jepsen-style trivial stand-ins for the run loop's tests: a fake platform and a fake load.

Only for what the fake tests prove (loop control, statuses, signals); the real platform and
load are exercised by the real-run tests."""

from __future__ import annotations

import csv
import os
import signal
from pathlib import Path

from harness.contracts import Check, Deployment, Endpoint, PodInfo, Topology
from harness.errors import CellSkipped
from harness.history import now_us


class FakePlatform:
    name = "local"

    def __init__(self, skip_engine=None):
        self.skip_engine = skip_engine
        self.deployed, self.torn, self.injections = [], [], []
        self.closed = 0

    def preflight(self):
        return [Check("mariadbd", True, "10.11.19"), Check("redis-server", True, "7.0.15"),
                Check("mongod", True, "7.0")]

    def deploy(self, engine, mode, spec):
        if engine == self.skip_engine:
            raise CellSkipped(f"fake: no {engine} here")
        dep = Deployment(id=f"{engine}-{mode}-{len(self.deployed)}", engine=engine, mode=mode, platform="local",
                         topology=Topology(2 if mode == "kubeblocks" else 1, ("zone-a",)), version="fake")
        self.deployed.append(dep.id)
        return dep

    def endpoint(self, dep):
        return Endpoint(dep.engine, dep.mode, (("127.0.0.1", 1),), password="fake-secret")

    def pods(self, dep):
        pods = [PodInfo("fake-0", "zone-a", "primary", "127.0.0.1", 1, True)]
        if dep.mode == "kubeblocks":
            pods.append(PodInfo("fake-1", "zone-b", "secondary", "127.0.0.1", 2, True))
        return pods

    # the fault primitives: recorded (what the nemesis asked for), nothing else
    def kill(self, dep, pod):
        self.injections.append(("kill", pod.name))

    def pause(self, dep, pod):
        self.injections.append(("pause", pod.name))

    def resume(self, dep, pod):
        self.injections.append(("resume", pod.name))

    def zone_down(self, dep, zone, pods):
        self.injections.append(("zone_down", zone))

    def zone_up(self, dep, zone, pods):
        self.injections.append(("zone_up", zone))

    def partition(self, dep, zone, pods):
        self.injections.append(("partition", zone))

    def heal(self, dep, zone, pods):
        self.injections.append(("heal", zone))

    def role_changes(self, dep):
        return []

    def teardown(self, dep):
        self.torn.append(dep.id)

    def close(self):
        self.closed += 1


class FakeLoad:
    def __init__(self, duration_s, on_start=None, warmup_s=0.0):
        self.history_paths = []
        self.load_start_us = now_us() + int(warmup_s * 1e6)  # the measured window starts after the warm-up
        self._end = self.load_start_us + int(duration_s * 1e6)
        if on_start:
            on_start()

    def rates(self):
        return 100.0, 0.0

    def done(self):
        return now_us() >= self._end

    def finish(self, timeout_s):
        return {"load_end_us": now_us(), "offered_ops_s": 100.0}

    def stop(self):
        pass


class FakeWorkload:
    """`fail_engine`: measure raises for it; `signal_on`: send this signal when the main load starts."""

    def __init__(self, results_path_fn=None, fail_engine=None, signal_on=None):
        self.fail_engine = fail_engine
        self.signal_on = signal_on
        self.results_path_fn = results_path_fn
        self.cells_seen_in_results = []

    def seed(self, endpoint, engine, settings):
        return None

    def start(self, endpoint, engine, mix, duration_s, settings, seed_info, out_dir, log_path, *, warmup_s=0.0):
        main = out_dir.name == "history"
        if main and self.results_path_fn:
            import json

            p = self.results_path_fn()
            self.cells_seen_in_results.append(len(json.loads(p.read_text())["cells"]) if p else None)
        sig = self.signal_on if main else None
        return FakeLoad(duration_s, on_start=(lambda: os.kill(os.getpid(), sig)) if sig else None, warmup_s=warmup_s)

    def measure(self, endpoint, engine, inp, timeline_path):
        fault = inp.fault
        if engine == self.fail_engine:
            raise RuntimeError("fake: checker exploded")
        with open(timeline_path, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["t_s", "ok", "failed", "unknown", "ok_writes", "p99_ms"])
            for s in range(3):
                w.writerow([s, 100, 0, 0, 50, 2.5])
        return {
            "ops": {"total": 300, "ok": 300, "failed": 0, "unknown": 0},
            "throughput_ops_s": {"steady": 100.0, "during_fault": None, "after_recovery": None},
            "latency_ms": {"p50": 1.0, "p95": 2.0, "p99": 2.5, "max": 3.0},
            "availability": {"write_gap_s": None if fault is None else 0.5, "rto_s": None if fault is None else 0.0,
                             "recovered": None if fault is None else True},
            "consistency": {"acked_writes": 150, "lost_writes": 0, "duplicate_seqs": 0, "seq_regressions": 0},
        }


    def read_restored(self, endpoint, engine, history_paths):
        return []

    def open_pools(self, endpoint, engine, processes, pool):
        return {"processes": processes or 1, "pool": pool or 1, "wanted": 1, "opened": 1, "refused": 0}


def latest_results(out: Path) -> Path | None:
    p = out / "latest" / "results.json"
    return p if p.exists() else None


SIGTERM = signal.SIGTERM
