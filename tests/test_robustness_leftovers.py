"""Issue 7, rule 2: a SIGKILLed `harness run` leaves its state file; the next run warns about the
leftovers and says how to clean them; `harness cleanup` stops every recorded process (by pid +
start time) and removes the run's temporary data."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest
from _helpers import wait_until
from _robustness import HARNESS, HarnessRun, settings_yaml

from harness.procs import is_alive

pytestmark = pytest.mark.server  # a real run of the harness CLI, SIGKILLed


def test_sigkilled_run_warns_next_run_and_cleanup_stops_everything(tmp_path):
    work = Path(tempfile.mkdtemp(prefix="hE-", dir="/tmp"))
    settings = settings_yaml(tmp_path / "s.yaml", {"*": {"warmup_s": 0.5, "before_fault_s": 60, "observe_s": 1}})
    run = HarnessRun(tmp_path, ["steady", "--platform", "local", "--engines", "mysql", "--modes", "kubeblocks",
                                "--settings", str(settings)], work_root=work).start()
    try:
        run.wait_phase(lambda: {"mysql-0", "mysql-1", "load-w0"} <= set(run.live_names()), 120,
                       "both mysql pods and the load worker running")
        run.scan()
        os.kill(run.proc.pid, signal.SIGKILL)  # type: ignore[union-attr]
        run.proc.wait(timeout=10)  # type: ignore[union-attr]
        run.finish()
        [state_file] = list(run.state_dir.glob("*.json"))
        recorded = [s for s in run.seen.values() if s.how == "state file"]
        orphans = [s for s in recorded if is_alive(s.pid, s.start_ticks)]
        assert {s.name for s in orphans} >= {"mysql-0", "mysql-1"}, "the killed harness left its servers running"
        [work_dir] = list(work.glob("harness-*"))

        env = {**os.environ, "HARNESS_STATE_DIR": str(run.state_dir), "HARNESS_WORK_DIR": str(work)}
        nxt = subprocess.run([str(HARNESS), "run", "steady", "--platform", "local", "--engines", "redis",
                              "--dry-run"], env=env, capture_output=True, text=True, timeout=60)
        assert nxt.returncode == 0, nxt.stderr
        warning = [ln for ln in nxt.stdout.splitlines() if ln.startswith("warning:")]
        assert warning and "harness cleanup" in warning[0] and state_file.stem in warning[0], nxt.stdout
        print(warning[0])

        clean = subprocess.run([str(HARNESS), "cleanup"], env=env, capture_output=True, text=True, timeout=60)
        assert clean.returncode == 0, clean.stderr
        print(clean.stdout.strip())
        left = [f"{s.name} (pid {s.pid})" for s in run.seen.values() if is_alive(s.pid, s.start_ticks)]
        assert not left, f"still alive after harness cleanup: {left}"
        assert not state_file.exists() and not work_dir.exists(), "state file and temporary data removed"
        again = subprocess.run([str(HARNESS), "cleanup"], env=env, capture_output=True, text=True, timeout=60)
        assert "nothing left behind" in again.stdout
    finally:
        run.finish()
        run.kill_everything_seen()
        wait_until(lambda: not [s for s in run.seen.values() if is_alive(s.pid, s.start_ticks)], 10,
                   "every process of the test gone")
        shutil.rmtree(work, ignore_errors=True)
