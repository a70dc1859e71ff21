"""Each small checker on a tiny synthetic history with a known answer, their composition into the
verdict, and the verdict's way into results.json (no servers)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_checker import T0, S, msg, steady_writes, write_hist

from harness.checker import CheckInput, FaultWindow, HistoryChecker, ValidityLimits, Verdict, check, stream
from harness.checker.availability import AvailabilityChecker
from harness.checker.generator import GeneratorChecker
from harness.checker.latency import LatencyChecker
from harness.checker.lost import LostChecker
from harness.checker.ops import OpsChecker
from harness.checker.order import OrderChecker
from harness.results import cell_record, validate
from harness.workload.readback import LostWrite, ReadBackResult


def run(path: Path, *checkers):
    stream([path], checkers)
    return [c.result() for c in checkers]


def test_ops_counts_every_outcome_and_never_completed_ops(tmp_path):
    ops = [("sync", False, T0, T0 + 10, "ok", None), ("sync", False, T0 + 1, T0 + 11, "fail", None),
           ("login", True, T0 + 2, T0 + 12, "info", None), ("login", True, T0 + 3, None, "", None)]
    (r,) = run(write_hist(tmp_path / "h.jsonl", ops), OpsChecker())
    assert r.counts == {"total": 4, "ok": 1, "failed": 1, "unknown": 2} and r.never_completed == 1
    assert r.by_op == {"sync": {"total": 2, "ok": 1, "fail": 1}, "login": {"total": 2, "info": 1}}
    assert r.valid and "1 ops were invoked but never completed" in r.notes[0]
    assert r.to_results()["never_completed"] == 1


def test_latency_summarises_ok_ops_and_the_steady_window_only_before_it_ends(tmp_path):
    ops = [("sync", False, T0 + i * S, T0 + i * S + (i + 1) * 1000, "ok", None) for i in range(4)]
    ops.append(("sync", False, T0, T0 + 500_000, "fail", None))  # a failed op has no latency
    (r,) = run(write_hist(tmp_path / "h.jsonl", ops), LatencyChecker(steady_end_us=T0 + 2 * S))
    assert r.latency_ms["max"] == pytest.approx(4, rel=1e-3) and r.latency_ms["p50"] == pytest.approx(2, rel=1e-3)
    assert r.latency_steady_ms["max"] == pytest.approx(2, rel=1e-3)  # ops 0 and 1 completed before 2 s
    assert r.response_time_ms["max"] == 0.0  # no op had a schedule slot
    assert r.valid


def test_availability_is_invalid_only_when_writes_never_resume(tmp_path):
    p = write_hist(tmp_path / "h.jsonl", steady_writes(0, 10, skip=(4.0, 7.0)))
    kw = {"load_start_us": T0, "load_end_us": T0 + 10 * S, "gap_floor_s": 1.0}
    (r,) = run(p, AvailabilityChecker(fault=FaultWindow.of("pod-kill", T0 + 4 * S), **kw))
    assert r.valid and r.recovered and r.rto_s == pytest.approx(3.001, abs=1e-6) and r.anomalies == ()
    assert r.windows["after_recovery"] == (T0 + int(3.001 * S) + 4 * S, T0 + 10 * S)
    p = write_hist(tmp_path / "g.jsonl", steady_writes(0, 4))
    (r,) = run(p, AvailabilityChecker(fault=FaultWindow.of("zone-outage", T0 + 4 * S), **kw))
    assert not r.valid and r.recovered is False and r.anomalies == ("not_recovered",)
    assert "did not resume" in r.reasons[0] and r.to_results()["valid"] is False


def test_lost_counts_acked_stream_writes_and_judges_the_read_back(tmp_path):
    ops = steady_writes(0, 1) + [("login", True, T0, T0 + 5, "ok", None),  # names no stream: not checked
                                 ("send_message", True, T0, T0 + 5, "fail", msg(99, "f"))]  # not acknowledged
    p = write_hist(tmp_path / "h.jsonl", ops)
    (r,) = run(p, LostChecker(None))
    assert r.acked_writes == 10 and r.lost_writes is None and r.valid
    assert r.notes == ["no read-back: lost_writes unknown"]
    rb = ReadBackResult(engine="redis", checked=10, found=9, lost_count=1, lost=[LostWrite("si_1_2", "m3", 3, 0, "missing")])
    (r,) = run(p, LostChecker(rb))
    assert not r.valid and r.lost_writes == 1 and r.anomalies == ("lost_writes",) and r.notes == []
    assert r.to_results() == {"valid": False, "reasons": ["1 of 10 acknowledged writes were missing in the final read-back"],
                              "acked_writes": 10, "checked": 10, "lost_writes": 1}


def test_order_finds_duplicates_and_real_time_regressions(tmp_path):
    ops = [("send_message", True, T0 + i * S, T0 + i * S + 10, "ok", msg(i + 1, f"a{i}")) for i in range(3)]
    ops.append(("send_message", True, T0 + 5 * S, T0 + 5 * S + 10, "ok", msg(2, "b")))  # seq 2 again, after 3
    (r,) = run(write_hist(tmp_path / "h.jsonl", ops), OrderChecker())
    assert (r.duplicate_seqs, r.seq_regressions, r.streams) == (1, 1, 1)
    assert not r.valid and r.anomalies == ("duplicate_seqs", "seq_regressions") and len(r.reasons) == 2
    (r,) = run(write_hist(tmp_path / "g.jsonl", ops[:3]), OrderChecker())
    assert r.valid and r.anomalies == () and r.reasons == ()


def test_generator_is_judged_over_the_availability_windows(tmp_path):
    lines = []
    for i in range(100):  # 10 ops/s due, the first 5 s invoked on time, then none (the generator stopped)
        if i >= 50:
            break
        due = T0 + i * 100_000
        lines += [{"type": "invoke", "op": i, "p": "u", "f": "sync", "w": 0, "t_us": due, "wall": 0.0},
                  {"type": "ok", "op": i, "p": "u", "f": "sync", "w": 0, "t_us": due + 10, "wall": 0.0, "inv_us": due,
                   "due_us": due, "lag_us": 0}]
    p = tmp_path / "h.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in lines))
    gen = GeneratorChecker(load_start_us=T0, load_end_us=T0 + 10 * S, offered_ops_s=10.0, hub_paths=(),
                           start_late_us=0, limits=ValidityLimits(), worker_cpu=None)
    stream([p], [gen])
    full = gen.result({"steady": (T0, T0 + 10 * S), "during_fault": (0, 0), "after_recovery": (0, 0)})
    assert not full.valid and full.delivered_fraction["steady"] == pytest.approx(0.5)
    first = gen.result({"steady": (T0, T0 + 5 * S), "during_fault": (0, 0), "after_recovery": (0, 0)})
    assert first.delivered_fraction["steady"] == pytest.approx(1.0)  # the steady window decides the rate


def test_the_verdict_is_valid_only_when_every_checker_is(tmp_path):
    p = write_hist(tmp_path / "h.jsonl", steady_writes(0, 2))
    m = check([p], load_start_us=T0, load_end_us=T0 + 2 * S, fault=None, readback=None)
    assert isinstance(m.verdict, Verdict) and m.verdict.valid and m.valid
    assert list(m.verdict.results) == ["ops", "latency", "availability", "lost", "order", "generator"]
    rb = ReadBackResult(engine="redis", checked=20, found=19, lost_count=1)
    bad = check([p], load_start_us=T0, load_end_us=T0 + 2 * S, fault=None, readback=rb)
    assert not bad.verdict.valid and bad.verdict.anomaly_types == ("lost_writes",)
    assert bad.verdict.reasons == ("lost: 1 of 20 acknowledged writes were missing in the final read-back",)
    v = bad.to_results()["verdict"]
    assert v["valid"] is False and v["checkers"]["lost"]["valid"] is False and v["checkers"]["order"]["valid"] is True


def test_the_checker_seam_takes_one_input_and_the_cell_record_keeps_the_verdict(tmp_path):
    p = write_hist(tmp_path / "h.jsonl", steady_writes(0, 2))
    inp = CheckInput(history_paths=(p,), load_start_us=T0, load_end_us=T0 + 2 * S, offered_ops_s=1000.0)
    out = HistoryChecker().check(inp).to_results()
    rec = cell_record(scenario="steady", engine="redis", mode="statefulset", status="ok",
                      topology={"replicas": 1, "zones": ["zone-a"]}, measures=out)
    assert rec["verdict"] == out["verdict"] and rec["verdict"]["checkers"]["generator"]["valid"] is False
    validate({"schema": "openim-kb-poc/results/v1", "run": _run(), "cells": [rec]})
    rec["verdict"]["checkers"]["lost"].pop("valid")
    with pytest.raises(Exception, match="valid"):
        validate({"schema": "openim-kb-poc/results/v1", "run": _run(), "cells": [rec]})


def _run() -> dict:
    return {"id": "r", "platform": "local", "profile": "quick", "seed": 1, "started_at": "2026-12-01T00:00:00",
            "finished_at": None, "harness_version": "0", "git_sha": None, "host": {"cpus": 2, "memory_gb": 1},
            "software": dict.fromkeys(("mariadb", "redis", "mongodb", "kubeblocks", "kubernetes", "kind"))}
