"""What the checker is given: one value the cell builds, instead of a long keyword list.

The cell knows the load window, the fault window and the settings; the workload adapter adds
the read-back. Everything the checker needs to judge a cell is in `CheckInput`, so a checker
can be run, replaced or tested without a cell around it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.faults import FaultWindow

if TYPE_CHECKING:
    from harness.checker.operation import OperationEvidence
    from harness.workload.readback import ReadBackResult

DEFAULT_GAP_FLOOR_S = 1.0  # shorter than any failover or restart; longer than a normal ack interval


@dataclass(frozen=True)
class ValidityLimits:
    """When a cell's load cannot be vouched for (the settings' `validity` block)."""

    min_delivered: float = 0.95  # of the offered rate, in the steady window
    max_lag_p99_s: float = 0.5
    max_stall_s: float = 0.5
    max_hub_block_s: float = 0.5


@dataclass(frozen=True)
class CheckInput:
    """One cell's history and the context needed to judge it."""

    history_paths: tuple[Path, ...]
    load_start_us: int
    load_end_us: int
    fault: FaultWindow | None = None  # the nemesis's window (one-shot: `held_until_us` None)
    readback: ReadBackResult | None = None  # None: not read back (lost_writes unknown)
    offered_ops_s: float | None = None
    hub_paths: tuple[Path, ...] = ()
    start_late_us: int = 0
    worker_cpu: float | None = None
    limits: ValidityLimits = field(default_factory=ValidityLimits)
    gap_floor_s: float = DEFAULT_GAP_FLOOR_S
    operation: OperationEvidence | None = None  # a day-2 operation's evidence (its window is `fault`)

    @classmethod
    def for_cell(cls, *, history_paths: list[Path], load_start_us: int, load_end_us: int, fault: FaultWindow | None,
                 settings: Any, load: Mapping[str, Any] | None = None,
                 operation: OperationEvidence | None = None) -> CheckInput:
        """From what the cell has: the nemesis' fault window, the run settings (offered rate, validity
        limits) and the load summary (late start, worker CPU). The hub watch files lie next to the
        histories."""
        load = load or {}
        paths = tuple(Path(p) for p in history_paths)
        return cls(history_paths=paths, load_start_us=load_start_us, load_end_us=load_end_us,
                   fault=fault, offered_ops_s=settings.load.rate_ops_s,
                   hub_paths=tuple(sorted(paths[0].parent.glob("hub-w*.json"))) if paths else (),
                   start_late_us=int(load.get("late_start_us") or 0), worker_cpu=load.get("worker_cpu_max"),
                   limits=ValidityLimits(**settings.validity.model_dump()), operation=operation)
