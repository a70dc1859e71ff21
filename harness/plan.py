"""The run plan: which cells, in what order, with which timings, and how long it should take.

Pure: no I/O. The run loop prints the plan (and its planned total) before it starts anything,
and `--dry-run` prints only the plan.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from harness.capacity import step_rates
from harness.config import Settings, Timings
from harness.contracts import Fault
from harness.scenario import Scenario

STEP_OVERHEAD_S = 4.0  # a capacity step's worker start, connect and check


@dataclass(frozen=True)
class CellPlan:
    scenario: Scenario
    engine: str
    mode: str
    repeat: int
    timings: Timings
    not_applicable: str | None = None  # the reason, when the scenario says nothing about this cell
    unavailable: str | None = None  # the platform lacks the engine (known before deploy): skipped fast
    timing_note: str | None = None  # why the timings differ from the profile's here (a platform's floor)
    rates: tuple[float, ...] = ()  # a capacity cell's offered rates per step

    @property
    def capacity_steps(self) -> int:
        return len(self.rates)

    @property
    def key(self) -> str:
        base = f"{self.scenario.name}/{self.engine}/{self.mode}"
        return base if self.repeat == 0 else f"{base}#{self.repeat}"

    @property
    def dir_name(self) -> str:
        base = f"{self.scenario.name}-{self.engine}-{self.mode}"
        return base if self.repeat == 0 else f"{base}-r{self.repeat}"

    @property
    def fault(self) -> Fault | None:
        decl = self.scenario.fault
        if decl is None:
            return None
        return Fault(kind=decl.kind, target=decl.target, duration_s=self.timings.fault_s)

    def runnable(self) -> bool:
        return self.not_applicable is None and self.unavailable is None

    def planned_s(self, overhead_s: float) -> float:
        """Wall time this cell should take: warm-up + load + deploy/seed/read-back/teardown."""
        if not self.runnable():
            return 0.0
        if self.scenario.measure == "capacity":  # at most every step; the search usually stops sooner
            return self.capacity_steps * (self.timings.warmup_s + self.timings.before_fault_s + STEP_OVERHEAD_S) + overhead_s
        if self.scenario.measure == "connections":
            return overhead_s
        return self.timings.warmup_s + self.timings.load_s + overhead_s

    def steps(self) -> list[str]:
        """What the cell will do, for --dry-run and the run log."""
        t = self.timings
        if self.not_applicable:
            return [f"not applicable: {self.not_applicable}"]
        if self.unavailable:
            return [f"skipped: {self.unavailable}"]
        if self.scenario.measure == "capacity":
            return [f"deploy {self.engine}/{self.mode}", "seed data",
                    f"up to {self.capacity_steps} steps of offered load ({', '.join(f'{r:g}' for r in self.rates)} ops/s): "
                    f"each warm up {t.warmup_s:g} s, load {t.before_fault_s:g} s, check; stop at the first step not "
                    "sustained", "tear down"]
        if self.scenario.measure == "connections":
            return [f"deploy {self.engine}/{self.mode}", "open OpenIM's connection pools against the server's limit",
                    "count refusals, close them", "tear down"]
        out = [f"deploy {self.engine}/{self.mode}", "seed data", f"warm up {t.warmup_s:g} s",
               f"load {t.load_s:g} s"]
        f = self.fault
        if f is not None:
            out.append(f"inject {f.kind} ({f.target}) at {t.before_fault_s:g} s"
                       + (f", recover after {f.duration_s:g} s" if f.duration_s else "")
                       + (f" ({self.timing_note})" if self.timing_note else ""))
            out.append(f"observe recovery {t.observe_s:g} s")
        out += ["read back and check", "write timeline + history", "tear down"]
        return out


def scenario_timings(sc: Scenario, settings: Settings, platform: str | None = None) -> tuple[Timings, str | None]:
    """A scenario's timings for this run: the profile's, then the settings file's, then the platform's
    floor (e.g. zone faults on kind), with the note saying when the floor changed them."""
    return sc.on_platform(platform, settings.timings_for(sc.name, sc.timings_for(settings.profile)))


def plan_cells(
    scenarios: Iterable[Scenario],
    engines: Iterable[str],
    modes: Iterable[str],
    settings: Settings,
    unavailable: dict[str, str] | None = None,
    platform: str | None = None,
) -> list[CellPlan]:
    """Repeat-major, then scenario (run order), engine, mode. `unavailable`: engine -> reason.
    `platform`: where the cells run (its timing floors apply)."""
    scs, ens, mds = list(scenarios), list(engines), list(modes)
    unavailable = unavailable or {}
    cells: list[CellPlan] = []
    c = settings.capacity
    for r in range(settings.repeat):
        for sc in scs:
            timings, note = scenario_timings(sc, settings, platform)
            rates = tuple(step_rates(c.start_ops_s, c.factor, c.max_ops_s)) if sc.measure == "capacity" else ()
            for e in ens:
                for m in mds:
                    na = sc.not_applicable_reason(e, m, platform)
                    cells.append(CellPlan(sc, e, m, r, timings, na, None if na else unavailable.get(e), note, rates))
    return cells


def planned_total_s(cells: Iterable[CellPlan], overhead_s: float) -> float:
    return sum(c.planned_s(overhead_s) for c in cells)


def fmt_duration(s: float) -> str:
    s = int(round(s))
    return f"{s // 60} min {s % 60:02d} s" if s >= 60 else f"{s} s"
