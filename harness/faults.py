"""The nemesis: what a fault means (its target, its schedule, its recovery), over platform primitives.

A platform only offers primitives (kill a pod, pause/resume one, take a zone down/up, partition/heal
it) and raises `CellNotApplicable` for one it lacks. Everything else is decided here, once for every
platform: which pod "primary" names, when the fault starts, when it is recovered (scheduled here
only), and the record of it. Like Jepsen's `:nemesis` process, each action is written to the
history (`history/nemesis.jsonl`) as an `invoke` then an `info` op, and the checker and the
figures read the fault window back from that one source (`read_windows`).

A new fault is one `FaultAction` in `ACTIONS` (and, when it needs one, a new platform primitive).
Day-2 operations (harness/operations.py) are actions too, but run to their end instead of being
held: their window is [the operation's start, its end], recorded the same way.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from harness.clock import Clock, RealClock
from harness.contracts import OPERATION_KINDS, Deployment, Fault, OpOutcome, Platform, PodInfo
from harness.errors import CellNotApplicable, HarnessError
from harness.operations import OPERATIONS
from harness.targeting import FaultTargetError, Target, data_pods, pick_pod, pick_zone, the_primary

log = logging.getLogger("harness.faults")
__all__ = ["ACTIONS", "NEMESIS", "NEMESIS_FILE", "FaultAction", "FaultTargetError", "FaultWindow", "Nemesis", "Target",
           "data_pods", "inject", "pick_pod", "pick_zone", "read_windows", "the_primary"]

NEMESIS = "nemesis"  # the history's process name for nemesis ops (Jepsen's :nemesis)
NEMESIS_FILE = "nemesis.jsonl"
AIM_AHEAD_US = 1_000_000  # the target is read this long before the fault is due


def iso(wall: float) -> str:
    return datetime.fromtimestamp(wall, tz=timezone.utc).isoformat(timespec="milliseconds")


# -- the one fault window type -------------------------------------------------------------------
@dataclass(frozen=True)
class FaultWindow:
    """When a fault was in force, on the history's clock.

    A one-shot fault the platform repairs itself (pod-kill) is recovered at the instant it is
    injected (`recovered_at_us == injected_at_us`, `duration_s == 0`); a held fault whose recovery
    never came has `recovered_at_us` None.
    """

    kind: str
    target: str
    instances: tuple[str, ...]
    zone: str | None
    injected_at_us: int
    injected_at_wall: float
    recovered_at_us: int | None
    recovered_at_wall: float | None
    planned_duration_s: float
    operation: bool = False  # a day-2 operation: in force from its start until it finished

    @classmethod
    def of(cls, kind: str, injected_at_us: int, held_until_us: int | None = None) -> FaultWindow:
        """A window from its times alone (checker tests, re-checking a history): wall times unknown (0).
        A one-shot kind has no hold; another without `held_until_us` was never recovered."""
        one_shot = kind in ACTIONS and ACTIONS[kind].one_shot
        planned = 0.0 if one_shot else (math.inf if held_until_us is None else (held_until_us - injected_at_us) / 1e6)
        return cls(kind=kind, target="primary", instances=(), zone=None, injected_at_us=injected_at_us,
                   injected_at_wall=0.0, recovered_at_us=injected_at_us if one_shot else held_until_us,
                   recovered_at_wall=0.0 if one_shot or held_until_us is not None else None,
                   planned_duration_s=planned, operation=kind in OPERATION_KINDS)

    @property
    def one_shot(self) -> bool:
        return self.planned_duration_s == 0 and not self.operation

    @property
    def held_until_us(self) -> int | None:
        """The end of the fault's own interval, for checkers: None for a one-shot fault (nothing is
        held; the platform's repair is what is measured) and for one never recovered."""
        return None if self.one_shot else self.recovered_at_us

    @property
    def duration_s(self) -> float:
        """How long the fault was in force (0 for a one-shot kill the platform repairs itself)."""
        if self.one_shot or self.recovered_at_us is None:
            return self.planned_duration_s
        return round((self.recovered_at_us - self.injected_at_us) / 1e6, 3)

    def to_results(self, load_start_us: int) -> dict[str, Any]:
        """The results.json `fault` block; `injected_at_s` counts from the start of the measured load."""
        return {
            "kind": self.kind,
            "target": self.target,
            "instance": self.instances[0] if self.instances else None,
            "instances": list(self.instances),
            "zone": self.zone,
            "injected_at": iso(self.injected_at_wall),
            "injected_at_s": round((self.injected_at_us - load_start_us) / 1e6, 3),
            "duration_s": self.duration_s,
            "recovered_at_s": None if self.recovered_at_us is None
            else round((self.recovered_at_us - load_start_us) / 1e6, 3),
        }


