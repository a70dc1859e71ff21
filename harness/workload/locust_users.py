"""Locust User classes that run the engine ops and record each op in the history.

Imported only inside a load worker process (`import locust` monkey-patches the process with
gevent). Each op: history `invoke` -> engine client call -> history `ok`/`fail`/`info` ->
`environment.events.request` (request_type = engine, name = op). The history is the source of
truth; Locust's own (rounded, smoothed) stats are kept only for reference.

One load run covers the warm-up and the measured window: users connect before the common start,
run the warm-up, and go on into the measured window without reconnecting (no start-up ramp in the
numbers). Ops invoked before `measure_from_us` go to the warm-up history, the rest to the measured
one. Every op ends within `deadline_s` (a hard gevent timeout around the client call): past it the
op is recorded `info` (write) / `fail` (read) and the user's connections are dropped, so an outage
shows as failed ops, never as one giant latency.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import gevent
from gevent.event import Event
from locust import User, task

from harness.history import HistoryWriter, now_us
from harness.platforms.base import Endpoint
from harness.workload.base import check_mix, client_for, make_actor, op_deadline_s, op_picker
from harness.workload.model import SeedInfo
from harness.workload.pacing import Pace, after_op, slot_time


@dataclass
class Tally:
    """Running totals of one worker, for the progress file (cheap, no history re-reading).
    The totals count measured ops only; `per_second` counts every op (the progress line)."""

    invokes: int = 0
    ok: int = 0
    failed: int = 0
    unknown: int = 0
    per_second: dict[int, list[int]] = field(default_factory=dict)  # second -> [ok, failed+unknown]


class OpDeadline(BaseException):
    """The op did not finish within its deadline; its outcome is unknown. A BaseException (like
    gevent.Timeout) so no `except Exception` inside a client library can swallow or re-label it."""


def make_user_class(
    *, engine: str, endpoint: Endpoint, info: SeedInfo, mix: Mapping[str, float], per_user_rate: float,
    op_timeout_s: float, writer: HistoryWriter, worker: int, seed: int, tally: Tally, stopping: Event, start_at_us: int,
    warm_writer: HistoryWriter | None = None, measure_from_us: int | None = None, deadline_s: float | None = None,
    tag: str = "",
) -> type[User]:
    """A User class bound to one worker's settings (no module-level state).

    Once `stopping` is set, users start no new op; the worker waits for in-flight ops to finish
    before it quits the runner, so the history has an outcome for every op it invoked."""
    slots = itertools.count()
    period = 1.0 / per_user_rate
    measure_from = start_at_us if measure_from_us is None else measure_from_us
    deadline = deadline_s if deadline_s is not None else op_deadline_s(op_timeout_s)

    class OpenIMUser(User):
        def wait_time(self) -> float:
            now = now_us() / 1e6
            if self._last_start is not None:
                self._pace = after_op(self._pace, self._last_start, now, period)
            return max(0.0, slot_time(self._pace.k, self._pace.anchor_s, period) - now)

        def on_start(self) -> None:
            idx = next(slots)
            self.actor = make_actor(info, idx, worker, seed, tag=tag)
            self.engine_client = client_for(engine, endpoint, op_timeout_s)
            self.ops = self.engine_client.ops
            check_mix(mix, self.ops, engine)
            self.pick = op_picker(mix, self.actor.rng)
            # no op deadline here: 200 users connecting at once queue on this one gevent hub for
            # seconds (a 2 s deadline killed most handshakes and set off a reconnect storm);
            # the client's own connect timeouts bound each attempt
            try:
                self.engine_client.warm()
            except Exception:  # noqa: BLE001 - a server that is down shows up in the first ops
                self.engine_client.close()
            # connected before the common start; first ops spread over one pacing period (no lockstep)
            self._pace = Pace(start_at_us / 1e6 + self.actor.rng.random() * period, 0)
            self._last_start: float | None = None
            gevent.sleep(max(0.0, self._pace.anchor_s - now_us() / 1e6))

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
            t0 = now_us()
            self._last_start = t0 / 1e6
            measured = warm_writer is None or t0 >= measure_from
            w = writer if measured else warm_writer
            op = w.invoke(self.actor.process, name, write)
            tally.invokes += measured
            partial: dict = {}
            exc: Exception | None = None
            try:
                with gevent.Timeout(deadline, OpDeadline(f"no outcome within {deadline:g} s")):
                    value = self.engine_client.run(name, self.actor, partial)
                outcome = "ok"
            except OpDeadline as e:  # the client is in an unknown state: drop its connections
                exc = e
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

