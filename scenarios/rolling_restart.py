"""The rolling restart a config change needs (KubeBlocks' Restart OpsRequest; `kubectl rollout restart`)."""

from harness.config import Timings
from scenarios.base import FaultDecl, Scenario

SCENARIO = Scenario(
    name="rolling-restart",
    summary="every pod restarted one at a time, as a config change needs",
    expectation="kubeblocks restarts the secondary first, switches over, then restarts the old primary: one "
    "short write pause; statefulset restarts its single pod: writes stop until it is back",
    fault=FaultDecl(kind="rolling-restart", target="primary"),
    timings={
        "quick": Timings(warmup_s=3, before_fault_s=6, fault_s=0, observe_s=28),
        "full": Timings(warmup_s=10, before_fault_s=30, fault_s=0, observe_s=90),
        "nightly": Timings(warmup_s=5, before_fault_s=15, fault_s=0, observe_s=60),
    },
)
