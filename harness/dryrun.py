"""`harness run --dry-run` on kind / k8s: every command and manifest a run would apply, in order.

Not a second run loop: the cells go through the real `run_cell`, composed of the noop workload, a
platform whose runner prints each step instead of executing it, and a clock that only moves when
waited on (so the nemesis's schedule passes at once and in order). Nothing is written.
"""

from __future__ import annotations

import io
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, TextIO, cast

from harness.cell import CellEnv, run_cell
from harness.clock import VirtualClock
from harness.config import Settings, build_settings
from harness.context import RunContext
from harness.contracts import Platform
from harness.errors import HarnessError
from harness.faults import Observer
from harness.noop import NoopWorkload
from harness.operations import needs_data_protection
from harness.plan import CellPlan
from harness.platforms import create, entry
from harness.platforms.commands import Runner, Step


class PlanningPlatform(Platform, Protocol):
    """A platform whose every action is a command (kind, k8s): built on a DryRunRunner, it plans."""

    runner: Runner

    def setup(self) -> None: ...

    def plan_notes(self) -> Observer:
        """How the plan describes the nemesis's actions (the assumed primary, the fault in force)."""
        ...


def dry_run_plan(platform_name: str, cells: Sequence[CellPlan], settings: Settings | None = None,
                 out: TextIO | None = sys.stdout, *, install_kubeblocks: bool = False) -> list[Step]:
    """Prints (to `out`, None: nowhere) and returns every step a run of `cells` would take."""
    settings = settings or build_settings("quick")
    clock = VirtualClock()
    with tempfile.TemporaryDirectory(prefix="harness-dry-run-") as scratch:
        run = RunContext(settings=settings, run_dir=Path(scratch), work_dir=Path(scratch), clock=clock,
                         out=out if out is not None else io.StringIO(), dry_run=True,
                         install_kubeblocks=install_kubeblocks,
                         data_protection=needs_data_protection(c.fault.kind if c.fault else None for c in cells))
        if not entry(platform_name).plans_commands:
            raise HarnessError(f"--dry-run: the {platform_name} platform cannot print a plan of its commands")
        platform = cast(PlanningPlatform, create(platform_name, run))
        runner = platform.runner
        env = CellEnv(platform=platform, workload=NoopWorkload(clock, note=runner.note), settings=settings,
                      run_dir=run.run_dir, clock=clock, observe=platform.plan_notes())
        try:
            platform.setup()
            for plan in cells:
                fault = plan.fault
                runner.note(f"cell {plan.scenario.name} {plan.engine}/{plan.mode}"
                            f" fault={fault.kind + ':' + fault.target if fault else 'none'}")
                rec = run_cell(env, plan)
                if rec["status"] == "failed":
                    runner.note(f"the cell would fail here: {rec['reason']}")
        finally:
            platform.close()
    return list(runner.steps)

