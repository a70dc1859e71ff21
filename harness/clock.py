"""The run's clock: the history's monotonic microseconds, the wall clock, and waiting.

One object, handed down from the composition root, so a dry run can pass time without waiting:
`VirtualClock` advances when someone waits on it, and says so (`concurrent = False`), so the
nemesis runs its schedule inline instead of in a thread that would race the load's clock.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    concurrent: bool  # True: time passes by itself, a thread may wait on it beside the caller

    def now_us(self) -> int:
        """time.monotonic_ns() // 1000 on the real clock: the history's time base."""
        ...

    def wall(self) -> float:
        """Unix seconds."""
        ...

    def sleep(self, seconds: float) -> None: ...

    def wait(self, event: threading.Event, seconds: float) -> bool:
        """Waits up to `seconds` for `event`; True when it is set."""
        ...


class RealClock:
    concurrent = True

    def now_us(self) -> int:
        return time.monotonic_ns() // 1000

    def wall(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds))

    def wait(self, event: threading.Event, seconds: float) -> bool:
        return event.wait(max(0.0, seconds))


class VirtualClock:
    """Time that moves only when waited on (dry runs): nothing really sleeps."""

    concurrent = False

    def __init__(self, start_us: int | None = None, wall_at_start: float | None = None):
        self._now_us = time.monotonic_ns() // 1000 if start_us is None else start_us
        self._wall0 = time.time() if wall_at_start is None else wall_at_start
        self._start_us = self._now_us

    def now_us(self) -> int:
        return self._now_us

    def wall(self) -> float:
        return self._wall0 + (self._now_us - self._start_us) / 1e6

    def sleep(self, seconds: float) -> None:
        self._now_us += max(0, int(seconds * 1e6))

    def wait(self, event: threading.Event, seconds: float) -> bool:
        if event.is_set():
            return True
        self.sleep(seconds)
        return event.is_set()