# -- the actions -------------------------------------------------------------------------------
class FaultAction(Protocol):
    """What one fault kind does with the platform's primitives."""

    one_shot: bool  # the platform repairs it by itself: no recovery step is scheduled
    operation: bool  # a day-2 operation: `start` returns when it is done, with its outcome

    def aim(self, pods: list[PodInfo], fault: Fault, mode: str) -> Target: ...

    def start(self, platform: Platform, dep: Deployment, target: Target) -> OpOutcome | None: ...

    def stop(self, platform: Platform, dep: Deployment, target: Target) -> None: ...


class _PodAction:
    operation = False

    def aim(self, pods: list[PodInfo], fault: Fault, mode: str) -> Target:
        pod = pick_pod(pods, fault.target, mode)
        return Target((pod,), pod.zone)


class _ZoneAction:
    operation = False

    def aim(self, pods: list[PodInfo], fault: Fault, mode: str) -> Target:
        zone = pick_zone(pods, fault.target)
        return Target(tuple(p for p in pods if p.zone == zone), zone)


class PodKill(_PodAction):
    """SIGKILL / delete with grace 0; the platform restarts it (kubelet, the local supervisor)."""

    one_shot = True

    def start(self, platform: Platform, dep: Deployment, target: Target) -> None:
        platform.kill(dep, target.pods[0])

    def stop(self, platform: Platform, dep: Deployment, target: Target) -> None:
        pass


class PodFreeze(_PodAction):
    one_shot = False

    def start(self, platform: Platform, dep: Deployment, target: Target) -> None:
        platform.pause(dep, target.pods[0])

    def stop(self, platform: Platform, dep: Deployment, target: Target) -> None:
        platform.resume(dep, target.pods[0])


class ZoneOutage(_ZoneAction):
    """Every pod of the zone dies and stays down until the zone returns."""

    one_shot = False

    def start(self, platform: Platform, dep: Deployment, target: Target) -> None:
        platform.zone_down(dep, target.zone or "", target.pods)

    def stop(self, platform: Platform, dep: Deployment, target: Target) -> None:
        platform.zone_up(dep, target.zone or "", target.pods)


class ZonePartition(_ZoneAction):
    """The zone's pods stay alive but nothing reaches them."""

    one_shot = False

    def start(self, platform: Platform, dep: Deployment, target: Target) -> None:
        platform.partition(dep, target.zone or "", target.pods)

    def stop(self, platform: Platform, dep: Deployment, target: Target) -> None:
        platform.heal(dep, target.zone or "", target.pods)


ACTIONS: dict[str, FaultAction] = {
    "pod-kill": PodKill(), "pod-freeze": PodFreeze(), "zone-outage": ZoneOutage(), "zone-partition": ZonePartition(),
}


NEMESIS_ACTIONS: dict[str, FaultAction] = {**ACTIONS, **OPERATIONS}  # faults, then the day-2 operations


def action_for(fault: Fault) -> FaultAction:
    if fault.kind not in NEMESIS_ACTIONS:
        raise HarnessError(f"unknown fault {fault.kind!r}; accepted: {', '.join(NEMESIS_ACTIONS)}")
    if fault.duration_s < 0:
        raise HarnessError(f"fault duration must be >= 0, got {fault.duration_s}")
    return NEMESIS_ACTIONS[fault.kind]


