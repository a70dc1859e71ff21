"""Scenarios are declarations: the registry, applicability, per-profile timings and the quick budget."""

from __future__ import annotations

import pytest

import scenarios
from harness.config import PROFILES, build_settings
from harness.contracts import MODES, DeploySpec
from harness.errors import HarnessError
from harness.plan import plan_cells, planned_total_s
from harness.workload.base import check_mix

NAMES = ["steady", "connection-limits", "capacity", "pod-kill-primary", "pod-kill-secondary", "switchover", "rolling-restart", "scale-out", "upgrade",
         "backup-restore", "zone-outage", "zone-partition"]


def test_registry_lists_every_scenario_in_run_order():
    assert list(scenarios.load_scenarios()) == NAMES


def test_get_accepts_underscores_and_rejects_unknown_names():
    assert scenarios.get("pod_kill_primary").name == "pod-kill-primary"
    with pytest.raises(HarnessError, match="unknown scenario 'pod-kill'; accepted: steady, connection-limits, capacity, pod-kill-primary"):
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


def test_quick_plan_for_mysql_and_redis_on_local_fits_the_30_minute_budget():
    """`make poc`: 18 fault cells, 12 day-2 cells (switchover and scale-out have no statefulset side;
    upgrade needs a second server version, which local lacks), 4 connection-limit cells and 4 capacity
    searches, planned at every step (a search usually stops two or three steps sooner)."""
    s = build_settings("quick")
    cells = plan_cells(scenarios.select([]), ["mysql", "redis"], list(MODES), s, platform="local")
    assert sum(c.runnable() for c in cells) == 38
    assert planned_total_s(cells, s.cell_overhead_s) <= 30 * 60


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


@pytest.mark.parametrize("name", ["zone-outage", "zone-partition"])
@pytest.mark.parametrize("profile", PROFILES)
def test_zone_faults_are_held_at_least_90_s_on_kind_and_the_plan_says_so(name, profile):
    """Issue 11 #2: on kind the dead primary stays in the Service for node-monitor-grace-period (50 s)."""
    s = build_settings(profile, overrides={"timings": {"*": {"fault_s": 5}}})  # even a settings file cannot go lower
    kind = [c for c in plan_cells([scenarios.get(name)], ["redis"], ["kubeblocks"], s, platform="kind")]
    local = [c for c in plan_cells([scenarios.get(name)], ["redis"], ["kubeblocks"], s, platform="local")]
    assert kind[0].timings.fault_s >= 90 and kind[0].fault.duration_s >= 90
    assert local[0].timings.fault_s == 5 and local[0].timing_note is None
    assert any("recover after 90 s (kind's minimum for this scenario; its timings say 5 s)" in step
               for step in kind[0].steps())
    k8s = plan_cells([scenarios.get(name)], ["redis"], ["kubeblocks"], s, platform="k8s")
    assert k8s[0].timings.fault_s == 5, "k8s force-deletes the zone's pods: no grace period to outlast"


def test_a_platform_floor_is_only_for_held_faults():
    from harness.config import Timings
    from scenarios.base import FaultDecl, Scenario

    held = {p: Timings(fault_s=30) for p in PROFILES}
    with pytest.raises(ValueError, match="min_fault_s"):
        Scenario("x", "x", "x", FaultDecl("pod-kill"), {p: Timings() for p in PROFILES}, min_fault_s={"kind": 90})
    with pytest.raises(ValueError, match="min_fault_s 'vm'"):
        Scenario("x", "x", "x", FaultDecl("zone-outage"), held, min_fault_s={"vm": 90})
