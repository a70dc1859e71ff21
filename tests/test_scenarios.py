"""Scenarios are declarations: the registry, applicability, per-profile timings and the quick budget."""

from __future__ import annotations

import pytest

import scenarios
from harness.config import PROFILES, build_settings
from harness.errors import HarnessError
from harness.plan import plan_cells, planned_total_s
from harness.platforms.base import MODES, DeploySpec
from harness.workload.base import check_mix

NAMES = ["steady", "pod-kill-primary", "pod-kill-secondary", "zone-outage", "zone-partition"]


def test_registry_lists_every_scenario_in_run_order():
    assert list(scenarios.load_scenarios()) == NAMES


def test_get_accepts_underscores_and_rejects_unknown_names():
    assert scenarios.get("pod_kill_primary").name == "pod-kill-primary"
    with pytest.raises(HarnessError, match="unknown scenario 'pod-kill'; accepted: steady, pod-kill-primary"):
        scenarios.get("pod-kill")


def test_select_keeps_run_order_and_splits_commas():
    got = [s.name for s in scenarios.select(["zone-outage,steady"])]
    assert got == ["steady", "zone-outage"]
    assert len(scenarios.select([])) == len(NAMES)


def test_pod_kill_secondary_is_not_applicable_to_statefulset_with_reason():
    sc = scenarios.get("pod-kill-secondary")
    reason = sc.not_applicable_reason("redis", "statefulset")
    assert reason and "one instance" in reason
    assert sc.not_applicable_reason("redis", "kubeblocks") is None


@pytest.mark.parametrize("name", NAMES)
def test_every_scenario_declares_timings_for_every_profile_and_valid_mixes(name):
    sc = scenarios.get(name)
    for p in PROFILES:
        t = sc.timings_for(p)
        assert t.load_s > 0
        assert (t.fault_s > 0) == (sc.fault is not None and sc.fault.kind in ("zone-outage", "zone-partition"))
    from harness.workload import mysql, redis

    check_mix(sc.mix["redis"], redis.OPS, "redis")
    check_mix(sc.mix["mysql"], mysql.OPS, "mysql")


@pytest.mark.parametrize("name", ["zone-outage", "zone-partition"])
def test_zone_faults_outlast_sentinel_detection_in_every_profile(name):
    """Redis kubeblocks can only fail over if the fault lasts longer than down-after (+ election)."""
    down_after_s = DeploySpec().sentinel_down_after_ms / 1000
    for p in PROFILES:
        assert scenarios.get(name).timings_for(p).fault_s >= down_after_s + 5


def test_quick_plan_for_mysql_and_redis_fits_the_15_minute_budget():
    s = build_settings("quick")
    cells = plan_cells(scenarios.select([]), ["mysql", "redis"], list(MODES), s)
    assert sum(c.runnable() for c in cells) == 18
    assert planned_total_s(cells, s.cell_overhead_s) <= 15 * 60


def test_bad_declarations_are_refused():
    from harness.config import Timings
    from scenarios.base import FaultDecl, Scenario

    t = Timings()
    with pytest.raises(ValueError, match="no timings"):
        Scenario("x", "x", "x", None, {"quick": t})
    with pytest.raises(ValueError, match="fault kind"):
        FaultDecl("meteor")
    with pytest.raises(ValueError, match="names no mode"):
        Scenario("x", "x", "x", None, {p: t for p in PROFILES}, not_applicable={"vm": "no"})
