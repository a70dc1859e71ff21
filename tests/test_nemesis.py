"""The nemesis over platform primitives: one targeting rule, recovery scheduled once, its own history.

Pure (a recording stand-in platform, a virtual clock): the real primitives are exercised by the
local platform's tests against real servers and by the fake-cluster tests of kind/k8s."""

from __future__ import annotations

import json

import pytest

from harness.clock import VirtualClock
from harness.contracts import FAULT_KINDS, Deployment, Fault, PodInfo, Topology
from harness.errors import CellNotApplicable, HarnessError
from harness.faults import (
    ACTIONS,
    NEMESIS,
    FaultTargetError,
    FaultWindow,
    Nemesis,
    NemesisEvent,
    inject,
    pick_pod,
    pick_zone,
    read_windows,
)

S = 1_000_000


def pods(*spec: tuple[str, str, str | None, bool]) -> list[PodInfo]:
    return [PodInfo(name, zone, role, "127.0.0.1", 1, alive) for name, zone, role, alive in spec]  # type: ignore[arg-type]


KB = pods(("r-0", "zone-a", "primary", True), ("r-1", "zone-b", "secondary", True),
          ("s-0", "zone-a", "sentinel", True), ("s-1", "zone-b", "sentinel", True), ("s-2", "zone-c", "sentinel", True))


class Recorder:
    """A platform that only records the primitives the nemesis asks for."""

    name = "recorder"

    def __init__(self, shown: list[PodInfo], refuse: str | None = None):
        self.shown = shown
        self.refuse = refuse
        self.calls: list[tuple[str, str]] = []

    def pods(self, dep):
        return self.shown

    def _do(self, what: str, arg: str) -> None:
        if what == self.refuse:
            raise CellNotApplicable(f"{what} is not possible here")
        self.calls.append((what, arg))

    def kill(self, dep, pod):
        self._do("kill", pod.name)

    def pause(self, dep, pod):
        self._do("pause", pod.name)

    def resume(self, dep, pod):
        self._do("resume", pod.name)

    def zone_down(self, dep, zone, hit):
        self._do("zone_down", f"{zone}:{','.join(p.name for p in hit)}")

    def zone_up(self, dep, zone, hit):
        self._do("zone_up", zone)

    def partition(self, dep, zone, hit):
        self._do("partition", zone)

    def heal(self, dep, zone, hit):
        self._do("heal", zone)


def dep(mode: str = "kubeblocks") -> Deployment:
    return Deployment("redis-kb", "redis", mode, "recorder", Topology(2, ("zone-a", "zone-b")))


def test_every_declared_fault_kind_has_an_action():
    assert tuple(ACTIONS) == FAULT_KINDS


def test_targeting_is_one_rule_for_every_platform():
    assert pick_pod(KB, "primary", "kubeblocks").name == "r-0"
    assert pick_pod(KB, "secondary", "kubeblocks").name == "r-1"
    assert pick_pod(KB, "s-2", "kubeblocks").name == "s-2"
    assert pick_zone(KB, "primary") == "zone-a" and pick_zone(KB, "zone-c") == "zone-c"
    two = pods(("r-0", "zone-a", "primary", True), ("r-1", "zone-b", "primary", True))
    with pytest.raises(FaultTargetError, match=r"2 pods report primary \(r-0, r-1\)"):
        pick_pod(two, "primary", "kubeblocks")
    with pytest.raises(FaultTargetError, match="0 pods report primary"):
        pick_zone(pods(("r-0", "zone-a", None, False)), "primary")
    with pytest.raises(CellNotApplicable, match="statefulset deployment has no secondary"):
        pick_pod(KB, "secondary", "statefulset")
    with pytest.raises(HarnessError, match="no such pod"):
        pick_pod(KB, "r-9", "kubeblocks")
    with pytest.raises(HarnessError, match="expected 'primary' or one of zone-a"):
        pick_zone(KB, "zone-z")


def test_a_secondary_target_prefers_a_live_one():
    shown = pods(("m-0", "zone-a", "primary", True), ("m-1", "zone-b", None, False), ("m-2", "zone-c", "secondary", True))
    assert pick_pod(shown, "secondary", "kubeblocks").name == "m-2"


def test_a_zone_fault_hits_every_pod_of_the_primarys_zone_sentinels_too():
    rec = Recorder(KB)
    active = inject(rec, dep(), Fault("zone-outage", "primary", 10), clock=VirtualClock())
    assert rec.calls == [("zone_down", "zone-a:r-0,s-0")]
    assert (active.zone, active.instances, active.recovered) == ("zone-a", ("r-0", "s-0"), False)
    active.recover()
    active.recover()
    assert rec.calls[1:] == [("zone_up", "zone-a")], "recovered once"


