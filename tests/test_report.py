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
