"""A load worker's witness of its own gevent hub: how long it could not run, and what blocked it.

Two instruments, both in the worker process (imports gevent; never imported by the orchestrator):
- a ticker greenlet that asks to wake every `tick_s` and records how late it woke: any delay is
  time the hub could not schedule anything (one greenlet running without yielding, or a CPU too
  busy to run the process). Lags of `report_s` or more are kept with their time;
- a watchdog on a real OS thread that, when the ticker has been silent for `report_s`, takes the
  stack of whatever the main thread (the hub's thread) is running: the evidence of *what* blocked.
  gevent's own monitor thread is not used: its report walks the whole greenlet tree (200 users:
  thousands of lines, ~0.6 s holding the GIL), which stalls the very hub it is watching.
The orchestrator's checker reads the resulting file; nothing here decides validity.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import traceback
from pathlib import Path
from typing import Any

import gevent
from gevent import monkey

from harness.history import now_us

TICK_S = 0.05
REPORT_S = 0.1  # gevent's default max_blocking_time; lags below this are counted, not listed
MAX_ENTRIES = 500
MAX_STACKS = 20
STACK_CHARS = 6000


class HubWatch:
    def __init__(self, tick_s: float = TICK_S, report_s: float = REPORT_S):
        self.tick_s = tick_s
        self.report_s = report_s
        self.ticks = 0
        self.max_lag_us = 0
        self.stalls: list[tuple[int, int]] = []  # (t_us at wake, lag_us), lag >= report_s
        self.blocked: list[dict[str, Any]] = []  # the main thread's stack while the ticker was silent
        self._last_tick_us = now_us()
        self._lock = threading.Lock()
        self._ticker: gevent.Greenlet | None = None
        self._stop = False
        self._main_ident = monkey.get_original("_thread", "get_ident")()  # the OS thread, not a greenlet id

    def start(self) -> HubWatch:
        self._ticker = gevent.spawn(self._tick)
        monkey.get_original("_thread", "start_new_thread")(self._watchdog, ())
        return self

    def _tick(self) -> None:
        while True:
            t0 = now_us()
            gevent.sleep(self.tick_s)
            t = now_us()
            self._last_tick_us = t
            lag = t - t0 - int(self.tick_s * 1e6)
            self.ticks += 1
            if lag > self.max_lag_us:
                self.max_lag_us = lag
            if lag >= self.report_s * 1e6 and len(self.stalls) < MAX_ENTRIES:
                self.stalls.append((t, lag))

    def _watchdog(self) -> None:
        """Runs on a real thread (unpatched sleep): one stack per silence of the ticker."""
        sleep = monkey.get_original("time", "sleep")
        reported_for = None
        while not self._stop:
            sleep(self.report_s / 2)
            last = self._last_tick_us
            silent_us = now_us() - last
            if silent_us < (self.tick_s + self.report_s) * 1e6 or reported_for == last:
                continue
            reported_for = last
            frame = sys._current_frames().get(self._main_ident)
            stack = "".join(traceback.format_stack(frame))[-STACK_CHARS:] if frame is not None else ""
            with self._lock:
                if len(self.blocked) < MAX_STACKS:
                    self.blocked.append({"t_us": now_us(), "silent_ms": round(silent_us / 1000, 1), "stack": stack})

    def stop(self) -> None:
        self._stop = True
        if self._ticker is not None:
            self._ticker.kill()
            self._ticker = None

    def to_json(self) -> dict[str, Any]:
        with self._lock:
            blocked = list(self.blocked)
        return {"tick_s": self.tick_s, "report_s": self.report_s, "ticks": self.ticks,
                "max_lag_us": self.max_lag_us, "stalls": [list(s) for s in self.stalls], "blocked": blocked}

    def write(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.to_json()))
        os.replace(tmp, path)
