"""The server view (harness.observe.serverview), its per-cell figure and the report's "Server view
(Prometheus)" section, from synthetic series and observability blocks (no servers, no Prometheus).

The series are planted: mysql-0 is primary until it is killed at 10 s (its exporter then reports
mysql_up 0 and no read_only sample until 14 s; its command counter restarts from 0), mysql-1 is promoted
at 12 s. The blocks carry a time to alert of 1.7 s and, on one cell, a failed cross-check."""

from __future__ import annotations

import copy
import gzip
import json
import math
from pathlib import Path

import pytest
from day2_fixtures import write_run_dir
from test_generator_evidence import ok_cell, results

from harness.observe import serverview as SV
from harness.observe.metrics import METRICS
from harness.report import build_document, render_run_dir
from harness.report import observability as O
from harness.report.doc import Figure, to_markdown
from harness.results import validate
from harness.results_model import as_results

ENGINE = next(iter(METRICS))  # the first engine with exporters (a table lookup, never a name comparison)
END = 24
observed_engines = pytest.mark.parametrize("engine", list(METRICS))


def _labels(pod: str, **more: str) -> dict[str, str]:
    return {"pod": pod, "deployment": "d", "mode": "kubeblocks", **more}


def _primary_series(pod: str, t: list[float], primary: list[bool], engine: str = ENGINE) -> list[dict]:
    """The engine's role metric as its exporter reports it, whatever the engine (from the primary expr)."""
    pm = SV.primary_match(engine)
    if pm.labels:  # a label says the role (redis_instance_info{role="master"}): one series per role seen
        (key, want), = pm.labels.items()
        out = []
        for role, is_p in ((want, True), ("slave", False)):
            ts = [x for x, p in zip(t, primary, strict=True) if p == is_p]
            if ts:
                out.append({"metric": pm.metric, "labels": _labels(pod, **{key: role}), "t": ts, "v": [1.0] * len(ts)})
        return out
    yes = pm.equals if pm.equals is not None else 1.0
    no = 1.0 if yes == 0 else 0.0
    return [{"metric": pm.metric, "labels": _labels(pod), "t": t, "v": [yes if p else no for p in primary]}]


def planted_series(engine: str = ENGINE) -> list[dict]:
    M = METRICS[engine]
    ts = [s + 0.5 for s in range(END)]
    down = [t for t in ts if 10 <= t < 14]
    alive0 = [t for t in ts if t not in down]
    out = [
        {"metric": M.up, "labels": _labels("mysql-0"), "t": ts, "v": [0.0 if t in down else 1.0 for t in ts]},
        {"metric": M.up, "labels": _labels("mysql-1"), "t": ts, "v": [1.0] * len(ts)},
        *_primary_series("mysql-0", alive0, [t < 10 for t in alive0], engine),
        *_primary_series("mysql-1", ts, [t >= 12 for t in ts], engine),
        # two command labels; mysql-0's counters restart from 0 after the kill
        {"metric": M.commands, "labels": _labels("mysql-0", **{M.command_label: "insert"}), "t": alive0,
         "v": [100.0 * (t - 0.5) if t < 10 else 50.0 * (t - 13.5) for t in alive0]},
        {"metric": M.commands, "labels": _labels("mysql-0", **{M.command_label: "commit"}), "t": alive0,
         "v": [10.0 * (t - 0.5) if t < 10 else 5.0 * (t - 13.5) for t in alive0]},
        {"metric": M.clients, "labels": _labels("mysql-0"), "t": alive0, "v": [8.0] * len(alive0)},
        {"metric": M.clients, "labels": _labels("mysql-1"), "t": ts, "v": [1.0 if t < 12 else 8.0 for t in ts]},
        {"metric": M.lag, "labels": _labels("mysql-1"), "t": [t for t in ts if t < 12], "v": [0.0] * 12},
        {"metric": "ALERTS", "labels": _labels("mysql-0", alertname="MysqlDown", alertstate="firing"),
         "t": [11.5, 12.5], "v": [1.0, 1.0]},
    ]
    return out


