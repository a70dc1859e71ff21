"""The nemesis: injects a scenario's fault at its scheduled time, recovers it later, records when.

It runs beside the load in its own thread so the load's clock never waits for a fault, and it
records a `FaultWindow` on the history's clock (monotonic µs) for the checker and for the
results' `fault` block.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from harness.contracts import Deployment, Fault, Injection, Platform

log = logging.getLogger("harness.faults")


def now_us() -> int:
    return time.monotonic_ns() // 1000


def iso(wall: float) -> str:
    return datetime.fromtimestamp(wall, tz=timezone.utc).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class FaultWindow:
    """When a fault was in force, on the history's clock; `recovered_at_us` None = never recovered."""

    kind: str
    target: str
    instances: tuple[str, ...]
    zone: str | None
    injected_at_us: int
    injected_at_wall: float
    recovered_at_us: int | None
    recovered_at_wall: float | None
    planned_duration_s: float

    @property
    def duration_s(self) -> float:
        """How long the fault was in force (0 for a one-shot kill the platform repairs itself)."""
        if self.planned_duration_s == 0 or self.recovered_at_us is None:
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


class Nemesis:
    """One fault: inject at `at_us`, recover `fault.duration_s` later (0: the platform repairs it).

    `stop()` always leaves the deployment unbroken (recover is idempotent), also after Ctrl-C.
    """

    def __init__(self, platform: Platform, dep: Deployment, fault: Fault, at_us: int):
        self.platform = platform
        self.dep = dep
        self.fault = fault
        self.at_us = at_us
        self.error: BaseException | None = None
        self._injection: Injection | None = None
        self._recovered_us: int | None = None
        self._recovered_wall: float | None = None
        self._cancel = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"nemesis-{fault.kind}", daemon=True)

    def start(self) -> Nemesis:
        self._thread.start()
        return self

    def _sleep_until(self, t_us: int) -> bool:
        """False when cancelled before `t_us`."""
        while not self._cancel.is_set():
            left = (t_us - now_us()) / 1e6
            if left <= 0:
                return True
            self._cancel.wait(min(left, 0.2))
        return False

    def _run(self) -> None:
        try:
            if not self._sleep_until(self.at_us):
                return
            with self._lock:
                if self._cancel.is_set():
                    return
                inj = self.platform.inject(self.dep, self.fault)
                self._injection = inj
            log.info("injected %s on %s (zone %s)", self.fault.kind, ",".join(inj.instances) or "-", inj.zone)
            if self.fault.duration_s > 0:
                self._sleep_until(inj.injected_at_mono_us + int(self.fault.duration_s * 1e6))
                self._recover()
        except BaseException as e:  # noqa: BLE001 - handed to the run loop, which fails the cell
            self.error = e
            log.error("nemesis: %s: %s", type(e).__name__, e)

    def _recover(self) -> None:
        with self._lock:
            inj = self._injection
            if inj is None or self._recovered_us is not None:
                return
            inj.recover()
            self._recovered_us = now_us()
            self._recovered_wall = time.time()
        log.info("recovered %s", self.fault.kind)

    @property
    def injected(self) -> bool:
        return self._injection is not None

    def stop(self) -> None:
        """Cancels a pending injection, recovers one in force, waits for the thread."""
        self._cancel.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)
        if self._injection is not None:
            try:
                self._recover()
            except Exception as e:  # noqa: BLE001 - teardown follows anyway
                log.error("recovering %s failed: %s", self.fault.kind, e)
                if self.error is None:
                    self.error = e

    def window(self) -> FaultWindow | None:
        inj = self._injection
        if inj is None:
            return None
        one_shot = self.fault.duration_s == 0
        return FaultWindow(
            kind=self.fault.kind,
            target=self.fault.target,
            instances=tuple(inj.instances),
            zone=inj.zone,
            injected_at_us=inj.injected_at_mono_us,
            injected_at_wall=inj.injected_at_wall,
            recovered_at_us=inj.injected_at_mono_us if one_shot else self._recovered_us,
            recovered_at_wall=inj.injected_at_wall if one_shot else self._recovered_wall,
            planned_duration_s=self.fault.duration_s,
        )
