"""SIGKILL / delete a secondary: writes should not notice (MySQL semi-sync may wait, then go async)."""

from harness.config import Timings
from scenarios.base import FaultDecl, Scenario

SCENARIO = Scenario(
    name="pod-kill-secondary",
    summary="a secondary pod is killed once and restarted in place",
    expectation="writes continue on the primary; MySQL semi-sync may stall up to its timeout "
    "before falling back to async",
    fault=FaultDecl(kind="pod-kill", target="secondary"),
    timings={
        "quick": Timings(warmup_s=3, before_fault_s=6, fault_s=0, observe_s=10),
        "full": Timings(warmup_s=10, before_fault_s=30, fault_s=0, observe_s=45),
        "nightly": Timings(warmup_s=5, before_fault_s=15, fault_s=0, observe_s=30),
    },
    not_applicable={
        "statefulset": "a StatefulSet as OpenIM ships it has one instance and no secondary to kill",
    },
)
