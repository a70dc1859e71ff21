"""A planned primary move under load (KubeBlocks' Switchover OpsRequest)."""

from harness.config import Timings
from scenarios.base import FaultDecl, Scenario

SCENARIO = Scenario(
    name="switchover",
    summary="a planned switchover: the primary role moves to the secondary, the old primary rejoins",
    expectation="kubeblocks moves the primary with a short write pause (MySQL: fence, catch up, promote, "
    "repoint; Redis: SENTINEL FAILOVER) and loses nothing",
    fault=FaultDecl(kind="switchover", target="primary"),
    timings={
        "quick": Timings(warmup_s=3, before_fault_s=6, fault_s=0, observe_s=10),
        "full": Timings(warmup_s=10, before_fault_s=30, fault_s=0, observe_s=45),
        "nightly": Timings(warmup_s=5, before_fault_s=15, fault_s=0, observe_s=30),
    },
    not_applicable={
        "statefulset": "a StatefulSet as OpenIM ships it has one instance: there is no other pod to move "
        "the primary to",
    },
)
