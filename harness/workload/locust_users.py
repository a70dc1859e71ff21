"""Locust User classes that run the engine ops and record each op in the history.

Imported only inside a load worker process (`import locust` monkey-patches the process with
gevent). Each op: history `invoke` -> engine client call -> history `ok`/`fail`/`info` ->
`environment.events.request` (request_type = engine, name = op). The history is the source of
truth; Locust's own (rounded, smoothed) stats are kept only for reference.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import gevent
from gevent.event import Event
from locust import User, constant_throughput, task

from harness.history import HistoryWriter, now_us
from harness.platforms.base import Endpoint
from harness.workload.base import check_mix, client_for, make_actor, op_picker
from harness.workload.model import SeedInfo


@dataclass
class Tally:
    """Running totals of one worker, for the progress file (cheap, no history re-reading)."""

    invokes: int = 0
    ok: int = 0
    failed: int = 0
    unknown: int = 0
    per_second: dict[int, list[int]] = field(default_factory=dict)  # second -> [ok, failed+unknown]


def make_user_class(
    *, engine: str, endpoint: Endpoint, info: SeedInfo, mix: Mapping[str, float], per_user_rate: float,
    op_timeout_s: float, writer: HistoryWriter, worker: int, seed: int, tally: Tally, stopping: Event, start_at_us: int,
) -> type[User]:
    """A User class bound to one worker's settings (no module-level state).

    Once `stopping` is set, users start no new op; the worker waits for in-flight ops to finish
    before it quits the runner, so the history has an outcome for every op it invoked."""
    slots = itertools.count()

    class OpenIMUser(User):
        wait_time = constant_throughput(per_user_rate)

        def on_start(self) -> None:
            idx = next(slots)
            self.actor = make_actor(info, idx, worker, seed)
            self.engine_client = client_for(engine, endpoint, op_timeout_s)
            self.ops = self.engine_client.ops
            check_mix(mix, self.ops, engine)
            self.pick = op_picker(mix, self.actor.rng)
            try:
                self.engine_client.warm()
            except Exception:  # noqa: BLE001 - a server that is down shows up in the first ops
                pass
            # connected before the common start; first ops spread over one pacing period (no lockstep)
            gevent.sleep(max(0.0, (start_at_us - now_us()) / 1e6) + self.actor.rng.random() / per_user_rate)

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
            op = writer.invoke(self.actor.process, name, write)
            tally.invokes += 1
            partial: dict = {}
            exc: Exception | None = None
            try:
                value = self.engine_client.run(name, self.actor, partial)
                outcome = "ok"
            except Exception as e:  # noqa: BLE001 - every error is an op outcome
                exc = e
                outcome = self.engine_client.classify(e, write)
                value = partial or None
            except BaseException as e:  # killed by the runner mid-op: record it, then let it end the user
                writer.complete(op, "info" if write else "fail", partial or None, f"interrupted: {type(e).__name__}")
                tally.unknown += write
                tally.failed += not write
                raise
            err = None if exc is None else f"{type(exc).__name__}: {exc}"
            lat_us = writer.complete(op, outcome, value, err)
            sec = int(time.monotonic())
            bucket = tally.per_second.setdefault(sec, [0, 0])
            if outcome == "ok":
                tally.ok += 1
                bucket[0] += 1
            else:
                bucket[1] += 1
                if outcome == "fail":
                    tally.failed += 1
                else:
                    tally.unknown += 1
            self.environment.events.request.fire(
                request_type=engine, name=name, response_time=lat_us / 1000, response_length=0,
                response=None, context={}, exception=exc)

    return OpenIMUser
