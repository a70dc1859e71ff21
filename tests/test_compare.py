"""`harness compare` on a real run directory (tests/conftest.py `real_run_dir`: redis, steady +
pod-kill-primary, both modes, real servers). Regressions are made by editing a copy of that run's
results.json; repeated runs are made by duplicating its cells with small variations of the real
values (there is no repeated real run in the session: it would cost minutes)."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness import cli
from harness.compare import Thresholds, compare, load_thresholds
from harness.results import read_results, write_results


def _save(tmp_path: Path, name: str, data: dict) -> Path:
    d = tmp_path / name
    d.mkdir()
    write_results(d / "results.json", data)  # validates: every edited copy is still a v1 document
    return d


def _cell(data: dict, scenario: str, mode: str) -> dict:
    return next(c for c in data["cells"] if c["scenario"] == scenario and c["engine"] == "redis" and c["mode"] == mode)


def _run_cli(capsys, *argv: str) -> tuple[int, str]:
    rc = cli.main(["compare", *map(str, argv)])
    return rc, capsys.readouterr().out


@pytest.fixture(scope="module")
def real(real_run_dir: Path) -> dict:
    data = read_results(real_run_dir)
    statuses = {(c["scenario"], c["mode"]): c["status"] for c in data["cells"]}
    assert set(statuses.values()) == {"ok"} and len(statuses) == 4, statuses
    return data


def test_identical_real_runs_exit_0(real_run_dir, real):
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "compare", str(real_run_dir), str(real_run_dir)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "no regression (4 cells compared)" in proc.stdout
    for key in ("steady/redis/kubeblocks", "pod-kill-primary/redis/statefulset"):
        assert key in proc.stdout
    assert "REGRESSION" not in proc.stdout


def test_steady_throughput_cut_by_a_third_exits_1_naming_cell_and_metric(tmp_path, capsys, real_run_dir, real):
    cur = copy.deepcopy(real)
    c = _cell(cur, "steady", "kubeblocks")
    c["throughput_ops_s"]["steady"] = round(c["throughput_ops_s"]["steady"] * 2 / 3, 3)
    rc, out = _run_cli(capsys, real_run_dir, _save(tmp_path, "cur", cur))
    assert rc == 1, out
    assert "steady/redis/kubeblocks steady_throughput_ops_s: fell 33." in out
    assert out.count("REGRESSION:") == 1, out  # nothing else was touched


def test_rto_doubled_exits_1(tmp_path, capsys, real_run_dir, real):
    # the fault cell with the longest real outage, its RTO doubled
    fault_cells = [c for c in real["cells"] if c["fault"]]
    worst = max(fault_cells, key=lambda c: c["availability"]["rto_s"] or 0)
    rto = worst["availability"]["rto_s"]
    assert rto and rto > 0, f"no real outage in the session run: {[c['availability'] for c in fault_cells]}"
    cur = copy.deepcopy(real)
    _cell(cur, "pod-kill-primary", worst["mode"])["availability"]["rto_s"] = rto * 2
    cur_dir = _save(tmp_path, "cur", cur)
    key = f"pod-kill-primary/redis/{worst['mode']} rto_s: rose {rto:.2f}s -> {2 * rto:.2f}s"
    # the checked-in thresholds need +30 % AND +2 s, so a doubled sub-2-s RTO must not flap
    rc, out = _run_cli(capsys, real_run_dir, cur_dir)
    assert rc == (1 if rto > Thresholds().rto_increase_abs_s else 0), out
    # with a smaller absolute floor (--thresholds FILE) the doubled RTO is a regression, named
    th = tmp_path / "th.yaml"
    th.write_text("rto_increase_abs_s: 0.1\n")
    rc, out = _run_cli(capsys, real_run_dir, cur_dir, "--thresholds", th)
    assert rc == 1, out
    assert key in out


def test_one_lost_write_added_exits_1(tmp_path, capsys, real_run_dir, real):
    cur = copy.deepcopy(real)
    c = _cell(cur, "pod-kill-primary", "kubeblocks")
    base_lost = c["consistency"]["lost_writes"]
    c["consistency"]["lost_writes"] = base_lost + 1
    rc, out = _run_cli(capsys, real_run_dir, _save(tmp_path, "cur", cur))
    assert rc == 1, out
    assert f"pod-kill-primary/redis/kubeblocks lost_writes: {base_lost + 1} lost writes (baseline {base_lost})" in out


def test_cells_missing_on_one_side_are_reported_not_crashed(tmp_path, capsys, real_run_dir, real):
    cur = copy.deepcopy(real)
    cur["cells"] = [c for c in cur["cells"] if not (c["scenario"] == "steady" and c["mode"] == "statefulset")]
    extra = copy.deepcopy(_cell(real, "steady", "kubeblocks"))
    extra["engine"] = "mysql"  # a cell the baseline never ran
    cur["cells"].append(extra)
    rc, out = _run_cli(capsys, real_run_dir, _save(tmp_path, "cur", cur))
    assert rc == 0, out
    assert "only in baseline: steady/redis/statefulset" in out
    assert "only in current: steady/mysql/kubeblocks" in out
    assert "no regression (3 cells compared)" in out


def test_a_cell_that_now_failed_is_a_regression(tmp_path, capsys, real_run_dir, real):
    cur = copy.deepcopy(real)
    c = _cell(cur, "pod-kill-primary", "statefulset")
    c["status"], c["reason"] = "failed", "deploy: redis-0 did not become ready"
    rc, out = _run_cli(capsys, real_run_dir, _save(tmp_path, "cur", cur))
    assert rc == 1, out
    assert "pod-kill-primary/redis/statefulset status: was ok, now failed (deploy: redis-0 did not become ready)" in out


def _repeats(real: dict, factors: list[float]) -> dict:
    """Each real cell repeated len(factors) times, steady throughput scaled by each factor
    (the small run-to-run variation a repeated profile would show)."""
    out = copy.deepcopy(real)
    out["cells"] = []
    for c in real["cells"]:
        for i, f in enumerate(factors):
            r = copy.deepcopy(c)
            r["repeat"] = i
            r["throughput_ops_s"]["steady"] = round(c["throughput_ops_s"]["steady"] * f, 3)
            out["cells"].append(r)
    return out


NOISE = [0.98, 0.99, 1.0, 1.01, 1.02]


def test_repeated_runs_use_mann_whitney(tmp_path, capsys, real):
    base = _save(tmp_path, "base", _repeats(real, NOISE))
    # same noise again: no regression, and the p column is filled (the rank test ran)
    rc, out = _run_cli(capsys, base, _save(tmp_path, "same", _repeats(real, [1.005, 0.995, 1.0, 1.015, 0.985])))
    assert rc == 0, out
    row = next(line for line in out.splitlines()
               if line.split()[:2] == ["steady/redis/kubeblocks", "steady_throughput_ops_s"])
    *_, p, verdict = row.split()  # cell metric baseline current delta p verdict
    assert verdict == "ok" and float(p) >= 0.05, row
    # every repeat a third slower: the samples separate completely, p = 1/252 < 0.05 -> regression
    rc, out = _run_cli(capsys, base, _save(tmp_path, "slow", _repeats(real, [f * 2 / 3 for f in NOISE])))
    assert rc == 1, out
    assert "steady/redis/kubeblocks steady_throughput_ops_s: fell 33." in out
    assert "0.004" in out


def test_median_crossing_alone_is_not_a_regression_when_the_rank_test_disagrees(real):
    """Medians 20 % apart but the samples overlap (two repeats of the current side are faster than
    the baseline's best): Mann-Whitney does not find a drop, so compare() must not call it one."""
    base = _repeats(real, [0.8, 0.9, 1.0, 1.1, 1.2])
    cur = _repeats(real, [0.6, 0.7, 0.8, 1.25, 1.3])
    cmp = compare(base, cur, load_thresholds(None))
    m = next(m for cc in cmp.cells if cc.key == ("steady", "redis", "kubeblocks") for m in cc.metrics
             if m.metric == "steady_throughput_ops_s")
    assert m.delta_pct is not None and m.delta_pct < -15  # the medians alone would say "regression"
    assert m.p_value is not None and m.p_value >= 0.05 and not m.regressed
    # with single runs the same medians are a regression: the rank test is what changed the verdict
    single = compare(_repeats(real, [1.0]), _repeats(real, [0.8]), load_thresholds(None))
    assert any(m.regressed for cc in single.cells for m in cc.metrics if m.metric == "steady_throughput_ops_s")


def test_bad_input_is_one_line_exit_2(tmp_path, capsys, real_run_dir):
    rc = cli.main(["compare", str(real_run_dir), str(tmp_path / "nope")])
    err = capsys.readouterr().err
    assert rc == 2 and "no such file" in err and "Traceback" not in err
    bad = tmp_path / "bad.yaml"
    bad.write_text("steady_throughput_drop_pct: lots\n")
    rc = cli.main(["compare", str(real_run_dir), str(real_run_dir), "--thresholds", str(bad)])
    err = capsys.readouterr().err
    assert rc == 2 and "steady_throughput_drop_pct" in err and len(err.strip().splitlines()) == 1


def test_results_json_file_paths_work_too(tmp_path, capsys, real_run_dir):
    data = json.loads((real_run_dir / "results.json").read_text())
    assert data["cells"]
    rc, out = _run_cli(capsys, real_run_dir / "results.json", real_run_dir / "results.json")
    assert rc == 0 and "no regression" in out
