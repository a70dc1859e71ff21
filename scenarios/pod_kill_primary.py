"""SIGKILL / delete the primary pod once; the platform restarts it in place after its restart delay."""

from harness.config import Timings
from scenarios.base import FaultDecl, Scenario

SCENARIO = Scenario(
    name="pod-kill-primary",
    summary="the primary pod is killed once and restarted in place (kubelet)",
    expectation="mysql kubeblocks fails over within its 2 probe periods; a killed Redis primary is "
    "usually back (restarted in place) before Sentinel's 20 s down-after, so no failover; "
    "statefulset waits for the restart",
    fault=FaultDecl(kind="pod-kill", target="primary"),
    timings={
        "quick": Timings(warmup_s=3, before_fault_s=6, fault_s=0, observe_s=14),
        "full": Timings(warmup_s=10, before_fault_s=30, fault_s=0, observe_s=60),
        "nightly": Timings(warmup_s=5, before_fault_s=15, fault_s=0, observe_s=45),
    },
)
