"""A replica added under load (KubeBlocks' HorizontalScaling 2 -> 3)."""

from harness.config import Timings
from scenarios.base import FaultDecl, Scenario

SCENARIO = Scenario(
    name="scale-out",
    summary="one replica added under load; it seeds by replication",
    expectation="kubeblocks adds a replica that copies the data by replication and serves once caught up; "
    "the primary keeps taking writes, its p99 rises while the copy runs",
    fault=FaultDecl(kind="scale-out", target="primary"),
    timings={
        "quick": Timings(warmup_s=3, before_fault_s=6, fault_s=0, observe_s=10),
        "full": Timings(warmup_s=10, before_fault_s=30, fault_s=0, observe_s=60),
        "nightly": Timings(warmup_s=5, before_fault_s=15, fault_s=0, observe_s=30),
    },
    not_applicable={
        "statefulset": "replicas: 2 of OpenIM's StatefulSet would start an unrelated second database (its pods "
        "do not replicate), so there is nothing to scale out",
    },
)