def test_the_schedule_injects_then_recovers_once_and_writes_its_own_history(tmp_path):
    clock = VirtualClock(start_us=100 * S, wall_at_start=1_700_000_000.0)
    rec = Recorder(KB)
    heard: list[NemesisEvent] = []
    path = tmp_path / "history" / "nemesis.jsonl"
    nemesis = Nemesis(rec, dep(), Fault("pod-freeze", "primary", 5), at_us=106 * S, clock=clock, history=path,
                      observe=heard.append).start()  # a virtual clock: the whole schedule runs inline
    nemesis.stop()
    assert rec.calls == [("pause", "r-0"), ("resume", "r-0")]
    assert [e.name for e in heard] == ["aimed", "injected", "recovered"]
    (w,) = read_windows(path)
    assert (w.kind, w.instances, w.injected_at_us, w.recovered_at_us) == ("pod-freeze", ("r-0",), 106 * S, 111 * S)
    assert w.duration_s == 5.0 and w.held_until_us == 111 * S and nemesis.window() == w
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert {x["p"] for x in lines} == {NEMESIS}
    assert [(x["type"], x["f"]) for x in lines] == [("invoke", "start"), ("info", "start"), ("invoke", "stop"),
                                                    ("info", "stop")]


def test_a_one_shot_kill_is_recovered_when_it_is_injected(tmp_path):
    rec = Recorder(KB)
    path = tmp_path / "nemesis.jsonl"
    nemesis = Nemesis(rec, dep(), Fault("pod-kill", "primary"), at_us=0, clock=VirtualClock(), history=path).start()
    nemesis.stop()
    (w,) = read_windows(path)
    assert rec.calls == [("kill", "r-0")]
    assert w.one_shot and w.recovered_at_us == w.injected_at_us and w.held_until_us is None and w.duration_s == 0
    assert w.to_results(w.injected_at_us - 6 * S)["injected_at_s"] == 6.0


def test_a_primitive_the_platform_lacks_makes_the_cell_not_applicable_and_is_recorded_as_fail(tmp_path):
    rec = Recorder(KB, refuse="partition")
    heard: list[NemesisEvent] = []
    path = tmp_path / "nemesis.jsonl"
    nemesis = Nemesis(rec, dep(), Fault("zone-partition", "primary", 5), at_us=0, clock=VirtualClock(),
                      history=path, observe=heard.append).start()
    nemesis.stop()
    assert isinstance(nemesis.error, CellNotApplicable) and not nemesis.injected
    assert heard[-1].name == "refused" and heard[-1].reason == "partition is not possible here"
    assert read_windows(path) == []
    assert [json.loads(x)["type"] for x in path.read_text().splitlines()] == ["invoke", "fail"]


def test_stop_before_the_fault_is_due_cancels_it():
    import threading

    from harness.clock import RealClock
    from harness.history import now_us

    rec = Recorder(KB)
    nemesis = Nemesis(rec, dep(), Fault("pod-kill"), at_us=now_us() + 3600 * S, clock=RealClock()).start()
    done = threading.Event()
    threading.Thread(target=lambda: (nemesis.stop(), done.set()), daemon=True).start()
    assert done.wait(10), "stop() returns without waiting for a fault due in an hour"
    assert rec.calls == [] and nemesis.window() is None


def test_an_unrecovered_window_has_no_end(tmp_path):
    path = tmp_path / "nemesis.jsonl"
    rec = Recorder(KB)
    inject(rec, dep(), Fault("zone-outage", "zone-b", 30), clock=VirtualClock(), record=_log(path))
    (w,) = read_windows(path)
    assert w.recovered_at_us is None and w.held_until_us is None and w.duration_s == 30


def test_a_window_from_its_times_alone():
    assert FaultWindow.of("pod-kill", 5 * S).held_until_us is None
    held = FaultWindow.of("pod-freeze", 5 * S, 7 * S)
    assert held.held_until_us == 7 * S and held.duration_s == 2.0


def _log(path):
    from harness.faults import NemesisLog

    return NemesisLog(path)


def test_a_slow_platform_view_does_not_delay_the_fault_past_its_due_time(tmp_path):
    """The target is read ahead (AIM_AHEAD_US): a pods() call that takes 0.4 s (kubectl, or asking each
    mysql server its read_only) must not push the injection later."""
    from harness.faults import AIM_AHEAD_US

    clock = VirtualClock(start_us=0)

    class SlowView(Recorder):
        def pods(self, dep):
            clock.sleep(0.4)
            return self.shown

    path = tmp_path / "nemesis.jsonl"
    Nemesis(SlowView(KB), dep(), Fault("pod-kill"), at_us=6 * S, clock=clock, history=path).start().stop()
    (w,) = read_windows(path)
    assert w.injected_at_us == 6 * S
    invoke = json.loads(path.read_text().splitlines()[0])
    assert (invoke["type"], invoke["t_us"]) == ("invoke", 6 * S - AIM_AHEAD_US)
