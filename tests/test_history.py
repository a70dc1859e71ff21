"""The history file: invoke/complete pairs, torn tails, flat memory, acked-write extraction."""

from __future__ import annotations

import json
import resource

import pytest

from harness.history import HistoryWriter, acked_writes, iter_completions, iter_records, unfinished_invokes


def test_invoke_then_outcome_lines_carry_what_the_checker_needs(tmp_path):
    w = HistoryWriter(tmp_path / "h.jsonl")
    a = w.invoke("w0-u0", "send_message", True)
    b = w.invoke("w0-u1", "sync", False)
    lat = w.complete(a, "ok", {"stream": "si_1_2", "seq": 7, "id": "m1"})
    w.complete(b, "fail", None, "ConnectionError: Error 111 connecting to 127.0.0.1:1")
    w.close()
    recs = list(iter_records([tmp_path / "h.jsonl"]))
    assert [r["type"] for r in recs] == ["invoke", "invoke", "ok", "fail"]
    assert all(isinstance(r["t_us"], int) and isinstance(r["wall"], float) for r in recs)
    ok = recs[2]
    assert ok["inv_us"] == recs[0]["t_us"] and ok["t_us"] - ok["inv_us"] == lat >= 0
    comps = list(iter_completions([tmp_path / "h.jsonl"]))
    assert comps[0].write and comps[0].value == {"stream": "si_1_2", "seq": 7, "id": "m1"}
    assert comps[1].error.startswith("ConnectionError") and not comps[1].write
    assert [(x.stream, x.seq, x.id) for x in acked_writes([tmp_path / "h.jsonl"])] == [("si_1_2", 7, "m1")]


def test_info_and_fail_writes_are_not_acked(tmp_path):
    w = HistoryWriter(tmp_path / "h.jsonl")
    for outcome in ("info", "fail"):
        op = w.invoke("p", "send_message", True)
        w.complete(op, outcome, {"stream": "s", "seq": 1, "id": outcome}, "TimeoutError")
    w.close()
    assert list(acked_writes([tmp_path / "h.jsonl"])) == []


def test_bad_outcome_is_refused(tmp_path):
    w = HistoryWriter(tmp_path / "h.jsonl")
    op = w.invoke("p", "login", True)
    with pytest.raises(ValueError, match="outcome"):
        w.complete(op, "maybe")
    w.close()


def test_torn_last_line_of_a_killed_writer_is_skipped_and_the_op_is_unfinished(tmp_path):
    p = tmp_path / "h.jsonl"
    w = HistoryWriter(p)
    w.complete(w.invoke("p", "login", True), "ok")
    w.invoke("p", "send_message", True)
    w.close()
    with open(p, "a") as fh:
        fh.write('{"type":"ok","op":1,"p":"p","f":"send_mes')  # SIGKILL mid-write
    assert [r["type"] for r in iter_records([p])] == ["invoke", "ok", "invoke"]
    assert [r["f"] for r in unfinished_invokes([p])] == ["send_message"]


def test_malformed_line_in_the_middle_names_file_and_line(tmp_path):
    p = tmp_path / "h.jsonl"
    p.write_text('{"type":"invoke","op":0}\nnot json\n{"type":"invoke","op":1}\n')
    with pytest.raises(ValueError, match=r"h.jsonl:2"):
        list(iter_records([p]))


def test_writer_memory_stays_flat_over_many_ops(tmp_path):
    """300k ops: the writer keeps only in-flight ops, so peak RSS barely moves after warm-up."""
    w = HistoryWriter(tmp_path / "h.jsonl")

    def burst(n: int) -> None:
        for i in range(n):
            op = w.invoke("w0-u0", "send_message", True)
            w.complete(op, "ok", {"stream": "si_a_b", "seq": i, "id": f"m{i}"})

    burst(50_000)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    burst(300_000)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    w.close()
    assert w.open_ops == 0
    assert after - before < 10_000, f"peak RSS grew by {after - before} KiB while writing 300k ops"
    last = json.loads((tmp_path / "h.jsonl").read_text().splitlines()[-1])
    assert last["value"]["seq"] == 299_999
