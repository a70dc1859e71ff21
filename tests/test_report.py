"""The report, rendered from a real run directory (real servers, real load, real checker)."""

from __future__ import annotations

import base64
import csv
import io
import re

import pytest

from harness.config import build_settings
from harness.errors import HarnessError
from harness.report import render_run_dir
from harness.results import read_results
from harness.runloop import RunRequest, execute

SHORT = {
    "timings": {"*": {"warmup_s": 1, "before_fault_s": 3, "observe_s": 4}},
    "deploy": {"restart_delay_s": 1.0, "sentinel_down_after_ms": 1500, "sentinel_failover_timeout_ms": 5000},
    "load": {"rate_ops_s": 60, "users": 10},
    "seed_data": {"users": 20, "friends_per_user": 3, "groups": 2, "group_size": 5},
}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    base = tmp_path_factory.mktemp("report-run")
    mp = pytest.MonkeyPatch()
    mp.setenv("HARNESS_STATE_DIR", str(base / "state"))
    mp.setenv("HARNESS_WORK_DIR", str(base / "work"))
    try:
        req = RunRequest(scenarios=["steady", "pod-kill-primary", "pod-kill-secondary"], platform="local",
                         engines=["redis", "mongodb"], modes=["kubeblocks", "statefulset"],
                         settings=build_settings("quick", overrides=SHORT), out=base / "out", render_report=False)
        out = io.StringIO()
        assert execute(req, stream=out) == 0, out.getvalue()
    finally:
        mp.undo()
    return (base / "out" / "latest").resolve()


@pytest.mark.server
def test_renders_md_html_and_figures_from_the_run(run_dir):
    paths = render_run_dir(run_dir)
    names = [p.name for p in paths]
    assert names[:2] == ["report.md", "report.html"]
    pngs = [p for p in paths if p.suffix == ".png"]
    assert {p.name for p in pngs} >= {"summary-write-gap.png", "steady-redis.png", "pod-kill-primary-redis.png",
                                      "pod-kill-secondary-redis.png"}
    for p in pngs:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 10_000


@pytest.mark.server
def test_report_sections_and_numbers_come_from_results(run_dir):
    render_run_dir(run_dir)
    md = (run_dir / "report.md").read_text()
    res = read_results(run_dir)
    order = ["## Headline", "## Verdict per engine and criterion", "## Scenarios side by side",
             "## Timelines per cell", "## Methodology", "## Skipped, not applicable and failed cells"]
    pos = [md.index(h) for h in order]
    assert pos == sorted(pos)
    assert "emulation of KubeBlocks' topology and failover settings" in md
    assert "`write_gap_s`: the longest interval after injection with no acknowledged write." in md
    # the headline's write gap for pod-kill-primary redis/kubeblocks is the one in results.json
    cell = next(c for c in res["cells"] if c["scenario"] == "pod-kill-primary" and c["mode"] == "kubeblocks"
                and c["engine"] == "redis")
    gap = f"{cell['availability']['write_gap_s']:.2f} s"
    assert re.search(rf"\| pod-kill-primary \| redis \| kubeblocks \| ok \| {re.escape(gap)} \|", md)
    # skipped mongodb cells and the not-applicable one are listed with their reasons
    assert re.search(r"\| steady \| mongodb \| kubeblocks \| skipped \| mongod is not installed", md)
    assert "| pod-kill-secondary | redis | statefulset | not-applicable | a StatefulSet as OpenIM ships it" in md


@pytest.mark.server
def test_timeline_figure_uses_the_cells_timeline_csv(run_dir):
    res = read_results(run_dir)
    cell = next(c for c in res["cells"] if c["scenario"] == "steady" and c["engine"] == "redis" and c["status"] == "ok")
    with open(run_dir / cell["artifacts"]["timeline"]) as fh:
        rows = list(csv.DictReader(fh))
    assert rows and sum(int(r["ok"]) for r in rows) == cell["ops"]["ok"]


@pytest.mark.server
def test_html_is_self_contained(run_dir):
    render_run_dir(run_dir)
    html = (run_dir / "report.html").read_text()
    imgs = re.findall(r'<img [^>]*src="([^"]+)"', html)
    assert imgs and all(src.startswith("data:image/png;base64,") for src in imgs)
    assert base64.b64decode(imgs[0].split(",", 1)[1])[:4] == b"\x89PNG"
    assert "<link" not in html and "<script" not in html and 'src="http' not in html


