"""The persisted verdict is what the report and the cell status read; results without it (older
runs, the nightly baseline) are judged by the same rules from their measure blocks."""

from __future__ import annotations

import copy

from _runfakes import FakePlatform, FakeWorkload
from test_generator_evidence import ok_cell, results
from test_runloop import run_fake

from harness.cell import _status_of
from harness.checker import HistoryChecker
from harness.report import _observations
from harness.report import tables as T
from harness.results import read_results
from harness.verdict_record import derived_verdict, verdict_of

FAULT = {"kind": "pod-kill", "target": "primary", "instance": "redis-0", "injected_at": "2026-12-01T00:00:05",
         "injected_at_s": 5.0, "duration_s": 0.0}


def with_verdict(cell: dict, **checkers: dict) -> dict:
    """`cell` with a persisted verdict: every checker valid except the ones given."""
    c = copy.deepcopy(cell)
    base = {name: {"valid": True, "reasons": []} for name in ("ops", "latency", "availability", "lost", "order", "generator")}
    base["lost"].update(acked_writes=c["consistency"]["acked_writes"], lost_writes=c["consistency"]["lost_writes"])
    base["order"].update(duplicate_seqs=0, seq_regressions=0)
    for name, r in checkers.items():
        base[name].update(r)
    anomalies = [a for name, kinds in (("availability", ("not_recovered",)), ("lost", ("lost_writes",)),
                                       ("order", ("duplicate_seqs", "seq_regressions")))
                 for a in kinds if not base[name]["valid"] and (name != "order" or base[name].get(a))]
    c["verdict"] = {"valid": all(r["valid"] for r in base.values()), "anomaly_types": anomalies, "checkers": base}
    return c


def test_the_report_shows_lost_writes_the_persisted_verdict_found_even_when_the_blocks_do_not():
    cell = ok_cell("kubeblocks")
    assert cell["consistency"]["lost_writes"] == 0
    lossy = with_verdict(cell, lost={"valid": False, "reasons": ["3 of 10 ..."], "lost_writes": 3})
    res = results([lossy])
    row = T.consistency_rows(res)[0]
    assert row[-1] == "anomalies: lost writes"
    assert T.consistency_rows(results([cell]))[0][-1] == "every acknowledged write kept"  # recomputed: nothing
    assert T.safety_text([lossy]).startswith("3 lost / ")
    assert T.safety_verdict([lossy], [cell]) == "**statefulset** safer (3 vs 0 anomalies)"


def test_not_recovered_comes_from_the_verdict_in_every_table():
    cell = {**ok_cell("kubeblocks"), "scenario": "pod-kill-primary", "fault": FAULT,
            "availability": {"write_gap_s": 4.0, "rto_s": 4.0, "recovered": True}}
    stuck = with_verdict(cell, availability={"valid": False, "reasons": ["writes did not resume"]})
    res = results([stuck])
    assert T.availability_text([stuck]).startswith("**not recovered**")
    assert T.availability_text([cell]).startswith("writes stopped 4.0 s")
    assert T.headline_rows(res)[0][5] == "not recovered"
    assert "mysql/kubeblocks: writes did not resume within the observation window." in _observations(
        res, "pod-kill-primary", "mysql")


def test_vouched_for_and_the_invalid_status_read_the_generator_checker():
    cell = ok_cell("kubeblocks")
    behind = with_verdict(cell, generator={"valid": False, "reasons": ["ops started late"]})
    assert T.generator_rows(results([behind]))[0][-1] == "**no**"
    assert T.generator_rows(results([cell]))[0][-1] == "yes"
    assert _status_of(behind) == ("invalid", "the harness could not measure this cell: ops started late")
    assert _status_of(cell) == ("ok", None)  # the generator block alone says valid
    old = {**cell, "generator": {**cell["generator"], "valid": False, "reasons": ["a stall"]}}
    assert _status_of(old)[0] == "invalid"  # no verdict (a fake workload): the generator block decides


def test_an_older_cell_without_a_verdict_is_judged_from_its_blocks():
    cell = ok_cell("statefulset")
    assert "verdict" not in cell
    v = verdict_of(cell)
    assert not v.persisted and v.valid and set(v.checkers) == {"ops", "latency", "availability", "lost", "order", "generator"}
    bad = copy.deepcopy(cell)
    bad["consistency"].update(lost_writes=2, seq_regressions=1)
    bad["availability"]["recovered"] = False
    v = derived_verdict(bad)
    assert not v.valid and v.anomaly_types == ("not_recovered", "lost_writes", "seq_regressions")
    assert v.data_safety_anomalies == ("lost_writes", "seq_regressions") and not v.recovered
    unknown = copy.deepcopy(cell)
    unknown["consistency"]["lost_writes"] = None
    assert verdict_of(unknown).valid and T.consistency_rows(results([unknown]))[0][-1] == "unknown (no read-back)"
    assert verdict_of(with_verdict(cell)).persisted


class CheckingWorkload(FakeWorkload):
    """The fake load (no history), measured by the real checker: nothing was delivered of the
    offered rate, so the generator checker says invalid and the cell must say so."""

    def measure(self, endpoint, engine, inp, timeline_path):
        super().measure(endpoint, engine, inp, timeline_path)  # writes the fake timeline
        out = HistoryChecker().check(inp).to_results()
        out["generator"] = {**out["generator"], "valid": True, "reasons": []}  # only the verdict says invalid
        return out


def test_a_run_persists_each_cells_verdict_and_its_status_follows_it(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("HARNESS_WORK_DIR", str(tmp_path / "work"))
    code, out = run_fake(tmp_path, ["steady"], ["redis"], FakePlatform(), CheckingWorkload(), modes=("statefulset",))
    assert code == 3, out  # the run's status for "some cell could not be measured"
    (cell,) = read_results(tmp_path / "out" / "latest")["cells"]
    assert cell["verdict"]["valid"] is False and cell["verdict"]["checkers"]["ops"]["total"] == 0
    assert cell["verdict"]["checkers"]["generator"]["valid"] is False
    assert cell["status"] == "invalid" and "the load delivered 0.0 of" in cell["reason"]
