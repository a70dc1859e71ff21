"""The generator's evidence and what follows from it, on synthetic histories and results with
known answers (no servers): lag, stalls, delivered rate, `invalid` cells in results, report,
compare and verdict wording."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from harness.checker import FaultWindow, ValidityLimits, check, longest_stall
from harness.compare import compare, load_thresholds, render_table
from harness.report import emulation_note
from harness.report import tables as T
from harness.results import cell_record, new_results, validate

S = 1_000_000
T0 = 1_000 * S
RATE = 100.0  # ops/s offered in these histories


def scheduled_history(path: Path, seconds: float, *, stall: tuple[float, float] | None = None,
                      fail_from: tuple[float, float] | None = None) -> Path:
    """One op due every 10 ms (100 ops/s), 1 ms service time. `stall` (from_s, to_s): nothing is
    invoked in between, the due ops start late at `to_s` (a blocked generator). `fail_from`
    (from_s, to_s): ops are invoked on time but fail (a database outage)."""
    lines = []
    for i in range(int(seconds * RATE)):
        due = T0 + i * 10_000
        inv = due
        if stall and stall[0] * S <= due - T0 < stall[1] * S:
            inv = T0 + int(stall[1] * S) + i  # released all at once, in order
        outcome = "fail" if fail_from and fail_from[0] * S <= due - T0 < fail_from[1] * S else "ok"
        p = f"u{i % 50}"
        lines.append({"type": "invoke", "op": i, "p": p, "f": "send_message", "w": 1, "t_us": inv, "wall": 0.0})
        rec = {"type": outcome, "op": i, "p": p, "f": "send_message", "w": 1, "t_us": inv + 1000, "wall": 0.0,
               "inv_us": inv, "due_us": due, "lag_us": inv - due}
        if outcome == "ok":
            rec["value"] = {"stream": "si_1_2", "seq": i + 1, "id": f"m{i}"}
        lines.append(rec)
    path.write_text("".join(json.dumps(r) + "\n" for r in lines))
    return path


def measure(path: Path, fault_at_s: float | None = None, hub: list[Path] = ()):
    fault = FaultWindow.of("pod-kill", T0 + int(fault_at_s * S)) if fault_at_s is not None else None
    return check([path], load_start_us=T0, load_end_us=T0 + 10 * S, fault=fault, readback=None,
                 offered_ops_s=RATE, hub_paths=hub, limits=ValidityLimits())


def test_a_generator_that_kept_its_schedule_is_valid(tmp_path):
    m = measure(scheduled_history(tmp_path / "h.jsonl", 10))
    g = m.generator
    assert g.valid and g.reasons == ()
    assert g.delivered_ops_s["steady"] == pytest.approx(100.0) and g.delivered_fraction["steady"] == pytest.approx(1.0)
    assert g.schedule_lag_ms == {"p50": 0.0, "p99": 0.0, "max": 0.0}
    assert g.longest_stall_s < 0.02 and g.scheduled_ops == 1000
    assert m.response_time_ms["p99"] == pytest.approx(1.0, rel=1e-2)


def test_a_stall_is_named_as_the_generator_never_as_an_outage(tmp_path):
    """3 s with nothing invoked while ops were due, right after the fault: invalid, and the reason
    says the load invoked nothing (the ops are late, not failed)."""
    m = measure(scheduled_history(tmp_path / "h.jsonl", 10, stall=(5.0, 8.0)), fault_at_s=4.0)
    g = m.generator
    assert not g.valid
    assert g.longest_stall_s == pytest.approx(3.0, abs=0.02) and g.longest_stall_at_s == pytest.approx(5.0, abs=0.02)
    assert g.schedule_lag_ms["max"] == pytest.approx(3000, abs=20)
    assert any("invoked nothing for 3.0" in r and "not a database outage" in r for r in g.reasons), g.reasons
    assert any("schedule lag p99" in r for r in g.reasons), g.reasons
    # the response time from the schedule carries the 3 s; the service time does not
    assert m.response_time_ms["max"] > 2900 and m.latency_ms["max"] < 5


def test_a_database_outage_is_not_a_generator_problem(tmp_path):
    """Ops invoked on time and failing for 3 s: the generator is valid, the outage is the database's."""
    m = measure(scheduled_history(tmp_path / "h.jsonl", 10, fail_from=(5.0, 8.0)), fault_at_s=4.9)
    assert m.generator.valid, m.generator.reasons
    assert m.rto_s == pytest.approx(3.1, abs=0.05) and m.recovered is True