def test_not_a_run_directory_is_one_line(tmp_path):
    with pytest.raises(HarnessError, match="not a directory"):
        render_run_dir(tmp_path / "nope")
    with pytest.raises(HarnessError, match="no such file"):
        render_run_dir(tmp_path)


def test_statefulset_zone_outage_observation_says_the_zone_decided_the_rto():
    """Pure: the statefulset RTO of a zone fault is the schedule's, and the report says so."""
    from harness.report import _observations

    cell = {"scenario": "zone-outage", "engine": "redis", "mode": "statefulset", "status": "ok", "repeat": 0,
            "fault": {"kind": "zone-outage", "injected_at_s": 6.0, "duration_s": 28.001},
            "availability": {"write_gap_s": 28.0, "rto_s": 28.0, "recovered": True},
            "consistency": {"lost_writes": 0}, "role_changes": []}
    text = " ".join(_observations({"cells": [cell]}, "zone-outage", "redis"))
    assert "only because the zone came back after 28 s" in text
    cell["fault"]["kind"] = "pod-kill"
    assert "only because" not in " ".join(_observations({"cells": [cell]}, "zone-outage", "redis"))


# -- the day-2 operations section (synthetic results, no servers: tests/day2_fixtures.py) -------------
def _day2_md(tmp_path, doc=None) -> tuple[str, list]:
    from day2_fixtures import day2_results, write_run_dir

    run = write_run_dir(tmp_path / "run", doc or day2_results())
    paths = render_run_dir(run)
    return (run / "report.md").read_text(), paths


def _rows(doc, engine="mysql") -> dict[str, tuple[str, ...]]:
    from harness.report import day2 as D

    return {r[0]: r for r in D.day2_rows(doc, engine)}


def test_day2_rows_are_the_operation_blocks_numbers():
    from day2_fixtures import day2_results

    doc = day2_results()
    kb, sts = _rows(doc)["rolling-restart"][1:3]
    # the design's example, verbatim: 8.2 s, p99 during 12.3 ms, one primary change, settled 0.4 s
    for planted in ("done in 8.2 s", "write gap 1.37 s", "lost writes 0", "p99 during 12.3 ms",
                    "primary changes 1 (mysql-0 → mysql-1)", "end state healthy (settled 0.4 s after)",
                    "via local emulation"):
        assert planted in kb, (planted, kb)
    assert "done in 5.5 s" in sts and "write gap 5.61 s" in sts and "p99 during 31.4 ms" in sts
    assert "primary changes 0 (stays mysql-0)" in sts
    # a value changed in the file is the value shown
    doc["cells"][2]["operation"]["latency_during_ms"]["p99"] = 45.6
    doc["cells"][2]["operation"]["duration_s"] = 9.9
    kb = _rows(doc)["rolling-restart"][1]
    assert "p99 during 45.6 ms" in kb and "done in 9.9 s" in kb and "12.3" not in kb
    assert _rows(doc)["rolling-restart"][3].startswith("**kubeblocks** better (4.2 s less downtime)")


def test_an_invalid_operation_shows_its_reasons_never_its_numbers():
    from day2_fixtures import SWITCHOVER_FAILED, day2_results

    doc = day2_results()
    row = _rows(doc)["switchover"]
    assert row[1].startswith(f"**operation failed**: {SWITCHOVER_FAILED}")
    assert "mysql-1 (secondary): replication stopped" in row[1]  # the end state's own reason
    for number in ("77.7", "777.7", "done in", "write gap", "healthy"):  # planted, and must not read as fine
        assert number not in row[1], number
    assert row[3] == "kubeblocks: operation failed"
    # the verdict table does not call its 0.3 s gap "no outage" either
    from harness.report import tables as T

    vrow = {r[0]: r for r in T.verdict_rows(doc, "mysql")}["availability: switchover"]
    assert vrow[1].startswith("**operation failed**") and vrow[3] == "kubeblocks: operation failed"
    # the block's own verdict missing: the persisted operation checker's is read
    doc["cells"][4]["operation"].pop("valid")
    assert _rows(doc)["switchover"][1].startswith(f"**operation failed**: {SWITCHOVER_FAILED}")


def test_not_applicable_sides_show_their_reasons():
    from day2_fixtures import NA_SCALE_OUT_STS, NA_SWITCHOVER_STS, NA_UPGRADE_LOCAL, day2_results

    doc = day2_results()
    assert _rows(doc)["switchover"][2] == f"not-applicable: {NA_SWITCHOVER_STS}"
    assert _rows(doc)["upgrade"][1:] == (f"not-applicable: {NA_UPGRADE_LOCAL}",) * 2 + ("not measured",)
    redis = _rows(doc, "redis")
    assert list(redis) == ["scale-out"]
    assert redis["scale-out"][2] == f"not-applicable: {NA_SCALE_OUT_STS}" and redis["scale-out"][3] == "kubeblocks only"
    assert "added redis-2" in redis["scale-out"][1]


