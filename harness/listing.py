"""`harness list`: the scenarios, engines, modes, profiles and platforms a run can be asked for."""

from __future__ import annotations

import sys
from typing import Any

from harness import catalog
from harness.config import PROFILES
from harness.contracts import ENGINES, MODES, PLATFORMS


def list_everything(stream: Any = None) -> int:
    out = stream or sys.stdout
    w = lambda text="": print(text, file=out)  # noqa: E731
    w("scenarios (in run order; timings for the quick profile):")
    for sc in catalog.load_scenarios().values():
        t = sc.timings_for("quick")
        fault = f"{sc.fault.kind} ({sc.fault.target})" if sc.fault else "no fault"
        w(f"  {sc.name:<20} {fault:<24} warm-up {t.warmup_s:g} s, load {t.load_s:g} s"
          + (f" (fault at {t.before_fault_s:g} s for {t.fault_s:g} s)" if sc.fault else ""))
        w(f"  {'':<20} {sc.summary}")
        for mode, why in sc.not_applicable.items():
            w(f"  {'':<20} not applicable to {mode}: {why}")
    w(f"engines:   {', '.join(ENGINES)}")
    w(f"modes:     {', '.join(MODES)}")
    w(f"profiles:  {', '.join(PROFILES)} (default quick)")
    w(f"platforms: auto, {', '.join(PLATFORMS)} (default auto: kind with a Docker engine, else local)")
    return 0
