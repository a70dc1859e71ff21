"""The composed verdict (Jepsen's `checker/compose`): valid when every checker is valid.

Each checker returns a frozen result with `valid`, `reasons` (why not valid, one line each),
`anomalies` (the names of what it found wrong, for the report) and its evidence numbers. The
verdict keeps every result by name and is persisted in results.json as the cell's `verdict`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

# The order results are composed, persisted and listed in.
CHECKER_NAMES = ("ops", "latency", "availability", "lost", "order", "generator", "operation")  # operation: day-2 cells


class CheckResult(Protocol):
    @property
    def valid(self) -> bool: ...

    @property
    def reasons(self) -> tuple[str, ...]: ...

    @property
    def anomalies(self) -> tuple[str, ...]: ...

    def to_results(self) -> dict[str, Any]:
        """`valid`, `reasons` and the evidence numbers, as JSON values."""
        ...


@dataclass(frozen=True)
class Verdict:
    results: Mapping[str, CheckResult]

    @property
    def valid(self) -> bool:
        return all(r.valid for r in self.results.values())

    @property
    def anomaly_types(self) -> tuple[str, ...]:
        return tuple(a for r in self.results.values() for a in r.anomalies)

    @property
    def reasons(self) -> tuple[str, ...]:
        return tuple(f"{name}: {why}" for name, r in self.results.items() for why in r.reasons)

    def to_results(self) -> dict[str, Any]:
        return {"valid": self.valid, "anomaly_types": list(self.anomaly_types),
                "checkers": {name: r.to_results() for name, r in self.results.items()}}