def block(**changes) -> dict:
    b = {"observed": True, "missing": None, "scrape_interval_s": 1.0, "load_start_wall": 1764676543.123,
         "exporters": {"mysql-0": "prometheus-mysqld-exporter 0.14.0", "mysql-1": "prometheus-mysqld-exporter 0.14.0"},
         "notes": ["KubeBlocks' Redis exporter collects every 15 s; here redis_exporter is scraped every 1 s"],
         "series_file": None,
         "alerts": [{"alert": "MysqlDown", "kind": "Down", "pod": "mysql-0", "severity": "critical",
                     "firing_from_s": 11.7, "resolved_at_s": 14.0}],
         "time_to_alert": {"alert": "MysqlDown", "kind": "Down", "pod": "mysql-0", "s": 1.7},
         "cross_check": {"valid": True, "tolerance": 0.02, "reasons": [],
                         "window": {"from_s": 0.6, "to_s": 9.6, "pod": "mysql-0", "why": "before the fault"},
                         "commands": [{"command": "insert", "expected": 5120, "observed": 5131,
                                       "diff_fraction": 0.0021, "agree": True}]},
         "role_changes": [{"new_primary": "mysql-1", "evidence_at_s": 12.4, "prometheus_at_s": 13.0, "delta_s": 0.6,
                           "agree": True, "source": "role-controller promote"}],
         "disagreements": []}
    b.update(changes)
    return b


FAILED_CHECK = {"valid": False, "tolerance": 0.02, "reasons": ["the exporter counted fewer inserts than acknowledged"],
                "window": {"from_s": 0.6, "to_s": 9.6, "pod": "mysql-0", "why": "before the fault"},
                "commands": [{"command": "insert", "expected": 5120, "observed": 4000, "diff_fraction": 0.2188,
                              "agree": False},
                             {"command": "commit", "expected": 512, "observed": 513, "diff_fraction": 0.002,
                              "agree": True}]}


def fault_cell(mode: str, obs: dict | None, engine: str = ENGINE) -> dict:
    c = ok_cell(mode, scenario="pod-kill-primary", engine=engine)
    c["fault"] = {"kind": "pod-kill", "target": "primary", "instance": "mysql-0", "injected_at": "2026-12-01T00:00:10",
                  "injected_at_s": 10.0, "duration_s": 0.0, "recovered_at_s": None}
    c["availability"] = {"write_gap_s": 2.5, "rto_s": 2.5, "recovered": True}
    c["observability"] = obs
    return c


def observed_run(tmp_path: Path, kb: dict, sts: dict) -> Path:
    doc = results([ok_cell("kubeblocks", engine=ENGINE), fault_cell("kubeblocks", kb), fault_cell("statefulset", sts)])
    run = write_run_dir(tmp_path / "run", doc, seconds=END)
    stored = json.loads((run / "results.json").read_text())
    for i, c in enumerate(stored["cells"]):  # the series file beside the cell's timeline
        if c.get("observability") and c["observability"].get("observed"):
            rel = str(Path(c["artifacts"]["timeline"]).parent / "observability" / "series.jsonl.gz")
            (run / rel).parent.mkdir(parents=True, exist_ok=True)
            with gzip.open(run / rel, "wt") as fh:
                for s in planted_series():
                    fh.write(json.dumps(s) + "\n")
            stored["cells"][i]["observability"]["series_file"] = rel
    validate(stored)
    (run / "results.json").write_text(json.dumps(stored))
    return run


# -- the server view ---------------------------------------------------------------------------------
@observed_engines
def test_role_is_nan_while_the_pod_is_down_and_follows_the_promotion(engine):
    view = SV.server_view(planted_series(engine), engine, 1.0)
    assert view.pods == ["mysql-0", "mysql-1"]
    role0 = dict(zip(*view.role["mysql-0"], strict=True))
    assert role0[9.5] == 1.0
    assert all(math.isnan(role0[t]) for t in (10.5, 11.5, 12.5, 13.5)), role0
    assert role0[14.5] == 0.0  # came back as a replica
    role1 = dict(zip(*view.role["mysql-1"], strict=True))
    assert role1[11.5] == 0.0 and role1[12.5] == 1.0


