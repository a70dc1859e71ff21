"""The cell's evidence beside the load: the footprint window follows the load's clock, a divergence
check that cannot run is "not checked" (never "matched"), and a running config that differs from the
rendered one is named. Stand-in platforms: these are the cell's rules, the platforms have their own tests."""

from __future__ import annotations

from harness.cell_evidence import FootprintWindow, config_block, config_mismatches, divergence_block
from harness.clock import VirtualClock
from harness.contracts import (
    Deployment,
    DeploySpec,
    LimitsEvidence,
    PodFootprint,
    ReplicaDivergence,
    Topology,
)


def _dep(replicas: int = 2, engine: str = "mysql", mode: str = "kubeblocks") -> Deployment:
    return Deployment(id="d", engine=engine, mode=mode, platform="fake",
                      topology=Topology(replicas, ("zone-a", "zone-b")))


class Meter:
    name = "fake"

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []
        self.clock: VirtualClock | None = None

    def footprint_begin(self, dep: Deployment) -> None:
        self.calls.append(("begin", self.clock.now_us()))

    def footprint_end(self, dep: Deployment) -> list[PodFootprint]:
        self.calls.append(("end", self.clock.now_us()))
        return [PodFootprint("mysql-0", "data", 1.23456, 100, 200, "test")]

    def limits_evidence(self, dep: Deployment) -> LimitsEvidence:
        return LimitsEvidence(True, "test", "0.5", "0.5Gi")


def test_footprint_window_opens_at_the_load_start_and_closes_at_the_steady_end():
    clock = VirtualClock(start_us=0)
    meter = Meter()
    meter.clock = clock
    w = FootprintWindow(meter, _dep(), start_us=3_000_000, end_us=9_000_000, clock=clock)
    while clock.now_us() < 12_000_000:
        w.tick()
        clock.sleep(0.5)
    w.finish()  # after the poll closed it: nothing more
    assert meter.calls == [("begin", 3_000_000), ("end", 9_000_000)]
    assert w.block["window_s"] == 6.0 and w.block["pods"][0]["cpu_s"] == 1.2346
    assert w.block["limits"] == {"enforced": True, "how": "test", "cpu": "0.5", "memory": "0.5Gi"}


def test_footprint_window_closed_early_when_the_load_ends_first_and_absent_without_a_meter():
    clock = VirtualClock(start_us=0)
    meter = Meter()
    meter.clock = clock
    w = FootprintWindow(meter, _dep(), start_us=0, end_us=10_000_000, clock=clock)
    w.tick()
    clock.sleep(4)
    w.finish()
    assert [c for c, _ in meter.calls] == ["begin", "end"] and w.block["window_s"] == 4.0
    bare = FootprintWindow(object(), _dep(), 0, 1, clock)  # a platform without Footprints
    bare.tick()
    bare.finish()
    assert bare.block is None


class Diverging:
    name = "fake"

    def __init__(self, result=None, error=None):
        self.result, self.error = result, error

    def divergence(self, dep: Deployment) -> list[ReplicaDivergence]:
        if self.error:
            raise self.error
        return self.result


def test_divergence_is_recorded_and_a_failed_check_is_not_checked():
    found = [ReplicaDivergence("mysql-0", "mysql-1", "CHECKSUM TABLE", 9, ("openIM_v3.users",), "50 vs 51 rows")]
    block = divergence_block(Diverging(found), _dep())
    assert block["checked"] and block["diverged"] == 1 and block["replicas"][0]["differing"] == ["openIM_v3.users"]
    failed = divergence_block(Diverging(error=TimeoutError("replica never caught up")), _dep())
    assert failed["checked"] is False and "never caught up" in failed["reason"] and failed["diverged"] == 0
    class NoCheck:
        name = "fake"

    assert divergence_block(NoCheck(), _dep())["checked"] is False  # a platform without the check
    assert divergence_block(Diverging([]), _dep(replicas=1)) is None  # one instance: nothing to compare


def test_config_mismatches_name_the_pod_and_both_values():
    rendered = {"max_connections": "83", "general_log": "ON"}
    applied = {"mysql-0": {"max_connections": "83", "general_log": "ON"},
               "mysql-1": {"max_connections": "151", "general_log": "ON"}}
    assert config_mismatches(rendered, applied) == ["mysql-1: max_connections rendered 83, running 151"]


def test_config_block_from_the_engine_render_when_the_platform_reads_nothing_back():
    block = config_block(object(), _dep(), DeploySpec())
    assert block["params"]["max_connections"] == "83" and block["applied"] is None
    sts = config_block(object(), _dep(1, mode="statefulset"), DeploySpec(cpu="1", memory="1Gi"))
    assert sts["cpu"] == "1" and sts["params"] != block["params"]
