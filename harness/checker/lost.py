"""Lost writes: acknowledged writes the final read-back did not find (Jepsen's `set` checker, the
history half; the read itself is harness.workload.readback).

Valid unless the read-back found acknowledged writes missing or overwritten. Without a read-back
the count is unknown (`lost_writes: null`) and the checker stays valid, saying so in a note.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.workload.readback import LostWrite, ReadBackResult


@dataclass(frozen=True)
class LostResult:
    acked_writes: int  # `ok` writes that name a stream (what the read-back checks)
    checked: int | None  # writes the read-back looked for; None: no read-back
    lost_writes: int | None
    lost: tuple[LostWrite, ...] = field(default=())  # the first evidence, from the read-back

    @property
    def valid(self) -> bool:
        return not self.lost_writes

    @property
    def reasons(self) -> tuple[str, ...]:
        if self.valid:
            return ()
        return (f"{self.lost_writes} of {self.acked_writes} acknowledged writes were missing in the final read-back",)

    @property
    def anomalies(self) -> tuple[str, ...]:
        return () if self.valid else ("lost_writes",)

    @property
    def notes(self) -> list[str]:
        if self.checked is None:
            return ["no read-back: lost_writes unknown"]
        if self.checked != self.acked_writes:
            return [f"read-back checked {self.checked} writes, history has {self.acked_writes} acknowledged"]
        return []

    def to_results(self) -> dict[str, Any]:
        return {"valid": self.valid, "reasons": list(self.reasons), "acked_writes": self.acked_writes,
                "checked": self.checked, "lost_writes": self.lost_writes}


def is_acked_stream_write(r: dict[str, Any]) -> bool:
    """An `ok` write whose value names a stream: the writes the read-back and the order checker see."""
    return r["type"] == "ok" and bool(r["w"]) and "stream" in (r.get("value") or {})


class LostChecker:
    name = "lost"

    def __init__(self, readback: ReadBackResult | None):
        self.readback = readback
        self.acked = 0

    wants_invokes = False  # judged from completions only: the pass skips it for invokes

    def invoke(self, fi: int, r: dict[str, Any]) -> None:
        pass

    def complete(self, fi: int, r: dict[str, Any]) -> None:
        if is_acked_stream_write(r):
            self.acked += 1

    def result(self) -> LostResult:
        rb = self.readback
        if rb is None:
            return LostResult(self.acked, None, None)
        return LostResult(self.acked, rb.checked, rb.lost_count, tuple(rb.lost))
