"""A load worker's witness of its own gevent hub: how long it could not run, and what blocked it.

Two independent instruments, both in the worker process (imports gevent; never imported by the
orchestrator):
- a ticker greenlet that asks to wake every `tick_s` and records how late it woke: any delay is
  time the hub could not schedule anything (one greenlet running without yielding, or a CPU too
  busy to run the process). Lags of `report_s` or more are kept with their time;
- gevent's own monitor thread (`max_blocking_time`), which names the greenlet that blocked the
  hub and its stack: the evidence of *what* blocked.
The orchestrator's checker reads the resulting file; nothing here decides validity.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

import gevent
from gevent import events

from harness.history import now_us

TICK_S = 0.05
REPORT_S = 0.1  # gevent's default max_blocking_time; lags below this are counted, not listed
MAX_ENTRIES = 500
MAX_STACKS = 20


class HubWatch:
    def __init__(self, tick_s: float = TICK_S, report_s: float = REPORT_S):
        self.tick_s = tick_s
        self.report_s = report_s
        self.ticks = 0
        self.max_lag_us = 0
        self.stalls: list[tuple[int, int]] = []  # (t_us at wake, lag_us), lag >= report_s
        self.blocked: list[dict[str, Any]] = []  # gevent monitor reports, with the stack
        self._lock = threading.Lock()
        self._ticker: gevent.Greenlet | None = None

    def start(self) -> HubWatch:
        gevent.config.max_blocking_time = self.report_s
        gevent.config.monitor_thread = True
        events.subscribers.append(self._on_event)
        gevent.get_hub().start_periodic_monitoring_thread()
        self._ticker = gevent.spawn(self._tick)
        return self

    def _tick(self) -> None:
        while True:
            t0 = now_us()
            gevent.sleep(self.tick_s)
            t = now_us()
            lag = t - t0 - int(self.tick_s * 1e6)
            self.ticks += 1
            if lag > self.max_lag_us:
                self.max_lag_us = lag
            if lag >= self.report_s * 1e6 and len(self.stalls) < MAX_ENTRIES:
                self.stalls.append((t, lag))

    def _on_event(self, event: Any) -> None:
        """Called in gevent's monitor thread."""
        if not isinstance(event, events.EventLoopBlocked):
            return
        with self._lock:
            if len(self.blocked) < MAX_STACKS:
                self.blocked.append({"t_us": now_us(), "greenlet": repr(event.greenlet)[:200],
                                     "stack": "\n".join(map(str, event.info))[:6000]})

    def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.kill()
            self._ticker = None
        if self._on_event in events.subscribers:
            events.subscribers.remove(self._on_event)

    def to_json(self) -> dict[str, Any]:
        with self._lock:
            blocked = list(self.blocked)
        return {"tick_s": self.tick_s, "report_s": self.report_s, "ticks": self.ticks,
                "max_lag_us": self.max_lag_us, "stalls": [list(s) for s in self.stalls], "blocked": blocked}

    def write(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.to_json()))
        os.replace(tmp, path)
