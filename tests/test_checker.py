"""The checker's arithmetic on synthetic histories with known answers (no servers needed)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from harness.checker import FaultWindow, check, write_timeline
from harness.workload.readback import LostWrite, ReadBackResult

S = 1_000_000  # µs
T0 = 1_000 * S  # load start on the monotonic clock


def write_hist(path: Path, ops: list[tuple]) -> Path:
    """ops: (f, write, invoke_us, complete_us | None, outcome, value)."""
    with open(path, "w") as fh:
        for i, (f, w, inv, comp, outcome, value) in enumerate(ops):
            fh.write(json.dumps({"type": "invoke", "op": i, "p": "p0", "f": f, "w": int(w), "t_us": inv, "wall": 0.0}) + "\n")
            if comp is not None:
                rec = {"type": outcome, "op": i, "p": "p0", "f": f, "w": int(w), "t_us": comp, "wall": 0.0, "inv_us": inv}
                if value:
                    rec["value"] = value
                fh.write(json.dumps(rec) + "\n")
    return path


def msg(seq: int, mid: str, stream: str = "si_1_2") -> dict:
    return {"stream": stream, "seq": seq, "id": mid}


def steady_writes(start_s: float, end_s: float, every_s: float = 0.1, lat_us: int = 1000, skip=None):
    ops, seq = [], 0
    for k in range(round((end_s - start_s) / every_s)):
        t_us = round((start_s + k * every_s) * S)
        if not (skip and skip[0] * S <= t_us < skip[1] * S):
            seq += 1
            ops.append(("send_message", True, T0 + t_us, T0 + t_us + lat_us, "ok", msg(seq, f"m{seq}")))
    return ops


def test_counts_throughput_and_exact_latency_without_fault(tmp_path):
    ops = [("sync", False, T0 + i * 10_000, T0 + i * 10_000 + (i + 1) * 1000, "ok", None) for i in range(100)]
    ops += [("sync", False, T0 + 5 * S, T0 + 5 * S + 1000, "fail", None)]
    ops += [("send_message", True, T0 + 6 * S, T0 + 6 * S + 1000, "info", msg(1, "x"))]
    p = write_hist(tmp_path / "h.jsonl", ops)
    m = check([p], load_start_us=T0, load_end_us=T0 + 10 * S, fault=None, readback=None)
    assert m.ops == {"total": 102, "ok": 100, "failed": 1, "unknown": 1}
    assert m.throughput_ops_s == {"steady": 10.0, "during_fault": None, "after_recovery": None}
    # latencies are exactly 1..100 ms; HDR with 3 significant digits is within 0.1 %
    assert m.latency_ms["p50"] == pytest.approx(50, rel=1e-3)
    assert m.latency_ms["p99"] == pytest.approx(99, rel=1e-3)
    assert m.latency_ms["max"] == pytest.approx(100, rel=1e-3)
    assert m.write_gap_s is None and m.rto_s is None and m.recovered is None
    assert m.lost_writes is None and "no read-back" in m.notes[0]
    assert m.acked_writes == 0  # the only write was `info`


def test_outage_gives_gap_rto_and_windows(tmp_path):
    ops = steady_writes(0, 10, skip=(4.0, 6.5))  # last ack before: 3.9 s (+1 ms); next: 6.5 s (+1 ms)
    p = write_hist(tmp_path / "h.jsonl", ops)
    inj = T0 + int(4.05 * S)
    m = check([p], load_start_us=T0, load_end_us=T0 + 10 * S, fault=FaultWindow.of("pod-kill", inj), readback=None)
    assert m.write_gap_s == pytest.approx(6.501 - 4.05, abs=1e-6)
    assert m.rto_s == pytest.approx(6.501 - 4.05, abs=1e-6)
    assert m.recovered is True
    assert (m.gap_start_us, m.gap_end_us) == (inj, T0 + int(6.5 * S) + 1000)
    assert m.throughput_ops_s["steady"] == pytest.approx(40 / 4.05, abs=1e-3)
    assert m.throughput_ops_s["during_fault"] == 0.0  # the ack that ends the gap opens after_recovery
    assert m.throughput_ops_s["after_recovery"] == pytest.approx(35 / 3.499, abs=1e-3)


def test_writes_that_never_resume_are_not_recovered(tmp_path):
    p = write_hist(tmp_path / "h.jsonl", steady_writes(0, 5))
    m = check([p], load_start_us=T0, load_end_us=T0 + 10 * S, fault=FaultWindow.of("zone-outage", T0 + 5 * S),
              readback=None)
    assert m.recovered is False and m.rto_s is None
    assert m.write_gap_s == pytest.approx(5.0, abs=1e-3)
    assert m.throughput_ops_s["after_recovery"] is None


def test_no_outage_means_rto_zero(tmp_path):
    p = write_hist(tmp_path / "h.jsonl", steady_writes(0, 10))
    m = check([p], load_start_us=T0, load_end_us=T0 + 10 * S, fault=FaultWindow.of("pod-freeze", T0 + 5 * S, T0 + 7 * S),
              readback=None)
    assert m.rto_s == 0.0 and m.recovered is True
    assert m.write_gap_s < 0.2
    assert m.throughput_ops_s["during_fault"] == pytest.approx(10.0, rel=0.06)  # recovery time from the nemesis


def test_duplicates_and_regressions_in_real_time_order(tmp_path):
    ops = [("send_message", True, T0 + i * S, T0 + i * S + 1000, "ok", msg(i + 1, f"a{i + 1}")) for i in range(5)]
    # after everything above completed: seqs 3 and 4 handed out again, then 6
    ops += [("send_message", True, T0 + (10 + i) * S, T0 + (10 + i) * S + 1000, "ok", msg(s, f"b{s}"))
            for i, s in enumerate((3, 4, 6))]
    # two concurrent ops finishing out of seq order: not a regression
    ops += [("send_message", True, T0 + 20 * S, T0 + 20 * S + 5000, "ok", msg(8, "c8")),
            ("send_message", True, T0 + 20 * S + 10, T0 + 20 * S + 2000, "ok", msg(7, "c7"))]
    p = write_hist(tmp_path / "h.jsonl", ops)
    m = check([p], load_start_us=T0, load_end_us=T0 + 30 * S, fault=None, readback=None)
    assert m.duplicate_seqs == 2
    assert sorted((d.seq, d.ids) for d in m.duplicates) == [(3, ("a3", "b3")), (4, ("a4", "b4"))]
    assert m.seq_regressions == 2
    assert sorted((r.seq, r.prior_max_seq) for r in m.regressions) == [(3, 5), (4, 5)]


def test_streams_are_independent(tmp_path):
    ops = [("send_message", True, T0 + i * S, T0 + i * S + 1, "ok", msg(1, f"m{i}", stream=f"s{i}")) for i in range(5)]
    m = check([write_hist(tmp_path / "h.jsonl", ops)], load_start_us=T0, load_end_us=T0 + 9 * S, fault=None, readback=None)
    assert m.duplicate_seqs == 0 and m.seq_regressions == 0 and m.acked_writes == 5


def test_unfinished_ops_count_as_unknown_and_readback_is_reported(tmp_path):
    ops = steady_writes(0, 1) + [("send_message", True, T0 + S, None, "", None)]
    rb = ReadBackResult(engine="redis", checked=10, found=8, lost_count=2,
                        lost=[LostWrite("si_1_2", "m3", 3, 0, "missing"), LostWrite("si_1_2", "m4", 4, 0, "missing")])
    m = check([write_hist(tmp_path / "h.jsonl", ops)], load_start_us=T0, load_end_us=T0 + 2 * S, fault=None, readback=rb)
    assert m.ops["unknown"] == 1 and m.ops["total"] == 11
    assert m.lost_writes == 2 and [x.id for x in m.lost] == ["m3", "m4"]
    assert not m.valid
    res = m.to_results()
    assert res["consistency"] == {"acked_writes": 10, "lost_writes": 2, "duplicate_seqs": 0, "seq_regressions": 0}


def test_histories_of_several_workers_are_read_together(tmp_path):
    a = write_hist(tmp_path / "a.jsonl", steady_writes(0, 2))
    b = write_hist(tmp_path / "b.jsonl", [("login", True, T0 + 1, T0 + 2, "ok", None)])
    m = check([a, b], load_start_us=T0, load_end_us=T0 + 2 * S, fault=None, readback=None)
    assert m.ops["ok"] == 21 and m.by_op["login"] == {"total": 1, "ok": 1}


def test_timeline_has_a_row_per_second_including_silent_ones(tmp_path):
    ops = steady_writes(0, 10, skip=(3.0, 6.0))
    ops.append(("sync", False, T0 + int(7.2 * S), T0 + int(7.3 * S), "fail", None))
    m = check([write_hist(tmp_path / "h.jsonl", ops)], load_start_us=T0, load_end_us=T0 + 10 * S, fault=None,
              readback=None)
    out = tmp_path / "timeline.csv"
    write_timeline(m, out)
    rows = list(csv.DictReader(out.open()))
    assert [int(r["t_s"]) for r in rows] == list(range(10))
    assert [int(r["ok"]) for r in rows] == [10, 10, 10, 0, 0, 0, 10, 10, 10, 10]
    assert rows[7]["failed"] == "1" and rows[4]["p99_ms"] == ""
    assert float(rows[0]["p99_ms"]) == pytest.approx(1.0)