@observed_engines
def test_commands_rate_sums_the_command_labels_and_counts_a_reset_as_the_new_value(engine):
    view = SV.server_view(planted_series(engine), engine, 1.0)
    ts, vs = view.commands_s["mysql-0"]
    rate = dict(zip(ts, vs, strict=True))
    assert rate[5.5] == 110.0  # 100 inserts/s + 10 commits/s
    # 9.5 -> 14.5: the counters were not seen for 5 s: no rate; then 50 inserts/s + 5 commits/s again
    assert math.isnan(rate[14.5]) and rate[15.5] == 55.0
    assert SV.counter_rate([(0.0, 10.0), (1.0, 30.0), (2.0, 5.0)]) == ([1.0, 2.0], [20.0, 5.0])  # reset: +5
    ts, vs = SV.counter_rate([(0.0, 900.0), (5.0, 55.0)])
    assert vs == [11.0]  # a reset across a gap: the new value is the increase
    assert math.isnan(SV.counter_rate([(0.0, 900.0), (5.0, 55.0)], max_gap=2.0)[1][0])


@observed_engines
def test_clients_lag_up_and_an_engine_without_exporters(engine):
    view = SV.server_view(planted_series(engine), engine, 1.0)
    assert dict(zip(*view.clients["mysql-1"], strict=True))[12.5] == 8.0
    clients0 = dict(zip(*view.clients["mysql-0"], strict=True))
    assert math.isnan(clients0[10.5]) and 11.5 not in clients0  # the line breaks across the outage
    assert view.lag["mysql-1"][1] == [0.0] * 12
    assert dict(zip(*view.up["mysql-0"], strict=True))[11.5] == 0.0
    assert not SV.server_view(planted_series(), "no-such-engine")


def test_a_scrape_gap_reads_as_not_seen():
    series = [{"metric": METRICS[ENGINE].up, "labels": _labels("p"), "t": [0.0, 1.0, 6.0], "v": [1.0, 1.0, 1.0]},
              *_primary_series("p", [0.0, 1.0, 6.0], [True, True, True])]
    ts, vs = SV.server_view(series, ENGINE, 1.0).role["p"]
    assert ts == [0.0, 1.0, 2.0, 6.0] and math.isnan(vs[2]) and vs[3] == 1.0


def test_every_engine_role_metric_is_exported():
    for engine, m in METRICS.items():
        assert SV.primary_match(engine).metric in m.exported


def test_read_series_round_trips(tmp_path):
    p = tmp_path / "s.jsonl.gz"
    with gzip.open(p, "wt") as fh:
        for s in planted_series():
            fh.write(json.dumps(s) + "\n")
    assert SV.read_series(p) == planted_series()


# -- the figure and the section ----------------------------------------------------------------------
def test_the_server_figure_is_written_per_observed_fault_cell(tmp_path):
    run = observed_run(tmp_path, block(), block(cross_check=FAILED_CHECK))
    paths = render_run_dir(run)
    server = sorted(p.name for p in paths if p.name.endswith("-server.png"))
    assert server == [f"pod-kill-primary-{ENGINE}-kubeblocks-server.png", f"pod-kill-primary-{ENGINE}-statefulset-server.png"]
    raw = (run / "figures" / server[0]).read_bytes()
    assert raw[:8] == b"\x89PNG\r\n\x1a\n" and len(raw) > 20_000
    md = (run / "report.md").read_text()
    assert f"](figures/{server[0]})" in md
    assert md.index("## Timelines per cell") < md.index("## Server view (Prometheus)") < md.index("## Methodology")


