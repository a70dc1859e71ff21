"""No fault: the cost of HA (semi-sync round trip, Sentinel-aware client) against one instance."""

from harness.config import Timings
from scenarios.base import Scenario

SCENARIO = Scenario(
    name="steady",
    summary="no fault; the steady-state latency and throughput cost of HA",
    expectation="kubeblocks pays for replication (MySQL semi-sync waits for the replica's ack); "
    "no failed ops in either mode",
    fault=None,
    timings={
        "quick": Timings(warmup_s=3, before_fault_s=10, fault_s=0, observe_s=0),
        "full": Timings(warmup_s=10, before_fault_s=60, fault_s=0, observe_s=0),
        "nightly": Timings(warmup_s=5, before_fault_s=20, fault_s=0, observe_s=0),
    },
)
