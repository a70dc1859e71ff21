"""The load's numbers under faults: what the first `make poc` got wrong, each against real servers.

- pacing: a user never catches up on missed slots (Locust's constant_throughput fired two ops
  back to back at start: 400 ok/s for 200 offered), and each op knows the slot it was due in;
- warm-up inside the measured run: the measured users are already connected, and ids written by
  one load run never collide with another's (duplicate `register` ids were the start-up failures);
- Sentinel discovery without hidden retries: with the primary's zone frozen, every op ends within
  its deadline and clients reach the new master as soon as Sentinel switches, zone still frozen;
- a worker refuses to write a history with code that differs from the orchestrator's read-back
  (a run whose code changed mid-way reported every acknowledged login as lost).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.contracts import Fault
from harness.faults import inject
from harness.history import acked_writes, iter_records
from harness.workload import driver
from harness.workload.base import op_deadline_s
from harness.workload.driver import LoadSpec, LoadWorkerError, code_fingerprint, seed_data, start_load
from harness.workload.model import SeedSize
from harness.workload.pacing import Slot, first_slot, next_slot, slot_time
from harness.workload.readback import read_back

SIZE = SeedSize(users=30, friends_per_user=3, groups=2, group_size=8)
LOAD_WAIT_S = 90
JITTER_S = 1.5  # scheduling slack of a busy 2-core box on top of the op deadline


# -- pacing (pure) -------------------------------------------------------------------------------
@given(period=st.floats(0.01, 2.0), lats=st.lists(st.floats(0.0, 5.0), min_size=1, max_size=200),
       delays=st.lists(st.floats(0.0, 3.0), min_size=201, max_size=201), offset=st.floats(0.0, 1.0))
def test_pacing_never_catches_up_and_records_when_each_op_was_due(period, lats, delays, offset):
    """Simulates one user: op k starts at its slot, or later when the previous op ran long or the
    user got the CPU late (a late first connect, a busy hub); its op then takes `lat` periods."""
    anchor = 100.0 + offset * period
    slot = first_slot(anchor)
    eps = 1e-9 * period
    t, starts, ready_prev_end = slot.start_s + delays[0] * period, [], None
    for i, lat in enumerate(lats):
        assert slot.due_s <= t + eps, "an op never starts before the slot it stands for"
        ready = slot.due_s if ready_prev_end is None else max(slot.due_s, ready_prev_end)
        assert t - ready >= -eps  # the generator's lag is never negative
        starts.append(t)
        now = t + lat * period
        nxt = next_slot(slot.k, anchor, period, now)
        assert nxt.k > slot.k and nxt.start_s >= now - eps  # never a slot in the past: no catching up
        assert nxt.due_s == slot_time(slot.k + 1, anchor, period)  # due: the first slot after the last op
        slot, ready_prev_end = nxt, now
        t = nxt.start_s + delays[i + 1] * period
    # any window of m periods holds at most m + 2 starts: its own slots, plus one overdue op after
    # an overrun and one that started late
    for i, s in enumerate(starts):
        for m in (1, 2, 5):
            assert sum(1 for o in starts[i:] if o < s + m * period - eps) <= m + 2, (i, m, starts)


def test_pacing_keeps_a_fixed_grid_and_skips_missed_slots_instead_of_catching_up():
    assert first_slot(10.0) == Slot(0, 10.0, 10.0)
    assert next_slot(0, 10.0, 1.0, 10.2) == Slot(1, 11.0, 11.0)  # on time: wait for the next slot
    # ran 3.5 periods: one op at once on behalf of slot 1 (due 11.0), slots 1..3 are gone
    assert next_slot(0, 10.0, 1.0, 13.5) == Slot(3, 11.0, 13.5)
    assert next_slot(3, 10.0, 1.0, 13.51) == Slot(4, 14.0, 14.0)
    # a late start does not move the grid (it is the evidence): the next slot stays at 11.0
    assert next_slot(0, 10.0, 1.0, 10.71) == Slot(1, 11.0, 11.0)


def _history(paths):
    invokes, done = {}, []
    for r in iter_records(paths):
        if r["type"] == "invoke":
            invokes[r["op"]] = r
        else:
            done.append(r)
    return invokes, done


# -- redis: pacing and warm-up in one run ----------------------------------------------------------
@pytest.fixture
def redis_sts(local_platform, fast_spec):
    return local_platform.endpoint(local_platform.deploy("redis", "statefulset", fast_spec))


def test_measured_window_starts_warm_and_never_exceeds_the_offered_rate(redis_sts, registry, tmp_path):
    info = seed_data(redis_sts, "redis", SIZE, seed=1)
    spec = LoadSpec("redis", {"send_message": 6, "login": 1, "sync": 1, "online": 1}, rate_ops_s=40, users=8,
                    duration_s=3, seed=1, workers=1, warmup_s=1.0)
    run = start_load(redis_sts, spec, info, tmp_path / "out", registry, tmp_path / "load.log")
    try:
        summary = run.wait(LOAD_WAIT_S)
    finally:
        run.stop()
    invokes, done = _history(run.history_paths)
    warm_invokes, _ = _history(run.warmup_history_paths)
    assert warm_invokes, "the warm-up ran no ops"
    assert max(r["t_us"] for r in warm_invokes.values()) < run.load_start_us <= min(r["t_us"] for r in invokes.values())
    # each user has duration * rate / users slots in the window and never runs a missed one later
    assert summary.invokes == len(invokes) <= spec.rate_ops_s * spec.duration_s
    assert summary.invokes >= 0.9 * spec.rate_ops_s * spec.duration_s, summary
    assert all(r["type"] == "ok" for r in done), [r.get("error") for r in done if r["type"] != "ok"][:3]


# -- mysql: two load runs on one database write distinct ids ---------------------------------------
@pytest.fixture
def mysql_sts(local_platform, fast_spec):
    return local_platform.endpoint(local_platform.deploy("mysql", "statefulset", fast_spec))


def test_load_runs_on_one_database_never_reuse_ids_and_lose_nothing(mysql_sts, registry, tmp_path):
    """The first poc ran the warm-up and the load as two runs with the same actors: the load's
    `register` ids were the warm-up's again (1062 Duplicate entry: the failed ops at start)."""
    info = seed_data(mysql_sts, "mysql", SIZE, seed=1)
    spec = LoadSpec("mysql", {"register": 3, "login": 3, "friends": 1, "group_members": 1}, rate_ops_s=40,
                    users=6, duration_s=2, seed=1)
    paths = []
    for i in range(2):
        run = start_load(mysql_sts, spec, info, tmp_path / f"out{i}", registry, tmp_path / "load.log")
        try:
            run.wait(LOAD_WAIT_S)
        finally:
            run.stop()
        paths += run.history_paths
    _, done = _history(paths)
    bad = [r.get("error") for r in done if r["type"] != "ok"]
    assert not bad, bad[:3]
    acked = list(acked_writes(paths))
    assert len({(w.stream, w.id) for w in acked}) == len(acked) > 0
    rb = read_back(mysql_sts, "mysql", acked)
    assert rb.checked == len(acked) and rb.lost_count == 0, rb.lost[:3]


