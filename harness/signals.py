"""SIGINT / SIGTERM: a run stops everything it started, keeps what it measured, and exits 130 / 143.

The gate turns the first signal into `Interrupted` where the run can still stop cleanly, and only
remembers it while a teardown must finish.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

EXIT_FOR_SIGNAL = {signal.SIGINT: 130, signal.SIGTERM: 143}


def exit_status(signum: int) -> int:
    return EXIT_FOR_SIGNAL.get(signal.Signals(signum), 130)


class Interrupted(BaseException):
    """SIGINT / SIGTERM arrived: stop the run (a BaseException so `except Exception` lets it pass)."""

    def __init__(self, signum: int):
        super().__init__(f"signal {signum}")
        self.signum = signum


class SignalGate:
    """SIGINT/SIGTERM: while armed, the first one raises Interrupted; while held (teardown), it is
    only remembered. Later signals are ignored, so a second Ctrl-C cannot cut a teardown short."""

    def __init__(self) -> None:
        self.got: int | None = None
        self.armed = True

    def handler(self, signum: int, _frame: Any) -> None:
        if self.got is not None:
            return
        self.got = signum
        if self.armed:
            raise Interrupted(signum)

    def raise_pending(self) -> None:
        """Re-raises a signal whose Interrupted was swallowed: raised inside a `__del__` run by the garbage
        collector (Python prints "Exception ignored" and goes on), the run would otherwise finish as if
        never interrupted. Called at the run's own checkpoints (after each cell, after the report)."""
        if self.got is not None and self.armed:
            raise Interrupted(self.got)

    def hold(self) -> None:
        self.armed = False

    def arm(self) -> None:
        """Re-armed (e.g. for the report) only while no signal has arrived."""
        self.armed = self.got is None


@contextmanager
def signals_raise() -> Iterator[SignalGate]:
    """Installs a SignalGate for the block; restores the previous handlers afterwards."""
    gate = SignalGate()
    old = {s: signal.signal(s, gate.handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield gate
    finally:
        for s, h in old.items():
            signal.signal(s, h)
