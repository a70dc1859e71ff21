"""A minor server version change (KubeBlocks' Upgrade OpsRequest vs a StatefulSet image change)."""

from harness.config import Timings
from scenarios.base import FaultDecl, Scenario

SCENARIO = Scenario(
    name="upgrade",
    summary="a minor server version upgrade, pod by pod",
    expectation="kubeblocks upgrades the secondary first, switches over, then the old primary; statefulset "
    "replaces its single pod: writes stop until the new version is up",
    fault=FaultDecl(kind="upgrade", target="primary"),
    timings={
        "quick": Timings(warmup_s=3, before_fault_s=6, fault_s=0, observe_s=30),
        "full": Timings(warmup_s=10, before_fault_s=30, fault_s=0, observe_s=120),
        "nightly": Timings(warmup_s=5, before_fault_s=15, fault_s=0, observe_s=90),
    },
    not_on_platform={
        "local": "this machine has one server version per engine (one Debian package each): there is no "
        "version to upgrade to; kind/k8s change serviceVersion (KubeBlocks) or the image (StatefulSet)",
    },
)
