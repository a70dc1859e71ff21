"""OpenIM's MySQL connection pool: Go's database/sql as OpenIM configures it, one per load worker.

Why: OpenIM holds one `*sql.DB` per process, not a connection per user
(open-im-server pkg/common/db/relation/mysql_init.go@04baf60: `SetConnMaxLifetime(maxLifeTime s)`,
`SetMaxOpenConns(maxOpenConn)`, `SetMaxIdleConns(maxIdleConn)`; config/config.yaml@0002dda: 1000,
100, 60). A connection per simulated user was an artefact of the load generator: 200 users against
a server whose max_connections is 83 left 117 users unable to connect at all.

What is emulated (golang/go src/database/sql/sql.go@01988dc, go-sql-driver/mysql@416cd99):
- checkout (`DB.conn`): the most recently returned idle connection (`freeConn[last]`, "Reuse the
  lowest idle time connection"); an expired one (max lifetime) is closed and counts as
  `driver.ErrBadConn`, and so does one failing the driver's liveness check (`ResetSession` ->
  conncheck.go: a non-blocking read that sees EOF or unexpected bytes: the server closed it).
  With no idle connection: open one if fewer than max_open are open (counted before connecting);
  else wait until one is returned (handed to a random waiter, `connRequests.TakeRandom`) or a slot
  frees (`maybeOpenNewConnections`), within the op's timeout (Go: the context's deadline).
- `DB.retry`: a checkout that met a bad connection is retried, `maxBadConnRetries` = 2 times
  cached-or-new, then once with a new connection. Here that covers only the checkout-time cases
  (expired, failed liveness check), where nothing has been sent.
- `putConn`: an expired connection is closed; else a waiter takes it; else it stays idle when fewer
  than max_idle are idle; else it is closed.

What is not emulated:
- The retry after a statement's `ErrBadConn`: go-sql-driver returns it only when the first write of
  a command wrote 0 bytes (packets.go writePacket -> errBadConnNoWrite -> markBadConn). PyMySQL's
  `sendall` cannot say how much it wrote, so such an op fails instead (rare: the liveness check
  at checkout already catches a connection the server closed while it was idle).
- Discarding only broken connections: database/sql keeps a connection after a server's error reply
  (the driver closes it only on network errors and timeouts; `rejectReadOnly`, unset in OpenIM's
  DSN, would also drop it on 1290/1792/1836). Here every failed op discards its connection (the
  harness's rule: a broken or timed-out connection is not reused, and one that hit a read-only old
  primary reconnects through the primary file). Server errors other than read-only ones do not
  occur in these ops, so the one difference: after a switchover whose old primary stays up, OpenIM
  would keep failing writes with 1290 on its pooled connections until their 60 s lifetime ends.
- The cleaner goroutine that closes expired idle connections in the background: here an expired
  idle connection is closed at its next checkout (the server may count it a little longer).
- The opener goroutine: a waiter given a free slot connects itself (same outcome: it gets the new
  connection or the connect error).
- The liveness check on TLS connections (skipped; Endpoint.tls is off on every platform).
"""

from __future__ import annotations

import random
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from pymysql.connections import Connection

from harness.workload.base import NotApplied

MAX_OPEN_CONNS = 1000  # OpenIM config.yaml mysql.maxOpenConn
MAX_IDLE_CONNS = 100  # mysql.maxIdleConn
CONN_MAX_LIFETIME_S = 60.0  # mysql.maxLifeTime (seconds)
MAX_BAD_CONN_RETRIES = 2  # database/sql's maxBadConnRetries


class PoolTimeout(Exception):
    """No connection became free within the wait (Go: the context's deadline); nothing was sent."""


class BadConnection(Exception):
    """database/sql's `driver: bad connection` after its retries; nothing was sent."""


@dataclass(eq=False)
class _Pooled:
    conn: Connection
    created: float  # monotonic


@dataclass(eq=False)
class _Waiter:
    event: threading.Event = field(default_factory=threading.Event)
    handed: _Pooled | None = None  # a returned connection, now this waiter's
    may_open: bool = False  # a freed slot, already counted as open for this waiter


@dataclass
class _Warm:
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None


