"""The noop parts compose a real `run_cell` that touches nothing (what the dry run is built from)."""

from __future__ import annotations

from _runfakes import FakePlatform

from harness.cell import CellEnv, run_cell
from harness.checker import CheckInput
from harness.clock import VirtualClock
from harness.config import build_settings
from harness.noop import NoopChecker, NoopWorkload
from harness.plan import plan_cells
from harness.scenario import Scenario


def _cell(name: str, engine: str = "redis", mode: str = "kubeblocks"):
    from harness import catalog

    scenario: Scenario = catalog.get(name)
    (plan,) = [c for c in plan_cells([scenario], [engine], [mode], build_settings("quick"), {}) if c.runnable()]
    return plan


def test_a_cell_of_noop_parts_runs_the_real_order_on_a_virtual_clock(tmp_path):
    clock = VirtualClock(start_us=0, wall_at_start=1_700_000_000.0)
    notes: list[str] = []
    platform = FakePlatform()
    env = CellEnv(platform=platform, workload=NoopWorkload(clock, note=notes.append), settings=build_settings("quick"),
                  run_dir=tmp_path, clock=clock)
    plan = _cell("pod-kill-primary")
    rec = run_cell(env, plan)
    assert rec["status"] == "ok", rec["reason"]
    assert platform.deployed == platform.torn == ["redis-kubeblocks-0"]
    assert platform.injections == [("kill", "fake-0")], "the nemesis aimed at the primary and killed it once"
    assert rec["fault"]["injected_at_s"] == plan.timings.before_fault_s, "injected on schedule, on the virtual clock"
    assert clock.now_us() >= (plan.timings.warmup_s + plan.timings.load_s) * 1e6, "the load's window passed"
    assert notes == ["workload connects to redis/kubeblocks 127.0.0.1:1 (direct); steady window, then the fault"]
    assert (tmp_path / "cells" / plan.dir_name / "history" / "nemesis.jsonl").exists()


def test_a_fault_the_platform_lacks_makes_the_cell_not_applicable(tmp_path):
    class NoPartition(FakePlatform):
        def partition(self, dep, zone, pods):
            from harness.errors import CellNotApplicable

            raise CellNotApplicable("no network control here")

    clock = VirtualClock()
    platform = NoPartition()
    env = CellEnv(platform=platform, workload=NoopWorkload(clock), settings=build_settings("quick"),
                  run_dir=tmp_path, clock=clock)
    rec = run_cell(env, _cell("zone-partition"))
    assert (rec["status"], rec["reason"]) == ("not-applicable", "no network control here")
    assert platform.torn == platform.deployed, "torn down all the same"


def test_the_noop_checker_judges_nothing_and_says_so():
    m = NoopChecker().check(CheckInput(history_paths=(), load_start_us=0, load_end_us=10))
    assert m.to_results()["verdict"] == {"valid": True, "anomaly_types": [], "checkers": {}}
    assert m.notes == ["nothing was checked: the noop checker"]


def test_a_cell_without_a_fault_runs_the_noop_nemesis(tmp_path):
    clock = VirtualClock()
    platform = FakePlatform()
    env = CellEnv(platform=platform, workload=NoopWorkload(clock), settings=build_settings("quick"),
                  run_dir=tmp_path, clock=clock)
    rec = run_cell(env, _cell("steady"))
    assert (rec["status"], rec["fault"]) == ("ok", None)
    assert platform.injections == [] and platform.torn == platform.deployed
    assert not (tmp_path / "cells" / "steady-redis-kubeblocks" / "history" / "nemesis.jsonl").exists()
