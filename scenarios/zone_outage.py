"""The zone holding the primary goes down (every pod in it dies and stays down), then returns."""

from harness.config import Timings
from scenarios.base import NODE_LOSS_MIN_FAULT_S, FaultDecl, Scenario

SCENARIO = Scenario(
    name="zone-outage",
    summary="the primary's zone goes down for a while (its pods cannot restart), then returns",
    expectation="kubeblocks fails over to the other zone (MySQL in seconds, Redis after Sentinel's "
    "20 s down-after plus the election); statefulset is down until the zone returns",
    fault=FaultDecl(kind="zone-outage", target="primary"),
    # quick: the outage must outlast Sentinel's 20 s down-after + election so Redis can fail over.
    timings={
        "quick": Timings(warmup_s=3, before_fault_s=6, fault_s=28, observe_s=8),
        "full": Timings(warmup_s=10, before_fault_s=30, fault_s=90, observe_s=45),
        "nightly": Timings(warmup_s=5, before_fault_s=15, fault_s=60, observe_s=45),
    },
    min_fault_s=NODE_LOSS_MIN_FAULT_S,  # kind: the dead primary stays in the Service for the grace period
)
