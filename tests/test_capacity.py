"""The capacity search: which step ends it and why (pure), and the whole search through the run loop
against a planted slow server (a real Redis behind a proxy with a known throughput ceiling)."""

from __future__ import annotations

import bisect
import io
import json
from dataclasses import replace

import pytest

from harness.capacity import CapacityLimits, conclude, judge_step, step_rates

LIMITS = CapacityLimits(slo_p99_ms=50, max_error_fraction=0.01, min_delivered=0.95)


def _measures(*, p99=5.0, total=1000, failed=0, valid=True, reasons=(), delivered=100.0, frac=1.0):
    return {"ops": {"total": total, "ok": total - failed, "failed": failed, "unknown": 0},
            "response_time_ms": {"p50": 1.0, "p99": p99}, "latency_steady_ms": {"p99": p99 / 2},
            "generator": {"valid": valid, "reasons": list(reasons), "delivered_ops_s": {"steady": delivered},
                          "delivered_fraction": {"steady": frac}}}


LOAD = {"cpu_s": 2.0, "worker_wall_s": 10.0, "worker_cpu_max": 0.2}


def test_step_rates_double_up_to_the_maximum():
    assert step_rates(100, 2, 6400) == [100, 200, 400, 800, 1600, 3200, 6400]
    assert step_rates(100, 2, 799) == [100, 200, 400]


def test_each_bound_and_the_generator_first():
    ok = judge_step(100, _measures(), LOAD, LIMITS, cpus=2)
    assert ok.sustained and ok.generator_cpu_share == 0.1 and ok.busiest_worker_cpu == 0.2
    assert judge_step(100, _measures(p99=80), LOAD, LIMITS, 2).bound == "slo"
    assert judge_step(100, _measures(failed=20), LOAD, LIMITS, 2).bound == "errors"
    refused = dict(_measures(failed=900), verdict={"checkers": {"ops": {"top_errors": [
        {"error": "NotApplied: OperationalError: (1040, 'Too many connections')", "count": 900}]}}})
    assert judge_step(100, refused, LOAD, LIMITS, 2).why.endswith("commonest: NotApplied: OperationalError: "
                                                                  "(1040, 'Too many connections') (900)")
    short = _measures(valid=False, reasons=["the load delivered 90.0 of the 100 ops/s offered"], delivered=90, frac=0.9)
    assert judge_step(100, short, LOAD, LIMITS, 2).bound == "saturated"
    # the generator's own flag wins over a latency finding at the same step
    late = _measures(p99=500, valid=False, reasons=["ops started late: schedule lag p99 700 ms"])
    assert judge_step(100, late, LOAD, LIMITS, 2).bound == "generator"
    # a worker at a full core owns the shortfall and the latency, even with no flag of its own
    busy = dict(LOAD, worker_cpu_max=0.97)
    assert judge_step(100, short, busy, LIMITS, 2).bound == "generator"
    assert judge_step(100, _measures(p99=80), busy, LIMITS, 2).bound == "generator"
    assert judge_step(100, _measures(), busy, LIMITS, 2).sustained  # busy but within every limit


def test_conclusions_say_whose_ceiling():
    good = judge_step(100, _measures(), LOAD, LIMITS, 2)
    gen = judge_step(200, _measures(valid=False, reasons=["ops started late: lag"]), LOAD, LIMITS, 2)
    r = conclude([good, replace(gen, offered_ops_s=200)], [100, 200, 400])
    assert r.generator_bound and r.max_sustained_ops_s == 100 and r.bound_at_ops_s == 200
    assert r.summary.startswith("generator-bound at 200 ops/s") and "at least 100" in r.summary
    r = conclude([gen], [100])
    assert r.max_sustained_ops_s is None and "no database number" in r.summary
    slo = judge_step(400, _measures(p99=90), LOAD, LIMITS, 2)
    assert conclude([good, slo], [100, 400]).summary.startswith("100 ops/s sustained; 400 ops/s was not")
    assert conclude([good], [100]).bound == "max-rate"


@pytest.mark.server
def test_the_search_stops_where_a_planted_slow_server_saturates(tmp_path, monkeypatch):
    """Every step whose reply rate stays under 70 % of the proxy's ceiling is sustained, and the search
    stops at the first step over 120 % of it, whatever the ops' replies per op turn out to be."""
    from _helpers import recording_platform_factory
    from slow_proxy import SlowProxy

    from harness.config import build_settings
    from harness.procs import is_alive
    from harness.results import read_results
    from harness.runloop import RunRequest, execute

    monkeypatch.setenv("HARNESS_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("HARNESS_WORK_DIR", str(tmp_path / "work"))
    service_s = 0.001  # a ceiling of 1000 replies/s
    started: list = []
    proxies: list[SlowProxy] = []
    make = recording_platform_factory(started)

    def factory(name, run):
        platform = make(name, run)
        real_endpoint = platform.endpoint

        def endpoint(dep):
            ep = real_endpoint(dep)
            if not proxies:
                proxies.append(SlowProxy(ep.addresses[0], service_s).__enter__())
            return replace(ep, addresses=(proxies[0].address,))

        platform.endpoint = endpoint
        return platform

    settings = build_settings("quick", overrides={
        "capacity": {"start_ops_s": 100, "factor": 2, "max_ops_s": 1600},
        "timings": {"capacity": {"warmup_s": 2, "before_fault_s": 6}}})
    req = RunRequest(scenarios=["capacity"], platform="local", engines=["redis"], modes=["statefulset"],
                     settings=settings, out=tmp_path / "out", render_report=False)
    out = io.StringIO()
    try:
        code = execute(req, stream=out, platform_factory=factory)
    finally:
        for p in proxies:
            p.__exit__(None, None, None)
    assert code == 0, out.getvalue()
    assert not [n for p, t, n in started if is_alive(p, t)]
    (cell,) = read_results(tmp_path / "out" / "latest")["cells"]
    cap = cell["capacity"]
    steps = cap["steps"]
    assert steps and not steps[-1]["sustained"] and all(s["sustained"] for s in steps[:-1])
    replies = sorted(proxies[0].reply_times_us)

    run_dir = tmp_path / "out" / "latest"

    def replies_per_op(i: int) -> float:
        """The proxy's replies inside step i's measured window per op the history records there."""
        hist = sorted((run_dir / "cells" / "capacity-redis-statefulset" / "steps").glob(f"{i:02d}-*/history/history-*.jsonl"))
        recs = [json.loads(line) for h in hist for line in h.read_text().splitlines() if line.strip()]
        done = [r for r in recs if r["type"] != "invoke"]
        t0, t1 = min(r["inv_us"] for r in done), max(r["t_us"] for r in done)
        return (bisect.bisect(replies, t1) - bisect.bisect(replies, t0)) / len(done)

    rpo = replies_per_op(0)  # the first step is far below the ceiling: every op's replies got through
    assert rpo >= 1
    for s in steps:
        s["load"] = round(s["offered_ops_s"] * rpo * service_s, 2)  # the offered share of the ceiling
        if s["load"] < 0.7:
            assert s["sustained"], (s, steps)
        if s["load"] > 1.2:
            assert not s["sustained"] and s["bound"] in ("slo", "saturated"), (s, steps)
    assert steps[-1]["load"] > 0.9, steps  # it stopped because the server saturated, not before
    assert cap["max_sustained_ops_s"] == steps[-2]["offered_ops_s"] if len(steps) > 1 else None
    assert cap["max_sustained_ops_s"] < 800  # the same Redis unproxied sustains 800 ops/s here
