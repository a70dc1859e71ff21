"""Locust User classes that run the engine ops and record each op in the history.

Imported only inside a load worker process (`import locust` monkey-patches the process with
gevent). Each op: history `invoke` -> engine client call -> history `ok`/`fail`/`info` ->
`environment.events.request` (request_type = engine, name = op). The history is the source of
truth; Locust's own (rounded, smoothed) stats are kept only for reference.

One load run covers the warm-up and the measured window: users connect, wait for the common start
(the orchestrator's go, once every user of every worker is connected), run the warm-up, and go on
into the measured window without reconnecting (no start-up ramp in the numbers). Ops invoked
before the window go to the warm-up history, the rest to the measured one. Each op records the
slot it stands for (`due_us`) and the generator's own lag in starting it (`lag_us`), see pacing. Every op ends within `deadline_s` (a hard gevent timeout around the client call): past it the
op is recorded `info` (write) / `fail` (read) and the user's connections are dropped, so an outage
shows as failed ops, never as one giant latency.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import gevent
from gevent.event import Event
from locust import User, task

from harness import engines
from harness.contracts import Endpoint
from harness.history import HistoryWriter, now_us
from harness.workload.base import check_mix, make_actor, op_deadline_s, op_picker
from harness.workload.model import SeedInfo
from harness.workload.pacing import first_slot, next_slot


@dataclass
class Tally:
    """Running totals of one worker, for the progress file (cheap, no history re-reading).
    The totals count measured ops only; `per_second` counts every op (the progress line)."""

    invokes: int = 0
    ok: int = 0
    failed: int = 0
    unknown: int = 0
    connected: int = 0  # users past their first connect attempt (successful or not)
    connect_failed: int = 0
    per_second: dict[int, list[int]] = field(default_factory=dict)  # second -> [ok, failed+unknown]


class StartSignal:
    """The common start: users connect, then wait here until the orchestrator's go (every worker
    gets the same `start_at_us`), so no user starts its schedule before all of them are connected."""

    def __init__(self) -> None:
        self.event = Event()
        self.start_at_us = 0

    def go(self, start_at_us: int) -> None:
        self.start_at_us = start_at_us
        self.event.set()


@dataclass(frozen=True)
class PlantedStall:
    """A self-test of the validity evidence: the first op invoked `at_s` or later into the measured
    window blocks the worker's hub for `block_s` without yielding (a busy loop), as a CPU-bound
    op would."""

    at_s: float
    block_s: float


STOPPED_WAIT_S = 3600.0


class OpDeadline(BaseException):
    """The op did not finish within its deadline; its outcome is unknown. A BaseException (like
    gevent.Timeout) so no `except Exception` inside a client library can swallow or re-label it."""


def _busy(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def make_user_class(
    *, engine: str, endpoint: Endpoint, info: SeedInfo, mix: Mapping[str, float], per_user_rate: float,
    op_timeout_s: float, writer: HistoryWriter, worker: int, seed: int, tally: Tally, stopping: Event,
    start: StartSignal, warm_writer: HistoryWriter | None = None, warmup_us: int = 0, deadline_s: float | None = None,
    tag: str = "", stall: PlantedStall | None = None, pool: Any = None,
) -> type[User]:
    """A User class bound to one worker's settings (no module-level state). `pool`: the worker's
    `client_pool` (engines), shared by every user's client.

    Users connect, wait for `start`, then run their grid (see harness.workload.pacing). Once
    `stopping` is set, users start no new op; the worker waits for in-flight ops to finish
    before it quits the runner, so the history has an outcome for every op it invoked."""
    slots = itertools.count()
    period = 1.0 / per_user_rate
    deadline = deadline_s if deadline_s is not None else op_deadline_s(op_timeout_s)
    planted = [stall] if stall is not None else []
    watch = engines.get(engine).primary_watch(endpoint, op_timeout_s)  # one per worker, as go-redis has one

    class OpenIMUser(User):
        def wait_time(self) -> float:
            if stopping.is_set():
                return STOPPED_WAIT_S  # no new op: sleep until the runner quits (no busy loop while draining)
            return max(0.0, self._slot.start_s - now_us() / 1e6)

        def on_start(self) -> None:
            idx = next(slots)
            self.actor = make_actor(info, idx, worker, seed, tag=tag)
            if watch is not None:
                watch.start()
            self.engine_client = engines.get(engine).client(endpoint, op_timeout_s, watch, pool)
            self.ops = self.engine_client.ops
            check_mix(mix, self.ops, engine)
            self.pick = op_picker(mix, self.actor.rng)
            # no op deadline here: 200 users connecting at once queue on this one gevent hub; the
            # client's own connect timeouts bound each attempt
            try:
                self.engine_client.warm()
            except Exception:  # noqa: BLE001 - a server that is down shows up in the first ops
                tally.connect_failed += 1
                self.engine_client.close()
            finally:
                tally.connected += 1  # tried: the worker's start waits for every user to get here
            start.event.wait()
            # first ops spread over one pacing period (no lockstep)
            self._anchor = start.start_at_us / 1e6 + self.actor.rng.random() * period
            self._slot = first_slot(self._anchor)
            self._prev_end_us: int | None = None
            self._measure_from = start.start_at_us + warmup_us
            gevent.sleep(max(0.0, self._anchor - now_us() / 1e6))

        def on_stop(self) -> None:
            client = getattr(self, "engine_client", None)
            if client is not None:
                client.close()

        @task
        def one_op(self) -> None:
            if stopping.is_set():
                return
            name = self.pick()
            write = self.ops[name]
            slot = self._slot
            due_us = int(slot.due_s * 1e6)
            ready_us = due_us if self._prev_end_us is None else max(due_us, self._prev_end_us)
            t0 = now_us()
            measured = warm_writer is None or t0 >= self._measure_from
            w = warm_writer if warm_writer is not None and not measured else writer
            op = w.invoke(self.actor.process, name, write, due_us=due_us, lag_us=max(0, t0 - ready_us))
            tally.invokes += measured
            if planted and t0 >= self._measure_from + planted[0].at_s * 1e6:
                _busy(planted.pop().block_s)
            partial: dict = {}
            exc: BaseException | None = None
            value: dict[str, Any] | None
            try:
                # the class, not an instance: its message is only formatted when the deadline passed
                with gevent.Timeout(deadline, OpDeadline):
                    value = self.engine_client.run(name, self.actor, partial)
                outcome = "ok"
            except OpDeadline:  # unknown state: drop its connections (a pool has discarded the leased one)
                exc = OpDeadline(f"no outcome within {deadline:g} s")
                outcome = "info" if write else "fail"
                value = partial or None
                self.engine_client.close()
            except Exception as e:  # noqa: BLE001 - every error is an op outcome
                exc = e
                outcome = self.engine_client.classify(e, write)
                value = partial or None
            except BaseException as e:  # killed by the runner mid-op: record it, then let it end the user
                w.complete(op, "info" if write else "fail", partial or None, f"interrupted: {type(e).__name__}")
                if measured:
                    tally.unknown += write
                    tally.failed += not write
                raise
            err = None if exc is None else f"{type(exc).__name__}: {exc}"
            lat_us = w.complete(op, outcome, value, err)
            self._prev_end_us = end = now_us()
            self._slot = next_slot(slot.k, self._anchor, period, end / 1e6)
            sec = int(time.monotonic())
            bucket = tally.per_second.setdefault(sec, [0, 0])
            bucket[0 if outcome == "ok" else 1] += 1
            if measured:
                if outcome == "ok":
                    tally.ok += 1
                elif outcome == "fail":
                    tally.failed += 1
                else:
                    tally.unknown += 1
            self.environment.events.request.fire(
                request_type=engine, name=name, response_time=lat_us / 1000, response_length=0,
                response=None, context={}, exception=exc)

    return OpenIMUser