def test_section_shows_time_to_alert_and_a_failed_cross_check_as_a_disagreement(tmp_path):
    missing = block(observed=False, missing="Prometheus did not start: port 9090 in use", series_file=None,
                    alerts=[], time_to_alert=None, cross_check=None, role_changes=[])
    run = observed_run(tmp_path, block(cross_check=FAILED_CHECK,
                                       disagreements=["the client saw writes resume at 14.1 s, Prometheus saw no "
                                                      "primary until 15.0 s"]), missing)
    header, rows = O.time_to_alert_table(as_results(json.loads((run / "results.json").read_text())))
    assert header == ("scenario", f"{ENGINE} / kubeblocks", f"{ENGINE} / statefulset")
    assert rows == [("pod-kill-primary", "1.7 s (MysqlDown on mysql-0)",
                     "not observed: Prometheus did not start: port 9090 in use")]
    render_run_dir(run)
    md = (run / "report.md").read_text()
    section = md[md.index("## Server view (Prometheus)"):md.index("## Methodology")]
    assert "| pod-kill-primary | 1.7 s (MysqlDown on mysql-0) | not observed: Prometheus did not start" in section
    assert "**DISAGREE**" in section and "| `insert` | 5120 | 4000 | 21.88 % | **no** |" in section
    dis = section[section.index("### Disagreements"):]
    assert ("the exporter's counters disagree with the client's acknowledged ops: `insert` expected 5120, "
            "observed 4000 (21.88 %); the exporter counted fewer inserts than acknowledged") in dis
    assert "Prometheus saw no primary until 15.0 s" in dis
    assert "| mysql-1 | 12.4 | 13.0 | 0.6 | yes | role-controller promote |" in section
    assert "KubeBlocks' Redis exporter collects every 15 s" in section
    assert "prometheus-mysqld-exporter 0.14.0" in section
    html = (run / "report.html").read_text()
    assert "Server view (Prometheus)" in html and "<strong>DISAGREE</strong>" in html


def test_no_alert_and_a_role_change_prometheus_never_saw():
    obs = block(time_to_alert=None, alerts=[], role_changes=[
        {"new_primary": "mysql-1", "evidence_at_s": 12.4, "prometheus_at_s": None, "delta_s": None, "agree": False,
         "source": "role-controller promote"}])
    res = as_results(results([fault_cell("kubeblocks", obs)]))
    assert O.time_to_alert_table(res)[1] == [("pod-kill-primary", "no alert", "–")]
    (row,) = O.role_rows(res)
    assert row[5] == "**never seen by Prometheus**" and row[7] == "**no**"
    assert any("primary change to mysql-1" in d for d in O.disagreements(res))
    assert ("time to alert", "no alert") in O.drill_rows(res.cells[0])


def test_old_results_without_the_block_say_not_observed_once(tmp_path):
    doc = results([ok_cell("kubeblocks", engine=ENGINE), fault_cell("kubeblocks", None), fault_cell("statefulset", None)])
    for c in doc["cells"]:
        c.pop("observability", None)
    validate(doc)
    run = write_run_dir(tmp_path / "run", copy.deepcopy(doc), seconds=END)
    paths = render_run_dir(run)
    assert not [p for p in paths if p.name.endswith("-server.png")]
    md = (run / "report.md").read_text()
    assert md.count("## Server view (Prometheus)") == 1 and md.count(O.NOT_OBSERVED) == 1
    document, _ = build_document(run, doc, {})
    assert not [b for b in document.blocks if isinstance(b, Figure) and b.rel.endswith("-server.png")]
    assert "not observed in this run" in to_markdown(document)
    assert O.drill_rows(as_results(doc).cells[1]) == [("observability", O.NOT_OBSERVED)]


def test_the_model_reads_the_block_and_its_nulls():
    res = as_results(results([fault_cell("kubeblocks", block(time_to_alert=None, cross_check=None)),
                              fault_cell("statefulset", None)]))
    kb, sts = res.cells
    assert kb.observability and kb.observability.alerts[0].firing_from_s == 11.7
    assert not kb.observability.time_to_alert and kb.observability.time_to_alert.s is None
    assert not kb.observability.cross_check and kb.observability.cross_check.commands == []
    assert kb.observability.role_changes[0].delta_s == 0.6
    assert not sts.observability and sts.observability.alerts == []
