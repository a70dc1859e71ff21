"""The typed results model (harness.results_model) that the report, compare and the notebook read:
a real run's results.json parses into it with every value the report shows intact, and files from
before a block existed (or with keys it does not know) still read."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from harness.compare import compare, load_thresholds, render_table
from harness.errors import HarnessError
from harness.report import tables as T
from harness.results import read_results, write_results
from harness.results_model import Cell, Results, as_cell, as_results, load_results
from harness.verdict_record import verdict_of

MEASURE_BLOCKS = ("ops", "throughput_ops_s", "latency_ms", "availability", "consistency")
NEWER_KEYS = ("verdict", "generator", "latency_steady_ms", "response_time_ms", "role_changes", "load",
              "service_endpoints", "timings")


@pytest.fixture(scope="module")
def raw(real_run_dir: Path) -> dict:
    return read_results(real_run_dir)


@pytest.fixture(scope="module")
def model(real_run_dir: Path) -> Results:
    return load_results(real_run_dir)


def old_format(doc: dict) -> dict:
    """The document as a results.json from before the verdict, the generator evidence and the client
    libraries were recorded."""
    d = copy.deepcopy(doc)
    for c in d["cells"]:
        for k in NEWER_KEYS:
            c.pop(k, None)
    for k in ("status", "platform_reason", "emulation"):
        d["run"].pop(k, None)
    return d


def test_a_real_run_round_trips_every_value_the_report_reads(raw, model):
    assert model.run.id == raw["run"]["id"] and model.run.platform == "local"
    assert model.run.software == raw["run"]["software"] and list(model.run.software) == list(raw["run"]["software"])
    assert model.run.host.cpus == raw["run"]["host"]["cpus"] and model.run.host.memory_gb == raw["run"]["host"]["memory_gb"]
    assert [c.key for c in model.cells] == [(c["scenario"], c["engine"], c["mode"]) for c in raw["cells"]]
    for c, r in zip(model.cells, raw["cells"], strict=True):
        for block in (*MEASURE_BLOCKS, "latency_steady_ms", "response_time_ms"):
            for name, value in r[block].items():
                got = getattr(getattr(c.measures, block), name)
                # same value and same type: the report prints an int and a float differently
                assert got == value and type(got) is type(value), (c.key, block, name, got, value)
        g = r["generator"]
        assert c.measures.generator.offered_ops_s == g["offered_ops_s"]
        assert c.measures.generator.delivered_fraction.steady == g["delivered_fraction"]["steady"]
        assert c.measures.generator.schedule_lag_ms.p99 == g["schedule_lag_ms"]["p99"]
        assert bool(c.fault) == bool(r["fault"]) and c.fault.injected_at_s == (r["fault"] or {}).get("injected_at_s")
        assert c.artifacts.timeline == r["artifacts"]["timeline"] and c.load.load_start_us == r["load"]["load_start_us"]
        assert [rc.new_primary for rc in c.role_changes] == [rc["new_primary"] for rc in r["role_changes"]]
        assert c.model_extra is not None and c.model_extra["by_op"] == r["by_op"]  # unknown to the model: kept
        assert verdict_of(c) == verdict_of(r) and verdict_of(c).persisted
        assert c.measures.verdict.checkers is not None
        assert c.measures.verdict.checkers["lost"].evidence["lost_writes"] == r["verdict"]["checkers"]["lost"]["lost_writes"]


def test_the_report_rows_show_the_files_numbers(raw, model):
    rows = {(r[0], r[2]): r for r in T.headline_rows(model)}
    for r in raw["cells"]:
        row = rows[(r["scenario"], r["mode"])]
        assert row[8] == f"{r['latency_ms']['p99']:.1f} ms" and row[7] == f"{r['throughput_ops_s']['steady']:.0f}"
        if r["fault"]:
            assert row[4] == f"{r['availability']['write_gap_s']:.2f} s"
    # the typed model and the parsed dict give the same tables and the same comparison
    assert T.headline_rows(model) == T.headline_rows(raw)
    assert T.verdict_rows(model, "redis") == T.verdict_rows(raw, "redis")
    assert T.side_by_side_rows(model, "pod-kill-primary", "redis") == T.side_by_side_rows(raw, "pod-kill-primary", "redis")
    th = load_thresholds(None)
    assert render_table(compare(model, model, th)) == render_table(compare(raw, raw, th))


def test_an_int_stays_an_int():
    """A JSON 0 is printed "0 s", a 0.0 "0.00 s": the model must not turn one into the other."""
    c = as_cell({"scenario": "pod-kill-primary", "status": "ok", "fault": {"injected_at_s": 6},
                 "availability": {"write_gap_s": 0.0, "rto_s": 0, "recovered": True}})
    assert type(c.measures.availability.rto_s) is int and type(c.measures.availability.write_gap_s) is float
    row = T.headline_rows({"cells": [c]})[0]
    assert row[4:6] == ("0.00 s", "0 s")


def test_an_old_results_file_reads_and_renders(tmp_path, raw):
    old = old_format(raw)
    write_results(tmp_path / "results.json", old)  # still a valid v1 document
    res = load_results(tmp_path)
    assert res.run.status == "finished" and res.run.platform_reason is None
    for c in res.cells:
        m = c.measures
        assert not m.verdict and not m.generator and not m.latency_steady_ms and c.role_changes == []
        assert m.generator.offered_ops_s is None and m.generator.delivered_fraction.steady is None
        assert m.verdict.checkers is None and not c.load and c.load.load_start_us is None
        v = verdict_of(c)
        assert not v.persisted and v.valid_of("generator") is None  # judged from its blocks
    assert T.generator_rows(res) == []
    assert T.header_rows(res.run)[5] == ("run status", "finished")
    # what does not depend on the newer blocks is what the full file shows
    assert T.headline_rows(res) == T.headline_rows(raw) == T.headline_rows(old)
    assert T.consistency_rows(res) == T.consistency_rows(raw)
    rows = dict((r[0], r) for r in T.verdict_rows(res, "redis"))
    assert rows["steady: offered rate delivered"][1].endswith("(offered rate not recorded)")
    th = load_thresholds(None)
    assert render_table(compare(res, raw, th)) == render_table(compare(raw, raw, th))


def test_null_missing_and_unknown_blocks():
    """Null or missing blocks are absent (falsy, fields None); unknown keys anywhere are kept."""
    na = {"scenario": "pod-kill-secondary", "engine": "redis", "mode": "statefulset", "status": "not-applicable",
          "reason": "no secondary", **dict.fromkeys(("topology", "fault", *MEASURE_BLOCKS, "role_changes")),
          "artifacts": {"history": None, "timeline": None, "logs": None}}
    c = as_cell(na)
    assert not c.fault and not c.topology and not c.measures.ops and c.role_changes == []
    assert c.measures.latency_ms.p99 is None and c.fault.injected_at_s is None and c.artifacts
    assert T.not_ok_rows({"cells": [na]}) == [("pod-kill-secondary", "redis", "statefulset", "not-applicable",
                                               "no secondary")]
    bare = as_results({"cells": [{"scenario": "steady"}]})  # a hand-made partial document
    assert bare.run.id == "" and bare.cells[0].status == "?" and bare.cells[0].repeat == 0
    assert not bare.cells[0].measures.availability and bare.cells[0].measures.availability.rto_s is None
    future = as_cell({"scenario": "steady", "latency_ms": {"p99": 1.5, "p999": 9.0}, "energy_j": {"total": 3}})
    assert future.measures.latency_ms.p99 == 1.5 and future.measures.latency_ms.model_extra == {"p999": 9.0}
    assert future.model_extra == {"energy_j": {"total": 3}}
    assert future.measures.latency_ms.as_dict() == {"p99": 1.5, "p999": 9.0}
    assert isinstance(as_cell(future), Cell) and as_cell(future) is future


def test_load_results_validates_like_read_results(tmp_path, raw):
    bad = copy.deepcopy(raw)
    bad["cells"][0]["status"] = "great"
    (tmp_path / "results.json").write_text(json.dumps(bad))
    with pytest.raises(HarnessError, match=r"results.json: not a valid openim-kb-poc/results/v1 document: cells/0/status"):
        load_results(tmp_path)
    with pytest.raises(HarnessError, match="not a valid"):
        load_results(bad)  # a parsed document is validated too
    with pytest.raises(HarnessError, match="no such file"):
        load_results(tmp_path / "nope")
    (tmp_path / "results.json").write_text("{")
    with pytest.raises(HarnessError, match="not JSON"):
        load_results(tmp_path)
    assert load_results(raw) == load_results(raw)


# -- the day-2 operation block (synthetic: tests/day2_fixtures.py) ------------------------------------
def test_the_operation_block_parses_with_its_values_and_types():
    from day2_fixtures import ROLLING_RESTART_KB, day2_results

    from harness.results_model import is_day2, operation_kind, operation_verdict

    res = load_results(day2_results())  # the fixture is a valid v1 document (the schema knows `operation`)
    cells = {c.key: c for c in res.cells}
    kb = cells[("rolling-restart", "mysql", "kubeblocks")]
    op = kb.operation
    assert op and op.kind == "rolling-restart" and op.source == "local emulation" and op.phase is None
    assert (op.started_at_s, op.done_at_s, op.duration_s, op.within_load) == (6.0, 14.2, 8.2, True)
    assert [(s.pod, s.action, s.at_s, s.done_s, s.ok) for s in op.steps] == [
        (s["pod"], s["action"], s["at_s"], s["done_s"], s["ok"]) for s in ROLLING_RESTART_KB["steps"]]
    assert op.primary_changes == 1 and type(op.primary_changes) is int
    assert op.latency_during_ms.p99 == 12.3 and op.latency_during_ms.max == 2100.0
    assert op.end_state.healthy and op.end_state.settled_s == 0.4 and op.end_state.pods[0].role == "secondary"
    assert not op.backup and not op.restore and op.backup.size_bytes is None  # null: absent
    assert "operation" not in kb.measures.model_fields_set and kb.model_extra is not None
    assert "operation" not in kb.model_extra  # a field of the cell, not an unknown key
    br = cells[("backup-restore", "mysql", "statefulset")].operation
    assert br.backup.size_bytes == 5242880 and br.restore.holes == 2 and br.restore.first_holes[0].id == "u-17"
    assert operation_verdict(cells[("switchover", "mysql", "kubeblocks")])[0] is False
    assert operation_kind(kb) == "rolling-restart" and is_day2(kb)
    na = cells[("switchover", "mysql", "statefulset")]
    assert not na.operation and not na.fault and is_day2(na)  # not applicable: known by its scenario
    steady = cells[("steady", "mysql", "kubeblocks")]
    assert not steady.operation and not is_day2(steady) and operation_verdict(steady) == (None, ())


def test_results_without_an_operation_block_still_load():
    """A run from before operations were recorded: no cell has one, every reader still works."""
    from test_generator_evidence import ok_cell, results

    old = results([ok_cell("kubeblocks"), ok_cell("statefulset", scenario="pod-kill-primary")])
    assert all("operation" not in c for c in old["cells"])
    res = load_results(old)
    assert all(not c.operation and c.operation.steps == [] and c.operation.end_state.healthy is None
               for c in res.cells)
    assert all(r[0] != "day-2 operation" for r in T.side_by_side_rows(res, "steady", "mysql"))


def test_operation_block_tolerates_nulls_and_falls_back_to_the_verdict():
    from harness.results_model import operation_verdict

    c = as_cell({"scenario": "switchover", "status": "ok", "fault": {"kind": "switchover"},
                 "operation": {"kind": "switchover", "steps": None, "reasons": None, "end_state": None,
                               "latency_during_ms": None, "future": 1},
                 "verdict": {"valid": False, "checkers": {"operation": {"valid": False, "reasons": ["no move"]}}}})
    assert c.operation.steps == [] and not c.operation.end_state and c.operation.model_extra == {"future": 1}
    assert operation_verdict(c) == (False, ("no move",))


def test_the_schema_accepts_the_fixture_and_refuses_a_broken_operation():
    from day2_fixtures import day2_results

    from harness.results import schema_errors

    doc = day2_results()
    assert schema_errors(doc) == []
    for mutate, where in ((lambda op: op.update(kind="reboot"), "operation/kind"),
                          (lambda op: op.update(valid="yes"), "operation/valid"),
                          (lambda op: op["steps"][0].pop("pod"), "operation/steps/0"),
                          (lambda op: op.update(primary_changes=-1), "operation/primary_changes")):
        bad = copy.deepcopy(doc)
        mutate(bad["cells"][2]["operation"])
        errors = " ".join(map(str, schema_errors(bad)))
        assert f"cells/2/{where}" in errors, (where, errors)
    ok = copy.deepcopy(doc)
    ok["cells"][2]["operation"] = None  # null: a fault scenario's cell
    assert schema_errors(ok) == []
