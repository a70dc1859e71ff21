"""Small helpers shared by several test modules (imported as `from _helpers import ...`)."""

from __future__ import annotations

import time

from harness.procs import process_start_ticks


def wait_until(check, timeout: float, what: str, interval: float = 0.05):
    """Polls `check()` until truthy (returned); raises AssertionError saying what did not happen."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except Exception as e:  # noqa: BLE001 - not yet
            last = e
        time.sleep(interval)
    raise AssertionError(f"{what} did not happen within {timeout} s (last error: {last!r})")


def recording_platform_factory(started: list[tuple[int, int | None, str]]):
    """The run loop's platform factory, wrapped so every process the run spawns is appended to
    `started` as (pid, start ticks, name): tests then check by pid that none outlived the run."""
    from harness.platforms import create

    def factory(name, run):
        registry = run.registry
        orig = registry.spawn

        def spawn(argv, name, **kw):
            proc = orig(argv, name, **kw)
            started.append((proc.pid, process_start_ticks(proc.pid), name))
            return proc

        registry.spawn = spawn
        return create(name, run)

    return factory


def mysql_connect(ep, port=None, timeout=3.0):
    """A client connection to the endpoint's primary (or to `port`), as the tests' own SQL needs."""
    import pymysql

    host, p = ep.primary_address() if port is None else ("127.0.0.1", port)
    return pymysql.connect(host=host, port=p, user=ep.user, password=ep.password, database=ep.database,
                           connect_timeout=timeout, read_timeout=timeout, write_timeout=timeout, autocommit=True)


def mysql_execute(ep, sql, args=None, port=None):
    conn = mysql_connect(ep, port)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall()
    finally:
        conn.close()