# -- the record ----------------------------------------------------------------------------------
class NemesisLog:
    """The nemesis's own history file: `invoke` when an action begins, `info` when it is done
    (`info`: a fault's effect is known only through the checker, as in Jepsen)."""

    def __init__(self, path: Path | None):
        self.path = path
        self._lock = threading.Lock()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, type_: str, f: str, t_us: int, wall: float, **value: Any) -> None:
        if self.path is None:
            return
        rec = {"type": type_, "p": NEMESIS, "f": f, "t_us": t_us, "wall": wall, "value": value}
        with self._lock, open(self.path, "a") as fh:
            fh.write(json.dumps(rec, separators=(",", ":")) + "\n")


def read_windows(path: Path) -> list[FaultWindow]:
    """The fault windows a nemesis history file records, in order (an unrecovered one has no end)."""
    if not path.exists():
        return []
    out: list[FaultWindow] = []
    open_: dict[str, dict[str, Any]] = {}
    for rec in _records(path):
        v = rec.get("value") or {}
        if rec.get("type") != "info":
            continue
        if rec["f"] == "start":
            open_[v["fault"]] = {**v, "t_us": rec["t_us"], "wall": rec["wall"]}
            if v.get("one_shot"):
                out.append(_window(open_.pop(v["fault"]), rec["t_us"], rec["wall"]))
        elif rec["f"] == "stop" and v["fault"] in open_:
            out.append(_window(open_.pop(v["fault"]), rec["t_us"], rec["wall"]))
    out.extend(_window(s, None, None) for s in open_.values())
    return sorted(out, key=lambda w: w.injected_at_us)


def _records(path: Path) -> Iterator[dict[str, Any]]:
    with open(path) as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def _window(start: dict[str, Any], end_us: int | None, end_wall: float | None) -> FaultWindow:
    return FaultWindow(kind=start["fault"], target=start["target"], instances=tuple(start["instances"]),
                       zone=start["zone"], injected_at_us=start["t_us"], injected_at_wall=start["wall"],
                       recovered_at_us=end_us, recovered_at_wall=end_wall,
                       planned_duration_s=start["planned_duration_s"], operation=bool(start.get("operation")))


# -- one fault in force --------------------------------------------------------------------------
@dataclass(frozen=True)
class NemesisEvent:
    """What the nemesis just did, for whoever listens (the dry run prints these as its plan)."""

    name: str  # "aimed" | "injected" | "recovered" | "refused" (the platform cannot do it here)
    fault: Fault
    dep: Deployment
    pods: tuple[PodInfo, ...] = ()  # aimed: the pods as the platform showed them
    target: Target | None = None
    reason: str | None = None  # refused: why


Observer = Callable[[NemesisEvent], None]


def _unobserved(event: NemesisEvent) -> None:
    pass


@dataclass
class ActiveFault:
    """A fault that has been started; `recover()` stops it once (idempotent, thread-safe) and records
    the stop. A one-shot fault is recovered at the instant it started."""

    fault: Fault
    dep: Deployment
    target: Target
    injected_at_us: int
    injected_at_wall: float
    _stop: Callable[[], None] = field(repr=False)
    _clock: Clock = field(repr=False)
    _record: NemesisLog = field(repr=False)
    _observe: Observer = field(repr=False, default=_unobserved)
    outcome: OpOutcome | None = None  # a day-2 operation: what the platform reported
    recovered_at_us: int | None = None
    recovered_at_wall: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def instances(self) -> tuple[str, ...]:
        return self.target.instances

    @property
    def zone(self) -> str | None:
        return self.target.zone

    @property
    def recovered(self) -> bool:
        return self.recovered_at_us is not None

    def recover(self) -> None:
        with self._lock:
            if self.recovered_at_us is not None:
                return
            kind = self.fault.kind
            self._record.write("invoke", "stop", self._clock.now_us(), self._clock.wall(), fault=kind)
            self._stop()
            self.recovered_at_us, self.recovered_at_wall = self._clock.now_us(), self._clock.wall()
            self._record.write("info", "stop", self.recovered_at_us, self.recovered_at_wall, fault=kind)
        log.info("recovered %s", self.fault.kind)
        self._observe(NemesisEvent("recovered", self.fault, self.dep, target=self.target))

    def window(self) -> FaultWindow:
        return FaultWindow(
            kind=self.fault.kind, target=self.fault.target, instances=self.instances, zone=self.zone,
            injected_at_us=self.injected_at_us, injected_at_wall=self.injected_at_wall,
            recovered_at_us=self.recovered_at_us, recovered_at_wall=self.recovered_at_wall,
            planned_duration_s=self.fault.duration_s, operation=self.outcome is not None,
        )


