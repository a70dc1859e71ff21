"""Day-2 operations, the pure parts: KubeBlocks' update order, the end state, the restored copy's
consistent cut, the operation checker's verdict and the nemesis record of an operation window."""

from __future__ import annotations

import pytest

from harness.checker.operation import OperationEvidence, OperationResult, judge_restore
from harness.contracts import Deployment, Fault, OpOutcome, OpStep, PodInfo, ReplicaState, Topology
from harness.faults import FaultWindow, NemesisLog, inject, read_windows
from harness.history import AckedWrite
from harness.operations import EndState, instanceset_order, statefulset_order


def pod(name, role, alive=True):
    return PodInfo(name=name, zone="zone-a", role=role, host="127.0.0.1", port=1, alive=alive)


def test_instanceset_order_is_unknown_roles_then_secondaries_highest_ordinal_first_then_the_primary():
    pods = [pod("mysql-0", "primary"), pod("mysql-1", "secondary"), pod("mysql-2", "secondary"),
            pod("mysql-3", None, alive=False), pod("sentinel-0", "sentinel")]
    assert [p.name for p in instanceset_order(pods)] == ["mysql-3", "mysql-2", "mysql-1", "mysql-0"]
    # after a failover the primary is the highest ordinal: it still goes last
    pods = [pod("redis-0", "secondary"), pod("redis-1", "primary")]
    assert [p.name for p in instanceset_order(pods)] == ["redis-0", "redis-1"]
    assert [p.name for p in statefulset_order(pods)] == ["redis-1", "redis-0"], "a StatefulSet knows no roles"


def w(i, invoke_s, ack_s):
    return AckedWrite(stream="s", id=f"m{i}", seq=i, ack_us=int(ack_s * 1e6), invoke_us=int(invoke_s * 1e6))


def test_restored_copy_holding_a_prefix_is_consistent():
    writes = [w(i, i, i + 0.01) for i in range(10)]
    read = [(x, x.ack_us < 6e6) for x in writes]  # everything acked before ~6 s is in the copy
    r = judge_restore(read, backup_started_us=5_500_000, load_start_us=0, duration_s=2.0)
    assert r.valid and r.holes == 0 and r.found == 6 and r.missing == 4
    assert r.consistent_point_us == 5_000_000 and r.stale_s == 0.5  # the newest write it holds was sent at 5 s
    assert r.to_results()["consistent_point_s"] == 5.0


def test_a_write_missing_before_the_consistent_point_is_a_hole_and_is_named():
    writes = [w(i, i, i + 0.01) for i in range(10)]
    read = [(x, x.ack_us < 6e6 and x.id != "m2") for x in writes]  # m2 was planted away
    r = judge_restore(read, backup_started_us=5_000_000, load_start_us=0, duration_s=2.0)
    assert not r.valid and r.holes == 1
    assert [h.id for h in r.first_holes] == ["m2"]
    assert r.to_results()["first_holes"] == [{"stream": "s", "id": "m2", "ack_s": 2.01}]
    assert "1 writes acknowledged before the backup's consistent point" in r.reasons[0]


def test_a_copy_older_than_the_backup_is_stale():
    writes = [w(i, i, i + 0.01) for i in range(10)]
    read = [(x, x.ack_us < 3e6) for x in writes]  # holds nothing after 2 s, the backup began at 6 s
    r = judge_restore(read, backup_started_us=6_000_000, load_start_us=0, duration_s=1.0)
    assert r.holes == 0 and r.stale_s == 4.0 and not r.valid
    assert "4.00 s older than the backup's start" in r.reasons[0]


def test_end_state_needs_exactly_one_primary_and_healthy_replicas():
    ok = EndState((ReplicaState("a", "primary", True), ReplicaState("b", "secondary", True)), 0.2)
    assert ok.healthy and ok.reasons == ()
    two = EndState((ReplicaState("a", "primary", True), ReplicaState("b", "primary", True)), None)
    assert not two.healthy and two.reasons[0].startswith("2 primaries after the operation (a, b)")
    behind = EndState((ReplicaState("a", "primary", True), ReplicaState("b", "secondary", False, "behind=3")), None)
    assert not behind.healthy and behind.reasons == ("b (secondary): behind=3",)


def _result(end_state, recovered_at_us, load_end_us=20_000_000, restore=None):
    window = FaultWindow(kind="rolling-restart", target="primary", instances=("a",), zone=None,
                         injected_at_us=6_000_000, injected_at_wall=1000.0, recovered_at_us=recovered_at_us,
                         recovered_at_wall=None, planned_duration_s=0.0, operation=True)
    outcome = OpOutcome(steps=(OpStep("b", "restart", 1000.0, 1002.5), OpStep("a", "switchover", 1002.5, 1003.0)),
                        source="local emulation")
    ev = OperationEvidence(kind="rolling-restart", outcome=outcome, end_state=end_state, primary_before="a",
                           primary_changes=1, restore=restore)
    return OperationResult(ev, window, load_start_us=0, load_end_us=load_end_us)


def test_operation_result_places_steps_on_the_load_clock_and_judges_the_end_state():
    healthy = EndState((ReplicaState("a", "secondary", True), ReplicaState("b", "primary", True)), 0.0)
    r = _result(healthy, 9_000_000)
    out = r.to_results()
    assert r.valid and out["within_load"] and out["duration_s"] == 3.0
    assert [(s["pod"], s["at_s"], s["done_s"]) for s in out["steps"]] == [("b", 6.0, 8.5), ("a", 8.5, 9.0)]
    assert out["primary_before"] == "a" and out["primary_after"] == "b" and out["primary_changes"] == 1
    sick = EndState((ReplicaState("a", "primary", True), ReplicaState("b", "primary", True)), None)
    assert not _result(sick, 9_000_000).valid
    late = _result(healthy, 25_000_000)
    assert not late.valid and "did not finish before the load ended" in late.reasons[0]


class OpPlatform:
    """A stand-in with the operation primitives (no server can run inside a unit test of the record)."""

    name = "fake"

    def pods(self, dep):
        return [pod("x-0", "primary"), pod("x-1", "secondary")]

    def rolling_restart(self, dep, order):
        self.order = [p.name for p in order]
        return OpOutcome(steps=tuple(OpStep(p.name, "restart", 0.0, 0.0) for p in order), source="fake")

    def _unused(self, *a):
        raise AssertionError("not called here")

    switchover = scale_out = upgrade = backup = restore = replication_state = _unused


def test_an_operation_is_recorded_from_its_start_to_its_end(tmp_path):
    dep = Deployment(id="d", engine="mysql", mode="kubeblocks", platform="fake", topology=Topology(2, ("zone-a",)))
    platform = OpPlatform()
    path = tmp_path / "nemesis.jsonl"
    active = inject(platform, dep, Fault("rolling-restart"), record=NemesisLog(path))  # type: ignore[arg-type]
    assert platform.order == ["x-1", "x-0"], "the nemesis decides the order: secondary first"
    assert active.outcome is not None and active.recovered
    (window,) = read_windows(path)
    assert window.operation and not window.one_shot
    assert window.held_until_us == window.recovered_at_us >= window.injected_at_us


def test_a_platform_without_operations_makes_the_cell_not_applicable():
    from harness.errors import CellNotApplicable

    class Bare:
        name = "bare"
        pods = OpPlatform.pods

    dep = Deployment(id="d", engine="mysql", mode="kubeblocks", platform="fake", topology=Topology(2, ("zone-a",)))
    with pytest.raises(CellNotApplicable, match="no day-2 operations"):
        inject(Bare(), dep, Fault("switchover"))  # type: ignore[arg-type]
