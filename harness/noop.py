"""Parts that do nothing, so a run can be composed without touching anything (the dry run) and a
test can replace one part alone. Jepsen's `noop` client / nemesis / checker, for this harness.

The dry run is the real `run_cell` with these parts, a platform whose runner prints instead of
executing (harness/platforms/commands.py `DryRunRunner`), and a clock that only moves when waited on.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.clock import Clock
from harness.config import Settings
from harness.contracts import Endpoint

if TYPE_CHECKING:
    from harness.checker import CellMeasures, CheckInput
    from harness.faults import FaultWindow


class NoopLoad:
    """A load that offers nothing and ends when the clock passes its window."""

    history_paths: list[Path]

    def __init__(self, clock: Clock, duration_s: float, warmup_s: float):
        self.clock = clock
        self.history_paths = []
        self.load_start_us = clock.now_us() + int(warmup_s * 1e6)
        self._end_us = self.load_start_us + int(duration_s * 1e6)

    def rates(self) -> tuple[float, float]:
        return 0.0, 0.0

    def done(self) -> bool:
        return self.clock.now_us() >= self._end_us

    def finish(self, timeout_s: float) -> dict[str, Any]:
        return {"load_end_us": self._end_us}

    def stop(self) -> None:
        pass


class NoopWorkload:
    """Seeds nothing, sends nothing, checks nothing; `note` hears what a real load would do."""

    def __init__(self, clock: Clock, note: Callable[[str], None] | None = None):
        self.clock = clock
        self.note = note or (lambda text: None)

    def seed(self, endpoint: Endpoint, engine: str, settings: Settings) -> None:
        return None

    def start(self, endpoint: Endpoint, engine: str, mix: dict[str, float], duration_s: float, settings: Settings,
              seed_info: Any, out_dir: Path, log_path: Path, *, warmup_s: float = 0.0) -> NoopLoad:
        self.note(f"workload connects to {endpoint.describe()}; steady window, then the fault")
        return NoopLoad(self.clock, duration_s, warmup_s)

    def measure(self, endpoint: Endpoint, engine: str, inp: CheckInput, timeline_path: Path) -> dict[str, Any]:
        """Nothing was measured: no measures (the cell's record says so by their absence)."""
        return {}

    def read_restored(self, endpoint: Endpoint, engine: str, history_paths: list[Path]) -> list[tuple[Any, bool]]:
        self.note(f"read back every acknowledged write from the restored {endpoint.describe()}")
        return []

    def open_pools(self, endpoint: Endpoint, engine: str, processes: int | None, pool: int | None) -> dict[str, Any]:
        from harness.connections import ConnectionsPlan

        plan = ConnectionsPlan.from_settings(engine, processes, pool)
        self.note(f"open {plan.processes} x {plan.pool} connections to {endpoint.describe()} ({plan.source}), "
                  "count refusals against the server's limit, close them")
        return {}


class NoopChecker:
    """Checks nothing (Jepsen's `checker/noop`): no checker results in the verdict, and a note that says
    so, for compositions that must run a cell without judging it (a test of the cell's plumbing)."""

    def check(self, inp: CheckInput) -> CellMeasures:
        from harness.checker import CellMeasures, Verdict

        return CellMeasures(
            ops={"total": 0, "ok": 0, "failed": 0, "unknown": 0}, throughput_ops_s={}, latency_ms={},
            latency_steady_ms={}, write_gap_s=None, rto_s=None, recovered=None, gap_start_us=None,
            gap_end_us=None, acked_writes=0, lost_writes=None, duplicate_seqs=0, seq_regressions=0,
            load_start_us=inp.load_start_us, load_end_us=inp.load_end_us, fault=inp.fault,
            notes=["nothing was checked: the noop checker"], verdict=Verdict({}),
        )


class NoopNemesis:
    """Breaks nothing (Jepsen's `nemesis/noop`): the schedule of a cell without a fault."""

    fault = None
    at_us = 0
    error: BaseException | None = None
    injected = False
    outcome = None

    def start(self) -> NoopNemesis:
        return self

    def stop(self) -> None:
        pass

    def window(self) -> FaultWindow | None:
        return None