def test_backup_restore_shows_the_backup_and_whether_the_restore_has_holes():
    from day2_fixtures import day2_results

    kb, sts = _rows(day2_results())["backup-restore"][1:3]
    assert "backup 2.1 s, 5.0 MiB (mariadb-backup from mysql-1, consistent point 0-101-1234)" in kb
    assert ("restore 3.4 s: every write acknowledged before its consistent point (7.9 s) held "
            "(1150 of 1200 checked found; 50 acknowledged after it, not in any backup)") in kb
    assert sts.startswith("**operation failed**: 2 writes acknowledged before the backup's consistent point")
    assert "2 write(s) acknowledged before its consistent point (7.9 s) are **missing** (first: users/u-17, " \
           "acknowledged at 7.1 s)" in sts
    assert "backup 2.1 s" not in sts and "held" not in sts


def test_day2_section_in_md_and_html_between_side_by_side_and_timelines(tmp_path):
    md, paths = _day2_md(tmp_path)
    order = ["## Scenarios side by side", "## Day-2 operations", "### mysql", "### redis", "## Timelines per cell"]
    pos = [md.index(h, md.index("## Day-2 operations") if h.startswith("###") else 0) for h in order]
    assert pos == sorted(pos), pos
    section = md[md.index("## Day-2 operations"):md.index("## Timelines per cell")]
    assert "| rolling-restart | done in 8.2 s; write gap 1.37 s;" in section
    assert "not-applicable: a StatefulSet as OpenIM ships it has one instance" in section
    html = (paths[1]).read_text()
    assert "<h2>Day-2 operations</h2>" in html and "<strong>operation failed</strong>" in html
    names = {p.name for p in paths}
    assert {"rolling-restart-mysql.png", "switchover-mysql.png", "backup-restore-mysql.png",
            "scale-out-redis.png"} <= names
    assert "upgrade-mysql.png" not in names  # nothing measured: no timeline


def test_no_day2_section_without_day2_cells(tmp_path):
    from day2_fixtures import day2_results

    doc = day2_results()
    doc["cells"] = [c for c in doc["cells"] if c["scenario"] == "steady"]
    md, _ = _day2_md(tmp_path, doc)
    assert "Day-2 operations" not in md and "day-2 operation" not in md
    from harness.report import day2 as D

    assert D.day2_cells(doc) == [] and D.pick_operation_cell(doc) is None


def test_day2_timeline_shades_the_operation_and_marks_each_step_with_its_pod():
    """The figure's marks are the block's window and steps (drawn on a bare Axes, as the timeline does)."""
    from day2_fixtures import day2_results

    import harness.report.figures as F
    from harness.report import day2 as D
    from harness.results_model import as_results

    cells = {c.key: c for c in as_results(day2_results()).cells}
    kb = cells[("rolling-restart", "mysql", "kubeblocks")]
    assert D.operation_window(kb) == (6.0, 14.2)
    assert [(m.at_s, m.label) for m in D.step_marks(kb)] == [
        (6.0, "restart mysql-1"), (9.1, "switchover mysql-0"), (9.6, "restart mysql-0")]
    fig, ax = F.plt.subplots()
    try:
        F._shade(ax, kb, first=True)
        spans = [p.get_x() for p in ax.patches]
        widths = [p.get_width() for p in ax.patches]
        assert spans[:1] == [6.0] and abs(widths[0] - 8.2) < 1e-9  # the operation's window
        assert sorted({ln.get_xdata()[0] for ln in ax.lines}) == [6.0, 9.1, 9.6]  # no extra "fault injected" line
        assert [t.get_text().strip() for t in ax.texts] == ["restart mysql-1", "switchover mysql-0", "restart mysql-0"]
        labels = ax.get_legend_handles_labels()[1]
        assert labels == ["operation in progress", "step: restart", "step: switchover"]
    finally:
        F.plt.close(fig)
    failed = cells[("switchover", "mysql", "kubeblocks")]
    assert [m.label for m in D.step_marks(failed)] == ["switchover mysql-0 (failed)"]
    assert F._subtitle(failed).startswith("OPERATION FAILED: mysql-0 is still the primary")
    assert F._subtitle(kb).startswith("rolling-restart done in 8.2 s, write gap 1.4 s")
