"""The primary's zone is frozen (pods alive but unreachable / SIGSTOPped), then released."""

from harness.config import Timings
from scenarios.base import NODE_LOSS_MIN_FAULT_S, FaultDecl, Scenario

SCENARIO = Scenario(
    name="zone-partition",
    summary="the primary's zone is cut off for a while (pods alive but unreachable), then released",
    expectation="kubeblocks fails over away from the frozen zone and fences the old primary when it "
    "returns; statefulset stalls until the partition heals; acknowledged writes must survive",
    fault=FaultDecl(kind="zone-partition", target="primary"),
    timings={
        "quick": Timings(warmup_s=3, before_fault_s=6, fault_s=28, observe_s=8),
        "full": Timings(warmup_s=10, before_fault_s=30, fault_s=90, observe_s=45),
        "nightly": Timings(warmup_s=5, before_fault_s=15, fault_s=60, observe_s=45),
    },
    min_fault_s=NODE_LOSS_MIN_FAULT_S,  # kind: the dead primary stays in the Service for the grace period
)
