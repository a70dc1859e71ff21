"""Stepped offered load: how far each mode goes before its p99, its errors or the generator give way."""

from harness.config import Timings
from scenarios.base import Scenario

SCENARIO = Scenario(
    name="capacity",
    summary="stepped offered load (settings capacity: 100 ops/s doubling) until the p99 SLO, 1 % errors "
    "or the load generator's own limit",
    expectation="both modes sustain the same rates on this machine until one of them saturates; kubeblocks "
    "pays replication (MySQL semi-sync) and KubeBlocks' own configs (general log, audit log) at every step",
    fault=None,
    measure="capacity",
    timings={
        "quick": Timings(warmup_s=3, before_fault_s=10, fault_s=0, observe_s=0),
        "full": Timings(warmup_s=5, before_fault_s=30, fault_s=0, observe_s=0),
        "nightly": Timings(warmup_s=3, before_fault_s=15, fault_s=0, observe_s=0),
    },
)