def test_the_first_runs_lost_logins_were_a_reader_writer_mismatch(mysql_sts):
    """Evidence for the 20261127-085343 run: its workers acknowledged logins as {seq: <row id>,
    id: "dev-..."} while the orchestrator, started before that change, looked rows up by `id`
    (the row id in the old format). MariaDB casts 'dev-...' to 0 and finds nothing: every
    acknowledged login "missing", rows all there. The current reader finds them."""
    from harness.history import AckedWrite
    from harness.workload.mysql import LOGIN_STREAM, connect, read_rows

    seed_data(mysql_sts, "mysql", SIZE, seed=1)
    c = connect(mysql_sts, 5.0, mysql_sts.database)
    with c.cursor() as cur:
        cur.execute("INSERT INTO user_login_records (user_id, login_time, ip, device_id, platform)"
                    " VALUES ('u1', NOW(3), '127.0.0.1', 'dev-1w0u12-1', 'Android')")
        rid = int(cur.lastrowid)
        cur.execute("SELECT id FROM user_login_records WHERE id IN (%s)", ["dev-1w0u12-1"])  # the old key
        assert cur.fetchall() == ()
    c.close()
    w = AckedWrite(stream=LOGIN_STREAM, id="dev-1w0u12-1", seq=rid, ack_us=1)
    assert list(read_rows(mysql_sts, [w])) == [(w, "dev-1w0u12-1")]