def test_a_short_steady_rate_and_a_hub_block_are_reasons(tmp_path):
    path = scheduled_history(tmp_path / "h.jsonl", 10)
    half = [ln for i, ln in enumerate(path.read_text().splitlines()) if (i // 2) % 2 == 0]  # every other op
    path.write_text("\n".join(half) + "\n")
    hub = tmp_path / "hub-w0.json"
    hub.write_text(json.dumps({"report_s": 0.1, "stalls": [[T0 + 4 * S, 800_000], [T0 - 5 * S, 2 * S]],
                               "blocked": [{"t_us": T0 + 4 * S, "stack": "x"}]}))
    g = measure(path, hub=[hub]).generator
    assert not g.valid
    assert any("delivered 50.0 of the 100 ops/s offered" in r for r in g.reasons), g.reasons
    # the 2 s block before the window (users connecting) does not count; the 0.8 s one inside does
    assert g.hub.max_block_s == pytest.approx(0.8) and g.hub.blocks == 1 and g.hub.stacks == 1
    assert any("event loop was blocked for 0.80 s" in r for r in g.reasons), g.reasons


def test_longest_stall_only_counts_time_when_an_op_was_ready():
    # two ops: ready at 0 and 5 s, invoked at 0 and 5 s: nothing was ready in between
    assert longest_stall([0, 5 * S], [0, 5 * S], 0, 10 * S)[0] == 0.0
    # the second was ready at 1 s but invoked at 5 s: a 4 s stall from 1 s
    assert longest_stall([0, 5 * S], [0, 1 * S], 0, 10 * S) == (4.0, 1 * S)


# -- results, report, compare ------------------------------------------------------------------
def invalid_cell(ok_cell: dict) -> dict:
    c = copy.deepcopy(ok_cell)
    c["status"] = "invalid"
    c["reason"] = "the harness could not measure this cell: the load invoked nothing for 3.00 s"
    c["generator"]["valid"] = False
    return c


def ok_cell(mode: str, p99: float = 2.0, scenario: str = "steady", repeat: int = 0, engine: str = "mysql") -> dict:
    gen = {"valid": True, "reasons": [], "offered_ops_s": 200.0, "delivered_ops_s": {"steady": 199.9},
           "delivered_fraction": {"steady": 0.9995}, "schedule_lag_ms": {"p50": 0.7, "p99": 3.0, "max": 9.0},
           "longest_stall_s": 0.01, "hub_block_s": 0.0}
    return cell_record(scenario=scenario, engine=engine, mode=mode, status="ok", repeat=repeat,
                       topology={"replicas": 1, "zones": ["zone-a"]},
                       measures={"ops": {"total": 1, "ok": 1, "failed": 0, "unknown": 0},
                                 "throughput_ops_s": {"steady": 199.9, "during_fault": None, "after_recovery": None},
                                 "latency_ms": {"p50": 1.0, "p95": 1.5, "p99": p99, "max": 9.0},
                                 "availability": {"write_gap_s": None, "rto_s": None, "recovered": None},
                                 "consistency": {"acked_writes": 1, "lost_writes": 0, "duplicate_seqs": 0,
                                                 "seq_regressions": 0},
                                 "generator": gen})


def results(cells: list[dict]) -> dict:
    run = {"id": "r", "platform": "local", "profile": "quick", "seed": 1, "started_at": "2026-12-01T00:00:00",
           "finished_at": None, "harness_version": "0", "git_sha": None, "host": {"cpus": 2, "memory_gb": 1},
           "software": dict.fromkeys(("mariadb", "redis", "mongodb", "kubeblocks", "kubernetes", "kind"))}
    return {**new_results(run), "cells": cells}


def test_invalid_is_a_status_of_the_schema_and_needs_a_reason():
    doc = results([invalid_cell(ok_cell("kubeblocks"))])
    validate(doc)
    doc["cells"][0]["reason"] = None
    with pytest.raises(Exception, match="reason"):
        validate(doc)


def test_no_verdict_is_drawn_from_an_invalid_cell_and_it_is_listed_first():
    res = results([invalid_cell(ok_cell("kubeblocks")), ok_cell("statefulset")])
    rows = {r[0]: r for r in T.verdict_rows(res, "mysql")}
    assert rows["steady latency p50 / p99"][1] == "– / –"
    assert rows["steady: offered rate delivered"][3] == "–"
    assert T.invalid_rows(res) == [("steady", "mysql", "kubeblocks", "the load invoked nothing for 3.00 s")]
    assert T.not_ok_rows(res) == []  # listed as invalid, not as skipped/failed
    assert T.generator_rows(res)[0][-1] == "**no**"


def test_verdicts_say_single_run_and_test_repeats():
    res = results([ok_cell("kubeblocks", p99=10.7), ok_cell("statefulset", p99=2.0)])
    rows = {r[0]: r for r in T.verdict_rows(res, "mysql")}
    assert rows["steady latency p50 / p99"][3].startswith("single run, no significance test: kubeblocks +435 %")
    assert rows["steady: offered rate delivered"][1].startswith("yes: 199.9 of 200 ops/s offered")
    assert "throughput" not in " ".join(r[0] for r in rows.values() if "better" in r[3])
    kb = [ok_cell("kubeblocks", p99=v, repeat=i) for i, v in enumerate((10.0, 11.0, 12.0, 10.5))]
    sts = [ok_cell("statefulset", p99=v, repeat=i) for i, v in enumerate((2.0, 2.1, 1.9, 2.2))]
    rows = {r[0]: r for r in T.verdict_rows(results(kb + sts), "mysql")}
    assert "Mann-Whitney p = 0.029" in rows["steady latency p50 / p99"][3]
    assert rows["steady latency p50 / p99"][1].startswith("1.00 ms [1.00–1.00] (n=4) / 10.75 ms [10.00–12.00]")
    same = [ok_cell("statefulset", p99=v, repeat=i) for i, v in enumerate((10.2, 11.5, 10.9, 11.9))]
    rows = {r[0]: r for r in T.verdict_rows(results(kb + same), "mysql")}
    assert rows["steady latency p50 / p99"][3].startswith("no significant difference")


def test_compare_treats_an_invalid_cell_as_not_comparable():
    base = results([ok_cell("kubeblocks")])
    cur = results([invalid_cell(ok_cell("kubeblocks"))])
    cmp = compare(base, cur, load_thresholds(None))
    assert not cmp.regressed
    text = render_table(cmp)
    assert "not comparable: current invalid (the harness could not measure this cell" in text


def test_the_emulation_note_says_the_settings_the_run_used():
    note = emulation_note({"sentinel_down_after_ms": 1500, "role_probe_period_s": 0.3})
    assert "down-after 1500 ms" in note and "every 0.3 s" in note and "20000" not in note
    assert "down-after 20000 ms" in emulation_note({})
