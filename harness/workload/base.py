"""What every engine client offers the Locust users, the benchmark and the tests.

An engine client is plain, blocking client code (no Locust). `run(op, actor, partial)` performs
one op for one simulated user and returns the value the checker needs; on error it raises, and
`partial` holds what was already known (e.g. the seq allocated before the write failed).
`classify(exc, write)` turns an exception into Jepsen's `fail` (certainly no effect) or `info`
(outcome unknown: the request may have reached the server).
"""

from __future__ import annotations

import bisect
import itertools
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from harness.errors import HarnessError
from harness.workload.model import Conversation, SeedInfo, conversations_of, message, text_pool


class NotApplied(Exception):
    """Raised by an engine client when an op failed before anything could take effect
    (e.g. a transaction that never reached COMMIT): always classified `fail`."""

    def __init__(self, cause: BaseException):
        super().__init__(f"{type(cause).__name__}: {cause}")
        self.cause = cause


@dataclass
class Actor:
    """One simulated OpenIM user of one load worker: who it is, what it can talk in, its RNG."""

    uid: str
    process: str  # history process name, e.g. "w0-u3"
    rng: random.Random
    convs: list[Conversation]
    friends: list[str]
    groups: list[str]
    texts: tuple[str, ...]
    msg_prefix: str
    _counter: int = field(default=0)

    def next_msg_id(self) -> str:
        """Globally unique client_msg_id: worker/user prefix + a counter."""
        self._counter += 1
        return f"{self.msg_prefix}-{self._counter}"

    def pick_conv(self) -> Conversation:
        return self.rng.choice(self.convs)

    def new_message(self, partial: dict[str, Any], malloc: Callable[[str], int]) -> tuple[Conversation, int, str, dict[str, Any]]:
        """A message to send: conversation, seq from the engine's allocator, id, OpenIM's message body.

        `partial` names the stream and id before the seq is allocated, and the seq before the write,
        so an op that fails midway still says what it was writing."""
        conv = self.pick_conv()
        mid = self.next_msg_id()
        partial.update(stream=conv.cid, id=mid)
        seq = malloc(conv.cid)
        partial["seq"] = seq
        msg = message(conv, self.uid, seq, mid, int(time.time() * 1000), self.rng.choice(self.texts))
        return conv, seq, mid, msg


def make_actor(info: SeedInfo, index: int, worker: int, seed: int, tag: str = "") -> Actor:
    """The actor for user slot `index` of worker `worker` (deterministic for a seed).

    `tag` (one per load run) keeps the ids it writes (client_msg_id, registered user ids, login
    device ids) unique across load runs against the same database."""
    rng = random.Random(seed * 1_000_003 + worker * 10_007 + index)
    uid = info.users[(worker * 7919 + index) % len(info.users)]
    convs = conversations_of(info, uid) or list(info.conversations[:1])
    if not convs:
        raise HarnessError("seed info has no conversations: seed the data set before starting load")
    friends = [b for a, b in info.friends if a == uid]
    groups = [g for g, members in info.groups if uid in members]
    return Actor(uid, f"w{worker}-u{index}", rng, convs, friends, groups, text_pool(rng, 8),
                 f"{seed}{tag}w{worker}u{index}")


class EngineClient(Protocol):
    engine: str

    @property
    def ops(self) -> Mapping[str, bool]:  # op name -> writes? (read-only: clients share their module's OPS)
        ...

    def run(self, op: str, actor: Actor, partial: dict[str, Any]) -> dict[str, Any]: ...

    def classify(self, exc: BaseException, write: bool) -> str: ...

    def warm(self) -> None: ...

    def close(self) -> None: ...


def op_deadline_s(op_timeout_s: float) -> float:
    """The most one op may take, end to end: one connect (Sentinel / primary discovery included)
    plus one command, each bounded by the driver's op timeout. Past it the op is `info`/`fail`."""
    return 2.0 * op_timeout_s


def check_mix(mix: Mapping[str, float], ops: Mapping[str, bool], engine: str) -> None:
    """Bad weights -> one clear line."""
    if not mix:
        raise HarnessError(f"{engine}: empty op mix; accepted ops: {', '.join(ops)}")
    bad = [o for o in mix if o not in ops]
    if bad:
        raise HarnessError(f"{engine}: unknown op {', '.join(bad)}; accepted: {', '.join(ops)}")
    if any(not isinstance(w, (int, float)) or w < 0 for w in mix.values()) or sum(mix.values()) <= 0:
        raise HarnessError(f"{engine}: op weights must be >= 0 with a positive sum, got {dict(mix)}")


def op_picker(mix: Mapping[str, float], rng: random.Random) -> Callable[[], str]:
    """Weighted choice, the same draws as `rng.choices(names, weights)` with the sums made once
    (it is called for every op)."""
    names = [o for o, w in mix.items() if w > 0]
    cum = list(itertools.accumulate(mix[o] for o in names))
    total, hi = cum[-1], len(cum) - 1
    return lambda: names[bisect.bisect(cum, rng.random() * total, 0, hi)]

