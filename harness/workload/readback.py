"""After recovery: read every acknowledged write back from the current primary.

Jepsen's `set` checker, final-read half: `lost` = acknowledged writes the read does not find.
A slot that holds a *different* message than the one acknowledged there is lost too
("overwritten": its seq was handed out again).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from harness import engines
from harness.contracts import Endpoint
from harness.history import AckedWrite

MAX_EVIDENCE = 1000  # lost writes listed in full; the count is always exact


@dataclass(frozen=True)
class LostWrite:
    stream: str
    id: str
    seq: int | None
    ack_us: int
    reason: str  # "missing" | "overwritten"
    found_id: str | None = None


@dataclass
class ReadBackResult:
    engine: str
    checked: int = 0
    found: int = 0
    lost_count: int = 0
    overwritten: int = 0
    lost: list[LostWrite] = field(default_factory=list)  # first MAX_EVIDENCE, by ack order read
    read_at_wall: float = 0.0
    duration_s: float = 0.0
    source: str = ""

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["lost"] = [asdict(x) for x in self.lost]
        return d


def read_back(endpoint: Endpoint, engine: str, acked_writes: Iterable[AckedWrite]) -> ReadBackResult:
    """Reads each acknowledged write (streamed, batched) from the primary the endpoint points at."""
    res = ReadBackResult(engine=engine, read_at_wall=time.time(), source=endpoint.describe())
    t0 = time.monotonic()
    for w, found in engines.get(engine).read_back(endpoint, acked_writes):
        res.checked += 1
        if found == w.id:
            res.found += 1
            continue
        reason = "missing" if found is None else "overwritten"
        res.lost_count += 1
        res.overwritten += reason == "overwritten"
        if len(res.lost) < MAX_EVIDENCE:
            res.lost.append(LostWrite(w.stream, w.id, w.seq, w.ack_us, reason, found))
    res.duration_s = time.monotonic() - t0
    return res
