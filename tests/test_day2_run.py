"""backup-restore through the real run loop (real servers, load workers, checker): the restored copy
is read back up to its consistent point, and a write planted away from the restored copy is named."""

from __future__ import annotations

import io

import pytest
from _helpers import recording_platform_factory

from harness.config import build_settings
from harness.history import acked_writes
from harness.procs import is_alive
from harness.results import read_results
from harness.runloop import RunRequest, execute

pytestmark = pytest.mark.server

SHORT = {"timings": {"*": {"warmup_s": 1, "before_fault_s": 3, "observe_s": 5}}}


@pytest.fixture(autouse=True)
def _state_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("HARNESS_WORK_DIR", str(tmp_path / "work"))


def planting_factory(started, planted):
    """The real local platform, except that a restored statefulset copy loses one early acknowledged
    write (deleted from the restored server before the read-back): what a broken backup would do."""
    make = recording_platform_factory(started)

    def factory(name, run):
        platform = make(name, run)
        real_restore = platform.restore

        def restore(dep, backup):
            restored = real_restore(dep, backup)
            if dep.mode == "statefulset":
                planted.append(_delete_first_acked_user(run.run_dir, platform.endpoint(restored)))
            return restored

        platform.restore = restore
        return platform

    return factory


def _delete_first_acked_user(run_dir, ep) -> str:
    import pymysql

    paths = sorted(run_dir.glob("cells/backup-restore-mysql-statefulset*/history/history-*.jsonl"))
    victim = next(w for w in acked_writes(paths) if w.stream == "users")
    host, port = ep.primary_address()
    conn = pymysql.connect(host=host, port=port, user=ep.user, password=ep.password, database=ep.database,
                           autocommit=True)
    try:
        with conn.cursor() as cur:
            assert cur.execute("DELETE FROM users WHERE user_id=%s", (victim.id,)) == 1
    finally:
        conn.close()
    return victim.id


def test_backup_restore_reads_back_the_restored_copy_and_names_a_planted_hole(tmp_path):
    started: list = []
    planted: list[str] = []
    req = RunRequest(scenarios=["backup-restore"], platform="local", engines=["mysql"],
                     modes=["kubeblocks", "statefulset"], settings=build_settings("quick", overrides=SHORT),
                     out=tmp_path / "out", render_report=False)
    out = io.StringIO()
    code = execute(req, stream=out, platform_factory=planting_factory(started, planted))
    assert not [n for p, t, n in started if is_alive(p, t)], "every process of the run (restored copies too) stopped"
    cells = {c["mode"]: c for c in read_results(tmp_path / "out" / "latest")["cells"]}
    assert code == 0 and all(c["status"] == "ok" for c in cells.values()), out.getvalue()

    kb = cells["kubeblocks"]["operation"]
    assert kb["valid"], kb["reasons"]
    assert kb["backup"]["method"] == "mariadb-backup" and kb["backup"]["source_pod"] == "mysql-1"
    assert kb["restore"]["holes"] == 0 and kb["restore"]["found"] > 0 and kb["restore"]["duration_s"] > 0
    assert kb["end_state"]["healthy"] and kb["primary_changes"] == 0
    assert cells["kubeblocks"]["consistency"]["lost_writes"] == 0, "the live deployment lost nothing"

    sts = cells["statefulset"]["operation"]
    assert sts["backup"]["method"] == "mariadb-dump"
    assert not sts["valid"] and sts["restore"]["holes"] == 1, sts
    assert [h["id"] for h in sts["restore"]["first_holes"]] == planted
    assert cells["statefulset"]["verdict"]["checkers"]["operation"]["valid"] is False
    assert "restore_inconsistent" in cells["statefulset"]["verdict"]["anomaly_types"]
