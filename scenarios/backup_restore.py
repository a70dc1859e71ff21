"""A full backup under load, restored into a new deployment and read back."""

from harness.config import Timings
from scenarios.base import FaultDecl, Scenario

SCENARIO = Scenario(
    name="backup-restore",
    summary="a full backup taken under load, then restored into a new deployment and read back",
    expectation="kubeblocks backs up the secondary (xtrabackup / Redis datafile), so the primary barely "
    "notices; statefulset dumps its only pod; every write acknowledged before the backup's consistent "
    "point is in the restored copy",
    fault=FaultDecl(kind="backup-restore", target="secondary"),
    timings={
        "quick": Timings(warmup_s=3, before_fault_s=6, fault_s=0, observe_s=8),
        "full": Timings(warmup_s=10, before_fault_s=30, fault_s=0, observe_s=60),
        "nightly": Timings(warmup_s=5, before_fault_s=15, fault_s=0, observe_s=30),
    },
)