@dataclass(frozen=True)
class Aimed:
    """A fault aimed at the deployment as the platform showed it, not yet started."""

    fault: Fault
    action: FaultAction
    target: Target


def aim(platform: Platform, dep: Deployment, fault: Fault, *, clock: Clock | None = None,
        record: NemesisLog | None = None, observe: Observer | None = None) -> Aimed:
    """Which pods the fault will hit, from `platform.pods(dep)` now (the `invoke` of the nemesis op)."""
    clock = clock or RealClock()
    record = record or NemesisLog(None)
    observe = observe or _unobserved
    action = action_for(fault)
    record.write("invoke", "start", clock.now_us(), clock.wall(), fault=fault.kind, target=fault.target)
    try:
        pods = platform.pods(dep)
        target = action.aim(pods, fault, dep.mode)
    except CellNotApplicable as e:
        _refused(fault, dep, e, clock, record, observe)
        raise
    observe(NemesisEvent("aimed", fault, dep, pods=tuple(pods), target=target))
    return Aimed(fault, action, target)


def start(platform: Platform, dep: Deployment, aimed: Aimed, *, clock: Clock | None = None,
          record: NemesisLog | None = None, observe: Observer | None = None) -> ActiveFault:
    """Starts an aimed fault now; returns the handle that recovers it. A one-shot fault (pod-kill) is
    recovered at once: the platform's repair is what gets measured. A day-2 operation runs to its
    end here and is recorded as stopped when it finished."""
    clock = clock or RealClock()
    record = record or NemesisLog(None)
    observe = observe or _unobserved
    fault, action, target = aimed.fault, aimed.action, aimed.target
    t_us, wall = clock.now_us(), clock.wall()
    try:
        outcome = action.start(platform, dep, target)
    except CellNotApplicable as e:
        _refused(fault, dep, e, clock, record, observe)
        raise
    one_shot = action.one_shot
    record.write("info", "start", t_us, wall, fault=fault.kind, target=fault.target, instances=list(target.instances),
                 zone=target.zone, planned_duration_s=fault.duration_s, one_shot=one_shot,
                 operation=action.operation)
    log.info("injected %s on %s (zone %s)", fault.kind, ",".join(target.instances) or "-", target.zone)
    active = ActiveFault(fault, dep, target, t_us, wall, lambda: action.stop(platform, dep, target), clock, record,
                         observe, outcome=outcome if action.operation else None,
                         recovered_at_us=t_us if one_shot else None, recovered_at_wall=wall if one_shot else None)
    observe(NemesisEvent("injected", fault, dep, target=target))
    if one_shot:
        observe(NemesisEvent("recovered", fault, dep, target=target))
    elif action.operation:
        active.recover()  # done: the stop record is the operation's end
    return active


def _refused(fault: Fault, dep: Deployment, e: CellNotApplicable, clock: Clock, record: NemesisLog,
             observe: Observer) -> None:
    """`fail`: the platform cannot do it here, so certainly nothing was done."""
    record.write("fail", "start", clock.now_us(), clock.wall(), fault=fault.kind, reason=e.reason)
    observe(NemesisEvent("refused", fault, dep, reason=e.reason))


def inject(platform: Platform, dep: Deployment, fault: Fault, *, clock: Clock | None = None,
           record: NemesisLog | None = None, observe: Observer | None = None) -> ActiveFault:
    """Aims the fault at the deployment as it is now and starts it at once (tests, a manual fault)."""
    return start(platform, dep, aim(platform, dep, fault, clock=clock, record=record, observe=observe),
                 clock=clock, record=record, observe=observe)


