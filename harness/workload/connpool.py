"""Opening many real client connections at once and holding them: the engine-neutral part of the
connection-limit cell. The engines' own code (harness/workload/<engine>.py) opens one connection and
says what a refusal by the server's limit looks like; this module runs that on a thread pool.

Each connection is a socket in this process, so the descriptor budget is checked first.
"""

from __future__ import annotations

import os
import resource
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from harness.errors import HarnessError

THREADS = 48  # connects in flight at once: a server's accept loop is the bottleneck well before this
FD_MARGIN = 64  # descriptors this process needs besides the connections (logs, pipes, monitors)


class Refused(Exception):
    """The server refused the connection because of its connection limit; `text` is its own words."""

    def __init__(self, text: str):
        super().__init__(text)
        self.text = text


class Closable(Protocol):
    def close(self) -> None: ...


class ConnectionMonitor(Protocol):
    """One connection the harness holds to read the server's limit and its own counters; opened
    before the pools so that it is never the one refused (it counts in the baseline)."""

    refused_counter: str | None  # the server's cumulative count of limit refusals, None when it keeps none

    def limit(self) -> tuple[str, int]:
        """The server's own limit name and its value in effect."""
        ...

    def reserve(self) -> tuple[int, str]:
        """Connections the server admits beyond the limit for the harness's user, and why."""
        ...

    def counters(self) -> dict[str, int]:
        """The server's connection counters now, by their own names."""
        ...

    def in_use(self, counters: dict[str, int]) -> int:
        """Of `counters`, the connections the server counts against its limit."""
        ...

    def close(self) -> None: ...


@dataclass
class HeldConnections:
    """What `open_many` got: the connections it holds open until `close()`, and what failed.

    `refused` are the server's limit refusals (`Refused`); `errors` anything else (timeouts, resets):
    kept apart, so the refusal count can be compared with the server's own counter."""

    wanted: int
    opened: int
    refused: int
    errors: int
    first_refusal: str | None
    first_error: str | None
    sockets_per_connection: int = 1  # server-side connections each one holds (mongodb: its monitor too)
    _held: list[Closable] = field(default_factory=list, repr=False)

    @property
    def server_sockets(self) -> int:
        return self.opened * self.sockets_per_connection

    def close(self) -> None:
        """Closes every held connection (in parallel); safe to call twice."""
        held, self._held = self._held, []
        if held:
            with ThreadPoolExecutor(max_workers=min(THREADS, len(held))) as pool:
                list(pool.map(_close_quietly, held))

    def __enter__(self) -> HeldConnections:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _close_quietly(conn: Closable) -> None:
    try:
        conn.close()
    except Exception:  # noqa: BLE001 - the server may have closed it already; the socket is gone either way
        pass


def open_fds() -> int:
    """Descriptors this process has open now (0 where /proc is not there)."""
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return 0


def ensure_fd_budget(n: int) -> int:
    """Makes room for `n` more sockets: raises the soft RLIMIT_NOFILE up to the hard one when needed;
    one clear error when even the hard limit is too low. Returns the soft limit in effect."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = open_fds() + n + FD_MARGIN
    if soft == resource.RLIM_INFINITY or need <= soft:
        return soft
    if hard != resource.RLIM_INFINITY and need > hard:
        raise HarnessError(f"holding {n} connections needs about {need} file descriptors but this process may have "
                           f"at most {hard} (RLIMIT_NOFILE hard limit): lower connections.processes or "
                           "connections.pool, or raise the limit (ulimit -Hn)")
    new_soft = hard if hard != resource.RLIM_INFINITY else need
    resource.setrlimit(resource.RLIMIT_NOFILE, (new_soft, hard))
    return new_soft


def open_many(connect: Callable[[], Any], n: int, threads: int = THREADS,
              sockets_per_connection: int = 1) -> HeldConnections:
    """Opens `n` connections with `connect()` (each bounded by its own timeout), `threads` at a
    time, and holds every one that opened. `connect` raises `Refused` for the server's limit."""
    if n < 0:
        raise HarnessError(f"cannot open {n} connections: the count must be >= 0")
    ensure_fd_budget(n * sockets_per_connection)
    lock = threading.Lock()
    held: list[Closable] = []
    refusals: list[str] = []
    errors: list[str] = []

    def attempt(_: int) -> None:
        try:
            conn = connect()
        except Refused as e:
            with lock:
                refusals.append(e.text)
            return
        except Exception as e:  # noqa: BLE001 - counted apart from the server's refusals
            with lock:
                errors.append(f"{type(e).__name__}: {e}")
            return
        with lock:
            held.append(conn)

    if n:
        with ThreadPoolExecutor(max_workers=max(1, min(threads, n))) as pool:
            list(pool.map(attempt, range(n)))
    return HeldConnections(wanted=n, opened=len(held), refused=len(refusals), errors=len(errors),
                           first_refusal=refusals[0] if refusals else None,
                           first_error=errors[0] if errors else None,
                           sockets_per_connection=sockets_per_connection, _held=held)
