"""Op counts: invokes, and how each ended (`ok`, `fail`, `info` or never).

Always valid: failed and unknown ops are a fault's expected effect, not an anomaly; the
counts are evidence for the other checkers and for the report.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

TOP_ERRORS = 3
ERROR_TEXT = 160  # an error's first characters: the driver's class and message, not its whole traceback


@dataclass(frozen=True)
class OpsResult:
    total: int
    ok: int
    failed: int
    unknown: int  # info + never completed
    never_completed: int  # invoked, no completion in the history (the worker stopped)
    by_op: dict[str, dict[str, int]] = field(default_factory=dict)
    top_errors: tuple[tuple[str, int], ...] = ()  # the commonest error texts of failed / unknown ops
    valid: bool = True
    reasons: tuple[str, ...] = ()
    anomalies: tuple[str, ...] = ()

    @property
    def counts(self) -> dict[str, int]:
        return {"total": self.total, "ok": self.ok, "failed": self.failed, "unknown": self.unknown}

    @property
    def notes(self) -> list[str]:
        if not self.never_completed:
            return []
        return [f"{self.never_completed} ops were invoked but never completed (worker stopped): counted unknown"]

    def to_results(self) -> dict[str, Any]:
        return {"valid": self.valid, "reasons": list(self.reasons), **self.counts,
                "never_completed": self.never_completed,
                "top_errors": [{"error": e, "count": n} for e, n in self.top_errors]}


class OpsChecker:
    name = "ops"

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.by_op: dict[str, Counter[str]] = defaultdict(Counter)
        self.open: set[tuple[int, int]] = set()
        self.errors: Counter[str] = Counter()

    def invoke(self, fi: int, r: dict[str, Any]) -> None:
        self.counts["total"] += 1
        self.by_op[r["f"]]["total"] += 1
        self.open.add((fi, r["op"]))

    def complete(self, fi: int, r: dict[str, Any]) -> None:
        typ = r["type"]
        self.open.discard((fi, r["op"]))
        self.by_op[r["f"]][typ] += 1
        self.counts["ok" if typ == "ok" else "failed" if typ == "fail" else "unknown"] += 1
        if typ != "ok":
            self.errors[str(r.get("error") or "no error text")[:ERROR_TEXT]] += 1

    def result(self) -> OpsResult:
        c = self.counts
        return OpsResult(total=c["total"], ok=c["ok"], failed=c["failed"], unknown=c["unknown"] + len(self.open),
                         never_completed=len(self.open), by_op={k: dict(v) for k, v in self.by_op.items()},
                         top_errors=tuple(self.errors.most_common(TOP_ERRORS)))
