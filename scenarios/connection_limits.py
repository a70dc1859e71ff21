"""OpenIM's connection pools against the server's own limit (KubeBlocks' MySQL max_connections is
(memory limit / 4) / 1605632: 83 at the default 0.5Gi)."""

from harness.config import Timings
from scenarios.base import Scenario

SCENARIO = Scenario(
    name="connection-limits",
    summary="OpenIM's real pool sizes for every OpenIM process of its own Kubernetes deployment, opened at once "
    "against the server's max_connections / maxclients",
    expectation="a server whose limit is below processes x pool refuses the rest; KubeBlocks' MySQL renders "
    "max_connections from the memory limit (83 at 0.5Gi), OpenIM's StatefulSet keeps the server default",
    fault=None,
    measure="connections",
    timings={p: Timings(warmup_s=1, before_fault_s=1, fault_s=0, observe_s=0) for p in ("quick", "full", "nightly")},
)
