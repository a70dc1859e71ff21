"""The pure parts of the server's view: alert rules and the local Prometheus config (checked by
Prometheus' own promtool), alert episodes and the time to alert, the op-count cross-check and the
primary-change agreement, and the loopback-only query client. No server is started here."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
import yaml

from harness.errors import HarnessError
from harness.observe import alerts, rules
from harness.observe import crosscheck as xc
from harness.observe.metrics import METRICS
from harness.observe.promapi import Series, check_loopback
from harness.platforms.local.prometheus import config_text

PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool comes with the Debian package prometheus")


def test_rules_cover_every_engine_and_keep_the_pod_and_deployment():
    doc = yaml.safe_load(rules.rules_text())
    assert [g["name"] for g in doc["groups"]] == [f"{e}-alerts" for e in METRICS]
    for g in doc["groups"]:
        kinds = {r["labels"]["fault_alert"] for r in g["rules"]}
        assert set(rules.FAULT_ALERTS) <= kinds and {"Restarted", "ReplicationLag"} <= kinds
        assert all(r["for"] == "0s" for r in g["rules"])
        assert all(r["alert"].startswith(g["name"].split("-")[0].capitalize()) for r in g["rules"])


@needs_promtool
def test_promtool_accepts_the_rules_and_the_local_config(tmp_path):
    rules_file = tmp_path / "rules.yml"
    rules_file.write_text(rules.rules_text())
    out = subprocess.run([PROMTOOL, "check", "rules", str(rules_file)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    (tmp_path / "targets").mkdir()
    conf = tmp_path / "prometheus.yml"
    conf.write_text(config_text(tmp_path / "targets", rules_file))
    out = subprocess.run([PROMTOOL, "check", "config", str(conf)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    c = json.loads(conf.read_text())
    assert c["global"]["scrape_interval"] == c["global"]["evaluation_interval"] == "1s"


def firing(name, kind, t, pod="p0", state="firing"):
    return Series("ALERTS", {"alertname": name, "fault_alert": kind, "alertstate": state, "pod": pod,
                             "severity": "critical"}, t, [1.0] * len(t))


def test_episodes_split_on_gaps_and_the_time_to_alert_skips_what_fired_before_the_fault():
    found = alerts.episodes([firing("XRestarted", "Restarted", [0, 1, 2, 3, 10]),
                             firing("XDown", "Down", [-3, -2, 6.4, 7.4, 8.4]),
                             firing("XDown", "Down", [5.9], state="pending")], 1.0, 10.5)
    assert [(e.alert, e.firing_from_s, e.resolved_at_s) for e in found] == [
        ("XDown", -3, -1.0), ("XRestarted", 0, 4.0), ("XDown", 6.4, 9.4), ("XRestarted", 10, None)]
    tta = alerts.time_to_alert(found, 6.0)
    assert tta == {"alert": "XDown", "kind": "Down", "pod": "p0", "s": 0.4}
    assert alerts.time_to_alert(found, None) is None
    assert alerts.time_to_alert([e for e in found if e.kind == "Restarted"], 6.0) is None  # not a fault alert


def counter(t, v, cmd="insert"):
    return Series("c", {"pod": "p0", "command": cmd}, t, v)


def test_compare_agrees_within_two_percent_or_within_the_in_flight_band_and_names_what_differs():
    window = {"pod": "p0", "why": "before the fault", "from_s": 1.0, "to_s": 5.0}
    counters = {"insert": counter([0, 1, 2, 5], [10, 20, 500, 1020])}
    assert xc.compare(counters, {"insert": (1000, 990, 1010)}, window).valid
    assert xc.compare(counters, {"insert": (1019, 1019, 1019)}, window).valid  # 1.9 % apart
    bad = xc.compare(counters, {"insert": (1050, 1049, 1051)}, window)
    assert not bad.valid and bad.commands[0].observed == 1000 and "1050" in bad.reasons[0]
    band = xc.compare(counters, {"insert": (1100, 990, 1100)}, window)  # 9 % apart, but ops were in flight
    assert band.valid


def test_compare_refuses_a_reset_and_counts_a_counter_born_later_from_zero():
    window = {"pod": "p0", "why": "w", "from_s": 1.0, "to_s": 5.0}
    reset = xc.compare({"insert": counter([1, 2, 5], [500, 3, 40])}, {"insert": (40, 40, 40)}, window)
    assert not reset.valid and "reset" in reset.reasons[0]
    born = xc.compare({"evalsha": counter([3, 5], [7, 40], "evalsha")}, {"evalsha": (40, 40, 40)}, window)
    assert born.valid and born.commands[0].observed == 40
    missing = xc.compare({}, {"insert": (5, 5, 5)}, window)
    assert not missing.valid and "no counter sample" in missing.reasons[0]


def test_primary_transitions_ignore_a_restart_in_place_and_agreement_names_both_sides():
    roles = {"a": [(0.0, True), (1.0, True), (2.0, False), (5.0, True), (6.0, True)],
             "b": [(0.0, False), (3.0, True), (4.0, True), (5.5, False)]}
    # b sole primary from 3.0; at 5.0 both say primary (no sole one); a sole again at 5.5
    assert xc.primary_transitions(roles) == [(3.0, "b"), (5.5, "a")]
    assert xc.primary_at(roles, 5.2) is None
    got = xc.role_agreement([xc.Evidence(2.6, "b", "promote"), xc.Evidence(9.0, "c", "promote")],
                            xc.primary_transitions(roles), 1.0)
    assert [(g.new_primary, g.agree, g.delta_s) for g in got] == [("b", True, 0.4), ("c", False, None), ("a", False, None)]
    assert got[2].evidence_at_s is None and got[1].prometheus_at_s is None
    # a restart in place (no samples while down) is no change; two pods alternating "primary" samples are none
    assert xc.primary_transitions({"a": [(0.0, True), (9.0, True)]}) == []
    split = {"a": [(0.0, True), (1.0, True), (2.0, True)], "b": [(0.5, False), (1.5, True), (2.5, True)]}
    assert xc.primary_transitions(split) == []


def test_primary_samples_read_the_engines_role_metrics():
    series = [Series("mysql_global_variables_read_only", {"pod": "m0"}, [1, 2], [0, 1]),
              Series("redis_instance_info", {"pod": "r0", "role": "master"}, [1], [1]),
              Series("redis_instance_info", {"pod": "r1", "role": "slave"}, [1], [1])]
    assert xc.primary_samples(series, METRICS["mysql"].primary_sample) == {"m0": [(1, True), (2, False)]}
    assert xc.primary_samples(series, METRICS["redis"].primary_sample) == {"r0": [(1, True)], "r1": [(1, False)]}


@pytest.mark.parametrize("url", ["http://10.0.0.1:9090", "http://example.com", "http://192.168.1.2:30090"])
def test_the_query_client_only_talks_to_loopback(url):
    with pytest.raises(HarnessError, match="127.0.0.0/8"):
        check_loopback(url)


def test_the_query_client_accepts_loopback():
    assert check_loopback("http://127.0.0.1:9090/") == "http://127.0.0.1:9090"
    assert check_loopback("http://127.3.4.5:1") == "http://127.3.4.5:1"