# -- the schedule --------------------------------------------------------------------------------
class Schedule(Protocol):
    """What the cell asks of a nemesis: start it, watch for its error, stop it, read its window."""

    @property
    def fault(self) -> Fault | None: ...

    @property
    def at_us(self) -> int:
        """When the fault is due, on the history's clock."""
        ...

    @property
    def error(self) -> BaseException | None: ...

    @property
    def injected(self) -> bool: ...

    def start(self) -> Schedule: ...

    def stop(self) -> None: ...

    def window(self) -> FaultWindow | None: ...

    @property
    def outcome(self) -> OpOutcome | None:
        """A day-2 operation's outcome, once it finished (None for a fault)."""
        ...


class Nemesis:
    """One fault: inject at `at_us`, recover `fault.duration_s` later (0: the platform repairs it).

    Runs in its own thread so the load's clock never waits for a fault (inline on a clock that only
    moves when waited on: a dry run). `stop()` always leaves the deployment unbroken, also after Ctrl-C.
    """

    def __init__(self, platform: Platform, dep: Deployment, fault: Fault, at_us: int, *,
                 clock: Clock | None = None, history: Path | None = None, observe: Observer | None = None):
        self.platform = platform
        self.dep = dep
        self.fault = fault
        self.at_us = at_us
        self.clock = clock or RealClock()
        self.record = NemesisLog(history)
        self.observe = observe
        self.error: BaseException | None = None
        self._active: ActiveFault | None = None
        self._cancel = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"nemesis-{fault.kind}", daemon=True)

    def start(self) -> Nemesis:
        if self.clock.concurrent:
            self._thread.start()
        else:
            self._run()
        return self

    def _sleep_until(self, t_us: int) -> bool:
        """False when cancelled before `t_us`."""
        while not self._cancel.is_set():
            left = (t_us - self.clock.now_us()) / 1e6
            if left <= 0:
                return True
            self.clock.wait(self._cancel, min(left, 0.2))
        return False

    def _run(self) -> None:
        try:
            # aimed a little ahead, so asking the platform for its pods (servers, kubectl) does not
            # delay the fault past its due time; the deployment is steady then
            if not self._sleep_until(self.at_us - AIM_AHEAD_US):
                return
            aimed = aim(self.platform, self.dep, self.fault, clock=self.clock, record=self.record,
                        observe=self.observe)
            if not self._sleep_until(self.at_us):
                return
            with self._lock:
                if self._cancel.is_set():
                    return
                self._active = start(self.platform, self.dep, aimed, clock=self.clock, record=self.record,
                                     observe=self.observe)
            if self.fault.duration_s > 0:
                self._sleep_until(self._active.injected_at_us + int(self.fault.duration_s * 1e6))
                self._recover()
        except CellNotApplicable as e:  # the platform lacks the primitive: the cell is not applicable
            self.error = e
            log.info("nemesis: not applicable here: %s", e.reason)
        except BaseException as e:  # noqa: BLE001 - handed to the run loop, which fails the cell
            self.error = e
            log.error("nemesis: %s: %s", type(e).__name__, e)

    def _recover(self) -> None:
        with self._lock:
            if self._active is not None:
                self._active.recover()

    @property
    def injected(self) -> bool:
        return self._active is not None

    @property
    def outcome(self) -> OpOutcome | None:
        return self._active.outcome if self._active is not None else None

    def stop(self) -> None:
        """Cancels a pending injection, recovers one in force, waits for the thread."""
        self._cancel.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)
        if self._active is not None:
            try:
                self._recover()
            except Exception as e:  # noqa: BLE001 - teardown follows anyway
                log.error("recovering %s failed: %s", self.fault.kind, e)
                if self.error is None:
                    self.error = e

    def window(self) -> FaultWindow | None:
        """The fault window as the nemesis's history records it (the checker's source too)."""
        if self._active is None:
            return None
        if self.record.path is not None:
            windows = read_windows(self.record.path)
            if windows:
                return windows[-1]
        return self._active.window()
