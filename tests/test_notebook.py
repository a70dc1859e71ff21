"""notebooks/review.ipynb executed (papermill, a real kernel) against the session's real run
directory (tests/conftest.py `real_run_dir`: redis, steady + pod-kill-primary, both modes)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from harness import notebook
from harness.errors import HarnessError
from harness.faults import NEMESIS_FILE, read_windows
from harness.report import review
from harness.results import read_results


def _outputs(nb) -> list[dict]:
    return [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]


def _text(nb, mime: str) -> str:
    return "\n".join(str(o.get("data", {}).get(mime, "")) for o in _outputs(nb))


@pytest.fixture(scope="module")
def executed(real_run_dir: Path, tmp_path_factory) -> tuple[Path, object]:
    run = tmp_path_factory.mktemp("nb") / "run"
    shutil.copytree(real_run_dir, run)  # the output notebook lands in the run directory: use a copy
    out = notebook.execute(run)
    return run, nbformat.read(out, as_version=4)


def test_executes_top_to_bottom_into_the_run_directory(executed):
    run, nb = executed
    assert (run / "review.ipynb").is_file()
    errors = [o for o in _outputs(nb) if o.get("output_type") == "error"]
    assert not errors, [f"{o['ename']}: {o['evalue']}" for o in errors]
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.get("execution_count") for c in code), "a code cell was not executed"
    # papermill injected the run directory after the `parameters` cell
    injected = next(c for c in code if "injected-parameters" in c.metadata.get("tags", []))
    assert str(run) in injected.source


def test_shows_its_figures(executed):
    run, nb = executed
    pngs = [o for o in _outputs(nb) if "image/png" in o.get("data", {})]
    # one drill-down timeline (pod-kill-primary on redis) + one steady latency CDF (redis), and the
    # drilled-into cells' server views when the run observed them (Prometheus)
    observed = [c for c in read_results(run)["cells"] if c["scenario"] == "pod-kill-primary"
                and (c.get("observability") or {}).get("observed")]
    assert len(pngs) == 2 + len(observed), len(pngs)
    import base64

    for o in pngs:
        raw = base64.b64decode(o["data"]["image/png"])
        assert raw[:8] == b"\x89PNG\r\n\x1a\n" and len(raw) > 10_000


def test_shows_header_tables_and_emulation_note(executed, real_run_dir):
    _, nb = executed
    res = read_results(real_run_dir)
    html = _text(nb, "text/html")
    md = _text(nb, "text/markdown")
    assert "emulation of KubeBlocks' topology" in md
    assert res["run"]["id"] in md
    for needle in ("platform", "criterion", "data safety (all scenarios)",  # header, verdict
                   "throughput steady (ops/s)", "write gap (s)",  # side by side
                   "p99 in results.json",  # latency summary
                   "acknowledged writes", "every acknowledged write kept"):  # consistency
        assert needle in html, needle
    assert "drill-down: pod-kill-primary on redis" in "".join(
        o.get("text", "") for o in _outputs(nb) if o.get("output_type") == "stream")
    # a number from results.json appears as the verdict table shows it
    cell = next(c for c in res["cells"] if c["scenario"] == "steady" and c["mode"] == "kubeblocks")
    assert f"{cell['throughput_ops_s']['steady']:.1f}" in html


def test_drill_down_parameter_and_fallback(real_run_dir, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(real_run_dir, run)
    nb = nbformat.read(notebook.execute(run, {"drill_scenario": "zone-outage", "drill_engine": "mysql"}), 4)
    streams = "".join(o.get("text", "") for o in _outputs(nb) if o.get("output_type") == "stream")
    assert "zone-outage on mysql was not measured in this run; showing pod-kill-primary on redis" in streams
    assert not [o for o in _outputs(nb) if o.get("output_type") == "error"]


def test_steady_latencies_are_the_checkers_steady_window(real_run_dir):
    """The CDF's samples (history files) and results.json's latency_steady_ms describe the same ops."""
    res = read_results(real_run_dir)
    for c in res["cells"]:
        xs = sorted(review.steady_latencies_ms(real_run_dir, c))
        assert xs, f"{c['scenario']}/{c['mode']}: no steady samples"
        for q, key in ((50, "p50"), (95, "p95"), (99, "p99"), (100, "max")):
            want = c["latency_steady_ms"][key]
            got = review.percentile(xs, q)
            assert abs(got - want) <= max(0.002 * want, 0.002), (c["scenario"], c["mode"], key, got, want)
        if c["fault"]:  # only ops completed before the injection
            assert len(xs) < c["ops"]["ok"]


def test_steady_window_ends_at_the_nemesis_exact_injection(real_run_dir, tmp_path):
    """results.json rounds `injected_at_s` to the millisecond; an op completing between that and the
    nemesis' own clock reading counts on the checker's side of the boundary (CI once saw p95 differ)."""
    run = tmp_path / "run"
    shutil.copytree(real_run_dir, run)
    res = read_results(run)
    cell = next(c for c in res["cells"] if c["fault"] and c["status"] == "ok")
    hist = run / cell["artifacts"]["history"]
    (window,) = read_windows(hist / NEMESIS_FILE)
    exact = window.injected_at_us
    rounded = cell["load"]["load_start_us"] + round(cell["fault"]["injected_at_s"] * 1e6)
    before = len(review.steady_latencies_ms(run, cell))
    # an ok op completing 1 us on the far side of the exact injection, inside the rounded window when it
    # is later, and one 1 us before it, outside the rounded window when that is earlier
    t = exact if rounded > exact else exact - 1
    assert rounded != t
    with open(next(hist.glob("history*.jsonl")), "a") as fh:
        fh.write(json.dumps({"type": "ok", "op": 10**9, "p": "planted", "f": "sync", "w": False,
                             "inv_us": t - 500, "t_us": t, "wall": 0.0}) + "\n")
    assert len(review.steady_latencies_ms(run, cell)) == before + (t < exact)


def test_notebook_never_imports_locust():
    src = Path(notebook.NOTEBOOK).read_text()
    assert "locust" not in src.lower()
    proc = subprocess.run([sys.executable, "-c", "import sys, harness.report.review, harness.report.figures, "
                           "harness.notebook; print('locust' in sys.modules)"], capture_output=True, text=True,
                          timeout=60)
    assert proc.stdout.strip() == "False", proc.stdout + proc.stderr


def test_kernel_is_this_interpreter():
    km = notebook._kernel_manager_class()(kernel_name="python3")
    assert km.kernel_spec.argv[0] == sys.executable


def test_bad_run_dir_is_one_line_exit_2(tmp_path):
    for arg in (tmp_path / "nope", tmp_path):
        proc = subprocess.run([sys.executable, "-m", "harness.notebook", str(arg)], capture_output=True, text=True,
                              timeout=60)
        assert proc.returncode == 2, proc.stdout + proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in proc.stderr, proc.stderr
    with pytest.raises(HarnessError, match="no results.json"):
        review.locate_run_dir(tmp_path)


def test_day2_drill_down_renders_one_operation(tmp_path):
    """On a synthetic run with day-2 cells (tests/day2_fixtures.py, no servers): the first operation
    with data is drilled into: its steps, its timeline with the step marks, its end state."""
    from day2_fixtures import day2_results, write_run_dir

    run = write_run_dir(tmp_path / "run", day2_results())
    nb = nbformat.read(notebook.execute(run), 4)
    errors = [o for o in _outputs(nb) if o.get("output_type") == "error"]
    assert not errors, [f"{o['ename']}: {o['evalue']}" for o in errors]
    streams = "".join(o.get("text", "") for o in _outputs(nb) if o.get("output_type") == "stream")
    assert "operation drill-down: rolling-restart on mysql (kubeblocks)" in streams
    section = next(i for i, c in enumerate(nb.cells) if c.cell_type == "markdown"
                   and c.source.startswith("## Drill-down: one day-2 operation"))
    out = nb.cells[section + 1].get("outputs", [])
    html = "\n".join(str(o.get("data", {}).get("text/html", "")) for o in out)
    # the steps, in the block's order, with the switchover's detail and the computed durations
    assert re.search(r"<td>1</td>\s*<td>mysql-1</td>\s*<td>restart</td>\s*<td>6.0</td>\s*<td>9.1</td>\s*<td>3.1</td>",
                     html), html
    for needle in ("<td>switchover</td>", "mysql-0 -&gt; mysql-1",
                   "replicating from mysql-1, caught up",  # the end state per pod
                   "primary changes 1 (mysql-0 → mysql-1)", "end state healthy (settled 0.4 s after)",
                   "not-applicable: a StatefulSet as OpenIM ships it has one instance"):  # the engine's day-2 table
        assert needle in html, needle
    pngs = [o for o in out if "image/png" in o.get("data", {})]
    assert len(pngs) == 1  # the operation's timeline


def test_server_view_drill_down_shows_the_figure_time_to_alert_and_cross_check(tmp_path):
    """On a synthetic observed run (tests/test_report_observability.py, no servers): the drilled-into
    cells' server figures, their time to alert, and a failed cross-check said as a disagreement."""
    from test_report_observability import FAILED_CHECK, block, observed_run

    run = observed_run(tmp_path, block(), block(cross_check=FAILED_CHECK))
    nb = nbformat.read(notebook.execute(run), 4)
    errors = [o for o in _outputs(nb) if o.get("output_type") == "error"]
    assert not errors, [f"{o['ename']}: {o['evalue']}" for o in errors]
    section = next(i for i, c in enumerate(nb.cells) if c.cell_type == "markdown"
                   and c.source.startswith("## Drill-down: what the servers saw (Prometheus)"))
    out = nb.cells[section + 1].get("outputs", [])
    assert len([o for o in out if "image/png" in o.get("data", {})]) == 2  # one per mode
    html = "\n".join(str(o.get("data", {}).get(mime, "")) for o in out for mime in ("text/html", "text/markdown"))
    for needle in ("server view: pod-kill-primary on mysql / kubeblocks", "<td>time to alert</td>",
                   "1.7 s (MysqlDown on mysql-0)", "DISAGREE", "<td>`insert`</td>", "<td>4000</td>",
                   "counters disagree with the client"):
        assert needle in html, needle
