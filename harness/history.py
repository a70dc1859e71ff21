"""Streaming per-op history: every op as `invoke` then `ok` / `fail` / `info`, one JSON line each.

Jepsen's meaning: `ok` took effect, `fail` certainly did not, `info` may or may not have (a timeout
or a dropped connection during a write). Lines are written as they happen and never kept, so a
writer's memory is flat however long the run; readers stream the files the same way.

Line shapes (all times: `t_us` = time.monotonic_ns()//1000, system-wide on Linux; `wall` = unix s):
    {"type":"invoke","op":7,"p":"w0-u3","f":"send_message","w":1,"t_us":..,"wall":..}
    {"type":"ok","op":7,"p":"w0-u3","f":"send_message","w":1,"t_us":..,"wall":..,"inv_us":..,
     "due_us":..,"lag_us":..,"value":{"stream":"si_..","seq":12,"id":"..."}}
    {"type":"fail"|"info", ..., "error":"TimeoutError: ..."}
`w` is 1 for ops that write (the ones availability and read-back are about). A completion line
repeats what the checker needs, so a checker never has to join it with its invoke. `due_us` is the
slot of the user's open-loop schedule the op stands for, `lag_us` how long the load generator
itself was late in starting it (harness.workload.pacing); both absent for unscheduled ops.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

OUTCOMES = ("ok", "fail", "info")
FLUSH_EVERY_S = 0.25  # at most this much history is lost when a worker is SIGKILLed


def now_us() -> int:
    return time.monotonic_ns() // 1000


class HistoryWriter:
    """Appends op records to one JSON-lines file. One writer per process; not thread-safe
    (greenlets of one gevent hub never interleave inside `write`)."""

    def __init__(self, path: Path, op_id_base: int = 0):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh: IO[str] | None = open(self.path, "a", buffering=1 << 16)  # noqa: SIM115
        self._next = op_id_base
        self._last_flush = time.monotonic()
        # op -> (process, f, write, invoke_us, due_us, lag_us)
        self._open: dict[int, tuple[str, str, int, int, int | None, int | None]] = {}

    def invoke(self, process: str, f: str, write: bool, due_us: int | None = None, lag_us: int | None = None) -> int:
        op = self._next
        self._next += 1
        t = now_us()
        self._open[op] = (process, f, int(write), t, due_us, lag_us)
        self._emit(f'{{"type":"invoke","op":{op},"p":{_js(process)},"f":{_js(f)},"w":{int(write)},"t_us":{t},'
                   f'"wall":{time.time()!r}}}\n')
        return op

    def complete(self, op: int, outcome: str, value: dict[str, Any] | None = None, error: str | None = None) -> int:
        """Records the outcome; returns the op's latency in µs."""
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}, got {outcome!r}")
        process, f, w, inv, due, lag = self._open.pop(op)
        t = now_us()
        line = (f'{{"type":"{outcome}","op":{op},"p":{_js(process)},"f":{_js(f)},"w":{w},"t_us":{t},'
                f'"wall":{time.time()!r},"inv_us":{inv}')
        if due is not None:
            line += f',"due_us":{due},"lag_us":{lag}'
        if value:
            line += ',"value":' + json.dumps(value, separators=(",", ":"))
        if error:
            line += ',"error":' + json.dumps(error[:300])
        self._emit(line + "}\n")
        return t - inv

    @property
    def open_ops(self) -> int:
        return len(self._open)

    def _emit(self, line: str) -> None:
        """One record, already encoded: the fixed fields are formatted directly (json.dumps of the
        whole dict was the largest cost of the worker's own per-op work), strings via `_js`."""
        if self._fh is None:
            raise RuntimeError("history writer is closed")
        self._fh.write(line)
        now = time.monotonic()
        if now - self._last_flush >= FLUSH_EVERY_S:
            self._fh.flush()
            self._last_flush = now

    def flush(self) -> None:
        if self._fh is not None:
            self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.flush()
            self._fh.close()
            self._fh = None


@functools.lru_cache(maxsize=8192)
def _js(text: str) -> str:
    """A JSON string literal; process and op names repeat, so each is encoded once."""
    return json.dumps(text)


@dataclass(frozen=True)
class Completion:
    """A finished op, as the checker sees it."""

    outcome: str  # ok | fail | info
    op: int
    process: str
    f: str
    write: bool
    invoke_us: int
    complete_us: int
    value: dict[str, Any] | None
    error: str | None

    @property
    def latency_us(self) -> int:
        return self.complete_us - self.invoke_us


def iter_records(paths: Iterable[Path]) -> Iterator[dict[str, Any]]:
    """Every record of every file, streamed. A torn last line (a killed writer) is skipped;
    a malformed line elsewhere raises ValueError naming file and line."""
    for path in paths:
        with open(path) as fh:
            pending: str | None = None
            for lineno, line in enumerate(fh, 1):
                if pending is not None:
                    raise ValueError(f"{path}:{lineno - 1}: malformed history line")
                try:
                    yield json.loads(line)
                except ValueError:
                    pending = line
            # a torn final line is what a SIGKILL leaves: tolerated


def iter_completions(paths: Iterable[Path]) -> Iterator[Completion]:
    for r in iter_records(paths):
        if r["type"] == "invoke":
            continue
        yield Completion(r["type"], r["op"], r["p"], r["f"], bool(r["w"]), r["inv_us"], r["t_us"],
                         r.get("value"), r.get("error"))


def unfinished_invokes(paths: Iterable[Path]) -> list[dict[str, Any]]:
    """Invokes with no completion line (the writer died mid-op): their outcome is unknown."""
    open_: dict[tuple[str, int], dict[str, Any]] = {}
    for path in paths:
        for r in iter_records([path]):
            key = (str(path), r["op"])
            if r["type"] == "invoke":
                open_[key] = r
            else:
                open_.pop(key, None)
    return list(open_.values())


@dataclass(frozen=True)
class AckedWrite:
    """An acknowledged write: what the read-back must find. `seq` is None for streams without one."""

    stream: str
    id: str
    seq: int | None
    ack_us: int
    invoke_us: int = 0  # when the write was sent: a restored copy holding it must hold all acked before


def acked_writes(paths: Iterable[Path]) -> Iterator[AckedWrite]:
    """Streams the acknowledged writes out of the history files."""
    for c in iter_completions(paths):
        if c.outcome == "ok" and c.write and c.value and "stream" in c.value:
            v = c.value
            yield AckedWrite(v["stream"], str(v["id"]), v.get("seq"), c.complete_us, c.invoke_us)