# -- the code-version guard ---------------------------------------------------------------------
def test_fingerprint_changes_with_any_history_writer_or_reader_source(tmp_path):
    root = tmp_path / "harness"
    src = Path(driver.__file__).resolve().parent.parent
    root.mkdir()
    shutil.copy(src / "history.py", root / "history.py")
    for d in ("workload", "checker", "engines"):
        (root / d).mkdir()
        for f in (src / d).glob("*.py"):
            shutil.copy(f, root / d / f.name)
    before = code_fingerprint(root)
    assert before == code_fingerprint(src)
    seen = {before}
    for edited in (root / "workload" / "mysql.py", root / "checker" / "order.py", root / "engines" / "redis.py"):
        edited.write_text(edited.read_text() + "\n# edited\n")
        assert code_fingerprint(root) not in seen
        seen.add(code_fingerprint(root))
    with pytest.raises(driver.CodeChanged, match="changed on disk during the run"):
        driver.check_code_version(before, root)


def test_a_worker_refuses_to_run_code_the_orchestrator_did_not_load(redis_sts, registry, tmp_path, monkeypatch):
    info = seed_data(redis_sts, "redis", SIZE, seed=1)
    monkeypatch.setattr(driver, "LOADED_CODE", "0000000000000000")  # as if the files changed since
    spec = LoadSpec("redis", {"send_message": 1}, rate_ops_s=10, users=2, duration_s=1, seed=1)
    run = start_load(redis_sts, spec, info, tmp_path / "out", registry, tmp_path / "load.log")
    try:
        with pytest.raises(LoadWorkerError, match="changed on disk during the run"):
            run.wait(LOAD_WAIT_S)
    finally:
        run.stop()
    assert not any(p.exists() and p.stat().st_size for p in run.history_paths)


# -- redis kubeblocks: a frozen primary zone ------------------------------------------------------
def test_frozen_primary_zone_ops_end_in_time_and_clients_follow_the_failover(local_platform, fast_spec, registry,
                                                                              tmp_path, poll):
    """zone-partition freezes redis-0 and sentinel-0 (SIGSTOP: TCP connects still succeed). Every
    op must end within its deadline, and writes must resume on the new master while the zone is
    still frozen (before: 10 hidden retries per Sentinel lookup, 14-28 s ops, resumed on release)."""
    dep = local_platform.deploy("redis", "kubeblocks", fast_spec)
    ep = local_platform.endpoint(dep)
    info = seed_data(ep, "redis", SIZE, seed=1)
    spec = LoadSpec("redis", {"send_message": 8, "sync": 1}, rate_ops_s=30, users=6, duration_s=40, seed=1,
                    op_timeout_s=0.5, warmup_s=0.5)
    run = start_load(ep, spec, info, tmp_path / "out", registry, tmp_path / "load.log")
    inj = None
    try:
        poll(lambda: run.progress().ok > 20, 30, "20 ok ops before the fault")
        inj = inject(local_platform, dep, Fault("zone-partition", "primary", duration_s=120))
        frozen_wall = time.time()
        changes = poll(lambda: local_platform.role_changes(dep), 30, "Sentinel's +switch-master")
        switched_wall = changes[0].at_wall
        assert switched_wall > frozen_wall

        def acked_after_switch():
            _, done = _history(run.history_paths)
            return [r for r in done if r["type"] == "ok" and r["w"] and r["wall"] > switched_wall + 0.5]

        poll(acked_after_switch, 8, "a write acknowledged by the new master while zone-a is frozen")
        assert changes[0].new_primary != "redis-0"
    finally:
        if inj is not None:
            inj.recover()
        run.stop()
    _, done = _history(run.history_paths)
    bound_us = (op_deadline_s(spec.op_timeout_s) + JITTER_S) * 1e6
    slow = [(r["f"], r["type"], (r["t_us"] - r["inv_us"]) / 1e6) for r in done if r["t_us"] - r["inv_us"] > bound_us]
    assert not slow, f"{len(slow)} ops outlived the {op_deadline_s(spec.op_timeout_s)} s deadline: {slow[:5]}"
    assert any(r["type"] != "ok" for r in done), "the frozen zone caused no failed op at all"