class MysqlPool:
    """database/sql's pool over PyMySQL connections, shared by the greenlets (or threads) of one
    process. `lease()` is the only way in: the connection goes back on success, and is discarded
    on any exception (BaseException included: an op past its deadline leaves it in an unknown state)."""

    def __init__(self, connect: Callable[[], Connection], wait_timeout_s: float, *, max_open: int = MAX_OPEN_CONNS,
                 max_idle: int = MAX_IDLE_CONNS, max_lifetime_s: float = CONN_MAX_LIFETIME_S):
        if max_open < 1 or max_idle < 0:
            raise ValueError(f"max_open >= 1 and max_idle >= 0 required, got {max_open}, {max_idle}")
        self._connect = connect
        self.wait_timeout_s = wait_timeout_s
        self.max_open = max_open
        self.max_idle = min(max_idle, max_open)  # as SetMaxIdleConns does
        self.max_lifetime_s = max_lifetime_s
        self._lock = threading.Lock()
        self._idle: list[_Pooled] = []
        self._waiters: list[_Waiter] = []
        self._rng = random.Random(0)
        self._warm: _Warm | None = None
        self._open = 0  # connected or connecting, in use or idle (Go's numOpen)
        self._peak = 0  # the most open at once since the last `take_peak()`
        self._counts = dict.fromkeys(("max_open_seen", "opened_total", "connect_failed_total", "discarded_total",
                                      "stale_total", "expired_total", "idle_closed_total", "waits_total",
                                      "wait_timeouts_total"), 0)

    # -- the public side ---------------------------------------------------------------------
    @contextmanager
    def lease(self) -> Iterator[Connection]:
        """A connection for one statement (or one transaction), returned or discarded afterwards. A
        failed checkout (connect error, ERROR 1040 too many connections, PoolTimeout, BadConnection) sent nothing: NotApplied."""
        try:
            pc = self._checkout(time.monotonic() + self.wait_timeout_s)
        except Exception as e:  # noqa: BLE001 - nothing was sent
            raise NotApplied(e) from e
        try:
            yield pc.conn
        except BaseException:
            self._discard(pc, "discarded_total")
            raise
        self._put(pc)

    def warm(self) -> None:
        """One connection before the first op, as gorm.Open's Ping makes one at OpenIM's start. Every
        user of a worker calls it; one connects, the others wait for it and share its outcome."""
        with self._lock:
            mine = self._warm is None
            if self._warm is None:
                self._warm = _Warm()
            warm = self._warm
        if not mine:
            warm.done.wait()
            if warm.error is not None:
                raise warm.error
            return
        try:
            with self.lease():
                pass
        except BaseException as e:
            warm.error = e
            raise
        finally:
            warm.done.set()

    def stats(self) -> dict[str, int]:
        """open / idle / in_use now, and the counters since the pool was made (for the load log)."""
        with self._lock:
            return {"open": self._open, "idle": len(self._idle), "in_use": self._open - len(self._idle),
                    "waiting": len(self._waiters), **self._counts}

    def take_peak(self) -> int:
        """The most connections open at once since the previous call (the load log's per-second line)."""
        with self._lock:
            peak, self._peak = self._peak, self._open
            return peak

    def close(self) -> None:
        """Closes the idle connections (the pool stays usable; leased ones close when returned over the cap)."""
        with self._lock:
            idle, self._idle = self._idle, []
            for _ in idle:
                self._closed_slot()
        for pc in idle:
            _close(pc.conn, polite=True)

    # -- checkout (DB.conn + DB.retry) -------------------------------------------------------
    def _checkout(self, deadline: float) -> _Pooled:
        for _ in range(MAX_BAD_CONN_RETRIES):
            pc = self._conn(deadline, cached=True)
            if pc is not None:
                return pc
        pc = self._conn(deadline, cached=False)
        if pc is None:
            raise BadConnection("driver: bad connection (the server closed every connection tried)")
        return pc

    def _conn(self, deadline: float, cached: bool) -> _Pooled | None:
        """A usable connection, or None for database/sql's ErrBadConn (retried by `_checkout`)."""
        waiter: _Waiter | None = None
        with self._lock:
            idle = self._idle.pop() if cached and self._idle else None
            if idle is None and self._open >= self.max_open:
                waiter = _Waiter()
                self._waiters.append(waiter)
                self._counts["waits_total"] += 1
            elif idle is None:
                self._opened_slot()
        if idle is not None:
            return self._checked(idle, cached)
        if waiter is not None:
            handed = self._wait(waiter, deadline)
            if handed is not None:
                return self._checked(handed, cached)
        return self._open_new()  # the slot is counted already

    def _checked(self, pc: _Pooled, cached: bool) -> _Pooled | None:
        """ResetSession and the expiry check of a connection that was idle (or just handed over)."""
        if cached and self._expired(pc):
            self._discard(pc, "expired_total", polite=True)
            return None
        if not _alive(pc.conn):
            self._discard(pc, "stale_total")
            return None
        return pc

    def _wait(self, w: _Waiter, deadline: float) -> _Pooled | None:
        """Blocks until a connection is handed over (returned) or a slot is (None); PoolTimeout past
        the deadline. Interrupted (the op's deadline), it gives back whatever it was handed."""
        try:
            got = w.event.wait(max(0.0, deadline - time.monotonic()))
        except BaseException:
            self._abandon(w)
            raise
        if not got:
            self._abandon(w)
            with self._lock:
                self._counts["wait_timeouts_total"] += 1
            raise PoolTimeout(f"no MySQL connection free within {self.wait_timeout_s:g} s "
                              f"({self.max_open} open, the pool's maximum)")
        return w.handed

    def _abandon(self, w: _Waiter) -> None:
        """A waiter gives up: out of the queue, or what it was handed goes back (Go: putConn)."""
        with self._lock:
            if w in self._waiters:
                self._waiters.remove(w)
                return
            handed, may_open = w.handed, w.may_open
            if may_open:
                self._closed_slot()
        if handed is not None:
            self._put(handed)

    def _open_new(self) -> _Pooled:
        try:
            conn = self._connect()
        except BaseException as e:
            with self._lock:
                if isinstance(e, Exception):
                    self._counts["connect_failed_total"] += 1
                self._closed_slot()
            raise
        with self._lock:
            self._counts["opened_total"] += 1
        return _Pooled(conn, time.monotonic())

    # -- return (putConn) --------------------------------------------------------------------
    def _put(self, pc: _Pooled) -> None:
        if self._expired(pc):
            self._discard(pc, "expired_total", polite=True)
            return
        with self._lock:
            if self._waiters:
                w = self._take_waiter()
                w.handed = pc
                w.event.set()
                return
            if len(self._idle) < self.max_idle:
                self._idle.append(pc)
                return
            self._counts["idle_closed_total"] += 1
            self._closed_slot()
        _close(pc.conn, polite=True)

    def _discard(self, pc: _Pooled, counter: str, polite: bool = False) -> None:
        """Closes a connection that must not be reused; a waiter may open one in its place.
        `polite` only for a healthy one (expired): a broken one gets no COM_QUIT."""
        with self._lock:
            self._counts[counter] += 1
            self._closed_slot()
        _close(pc.conn, polite)

    # -- bookkeeping (under the lock) --------------------------------------------------------
    def _opened_slot(self) -> None:
        self._open += 1
        self._peak = max(self._peak, self._open)
        self._counts["max_open_seen"] = max(self._counts["max_open_seen"], self._open)

    def _closed_slot(self) -> None:
        """numOpen-- and maybeOpenNewConnections: each freed slot goes to a random waiter."""
        self._open -= 1
        while self._waiters and self._open < self.max_open:
            w = self._take_waiter()
            self._opened_slot()
            w.may_open = True
            w.event.set()

    def _take_waiter(self) -> _Waiter:
        i = self._rng.randrange(len(self._waiters))
        self._waiters[i], self._waiters[-1] = self._waiters[-1], self._waiters[i]
        return self._waiters.pop()

    def _expired(self, pc: _Pooled) -> bool:
        return self.max_lifetime_s > 0 and time.monotonic() - pc.created >= self.max_lifetime_s


def _alive(conn: Connection) -> bool:
    """go-sql-driver's connCheck: a non-blocking peek at the socket of an idle connection. Nothing to
    read = usable; EOF, bytes (e.g. the server's 'connection killed' packet) or an error = not."""
    sock = getattr(conn, "_sock", None)  # PyMySQL's socket (private; its stubs do not declare it)
    if sock is None:
        return False  # PyMySQL closed it after an error
    if isinstance(sock, ssl.SSLSocket):
        return True  # not checked (module docstring)
    timeout = sock.gettimeout()
    try:
        sock.settimeout(0.0)
        try:
            sock.recv(1, socket.MSG_PEEK)
        except (BlockingIOError, InterruptedError):
            return True
        finally:
            sock.settimeout(timeout)
    except OSError:
        return False
    return False


def _close(conn: Connection, polite: bool) -> None:
    """`polite`: COM_QUIT first, as go-sql-driver's Close does on a healthy connection."""
    try:
        if polite:
            conn.close()
        else:
            conn._force_close()  # type: ignore[attr-defined]  # PyMySQL: close without COM_QUIT
    except Exception:  # noqa: BLE001 - already closed or broken
        pass
