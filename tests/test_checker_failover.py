"""The checker against real failures on the local platform: a Redis StatefulSet killed mid-run
with and without persistence, and a Sentinel failover whose RTO must agree with the Sentinel's
own `+switch-master` log line."""

from __future__ import annotations

import time

import pytest

from harness.checker import FaultWindow, check
from harness.contracts import Fault
from harness.faults import inject
from harness.history import acked_writes
from harness.workload.driver import LoadSpec, seed_data, start_load
from harness.workload.model import SeedSize
from harness.workload.readback import read_back

SIZE = SeedSize(users=30, friends_per_user=3, groups=2, group_size=8)
MIX = {"send_message": 8, "login": 1, "sync": 1}
LOAD_WAIT_S = 90
WARM_OK_OPS = 150  # acknowledged ops before the fault, so there is something to lose
RTO_AGREEMENT_S = 1.0  # the bound between our rto_s and Sentinel's +switch-master
READBACK_DEADLINE_S = 30.0  # the restarted / promoted primary may still be loading


def _wait_for(pred, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(0.1)


def _read_back_when_up(ep, paths):
    deadline = time.monotonic() + READBACK_DEADLINE_S
    while True:
        try:
            return read_back(ep, "redis", acked_writes(paths))
        except Exception:  # noqa: BLE001 - the primary is still coming back
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _run_with_kill(platform, dep, registry, tmp_path, duration_s: float):
    ep = platform.endpoint(dep)
    info = seed_data(ep, "redis", SIZE, seed=1)
    spec = LoadSpec("redis", MIX, rate_ops_s=100, users=4, duration_s=duration_s, seed=1, workers=1, op_timeout_s=0.5)
    run = start_load(ep, spec, info, tmp_path / "out", registry, tmp_path / "load.log")
    try:
        _wait_for(lambda: run.progress().ok >= WARM_OK_OPS, 30, f"{WARM_OK_OPS} acknowledged ops before the fault")
        inj = inject(platform, dep, Fault("pod-kill"))
        summary = run.wait(LOAD_WAIT_S)
    finally:
        run.stop()
    rb = _read_back_when_up(ep, run.history_paths)
    m = check(run.history_paths, load_start_us=summary.load_start_us, load_end_us=summary.load_end_us,
              fault=FaultWindow.of("pod-kill", inj.injected_at_us), readback=rb)
    return inj, m


@pytest.mark.parametrize("appendonly", [False, True], ids=["no-persistence", "appendonly"])
def test_statefulset_redis_killed_mid_run(local_platform, fast_spec, registry, tmp_path, appendonly):
    dep = local_platform.deploy("redis", "statefulset", fast_spec.replace(redis_appendonly=appendonly))
    _inj, m = _run_with_kill(local_platform, dep, registry, tmp_path, duration_s=6)
    print(f"appendonly={appendonly}: rto_s={m.rto_s} acked={m.acked_writes} lost={m.lost_writes} "
          f"dups={m.duplicate_seqs} regressions={m.seq_regressions} ops={m.ops}")
    assert m.recovered is True and m.rto_s and m.rto_s >= fast_spec.restart_delay_s
    assert m.ops["failed"] + m.ops["unknown"] > 0  # the outage shows as failed ops
    if appendonly:
        assert m.lost_writes == 0, [x.id for x in m.lost[:5]]
        assert m.duplicate_seqs == 0 and m.seq_regressions == 0
    else:
        # the restarted server is empty: every message acked before the kill is gone, and the
        # allocator starts again at 1 (OpenIM #3249 / KubeBlocks #10753)
        assert m.lost_writes >= WARM_OK_OPS * 0.5
        assert m.duplicate_seqs > 0 and m.seq_regressions > 0


def test_sentinel_rto_agrees_with_switch_master(local_platform, fast_spec, registry, tmp_path):
    # the killed primary stays down long enough for Sentinel to fail over (as in a zone outage)
    spec = fast_spec.replace(restart_delay_s=60.0)
    dep = local_platform.deploy("redis", "kubeblocks", spec)
    inj, m = _run_with_kill(local_platform, dep, registry, tmp_path, duration_s=12)
    changes = [c for c in local_platform.role_changes(dep) if c.at_wall > inj.injected_at_wall]
    assert changes, "Sentinel logged no +switch-master after the kill"
    assert m.recovered is True and m.rto_s is not None
    our_wall = inj.injected_at_wall + m.rto_s
    sentinel_rto = changes[0].at_wall - inj.injected_at_wall
    print(f"sentinel: rto_s={m.rto_s:.3f} +switch-master after {sentinel_rto:.3f} s; lost={m.lost_writes}")
    assert abs(our_wall - changes[0].at_wall) <= RTO_AGREEMENT_S, (
        f"rto_s {m.rto_s:.3f} vs Sentinel +switch-master after {sentinel_rto:.3f} s")
