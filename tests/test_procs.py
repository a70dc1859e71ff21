"""The process registry: every process recorded as it starts, stopped by pid, leftovers cleaned."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from harness.procs import ProcessRegistry, cleanup_leftovers, find_leftovers, is_alive, process_start_ticks


def test_spawn_records_and_stop_all(tmp_path):
    reg = ProcessRegistry(tmp_path / "state" / "r.json", "r1")
    proc = reg.spawn(["sleep", "60"], "sleeper", log_path=tmp_path / "sleep.log")
    data = json.loads((tmp_path / "state" / "r.json").read_text())
    assert [p["pid"] for p in data["processes"]] == [proc.pid]
    assert data["processes"][0]["start_ticks"] == process_start_ticks(proc.pid)
    temp = tmp_path / "volume"
    temp.mkdir()
    reg.add_path(temp)
    reg.stop_all(grace_s=2)
    assert not is_alive(proc.pid)
    assert not temp.exists()
    assert json.loads((tmp_path / "state" / "r.json").read_text())["processes"] == []


def test_stop_reaches_a_frozen_process(tmp_path):
    import os
    import signal

    reg = ProcessRegistry(tmp_path / "r.json", "r2")
    proc = reg.spawn(["sleep", "60"], "frozen")
    os.kill(proc.pid, signal.SIGSTOP)
    reg.stop(proc.pid, grace_s=2)
    assert not is_alive(proc.pid)


def test_recycled_pid_is_not_ours():
    ticks = process_start_ticks(1)
    assert is_alive(1, ticks)
    assert not is_alive(1, (ticks or 0) + 12345)


def test_cleanup_stops_what_a_killed_run_left(tmp_path):
    state = tmp_path / "state"
    script = textwrap.dedent(f"""
        import os, signal, sys
        from harness.procs import ProcessRegistry
        reg = ProcessRegistry(__import__('pathlib').Path({str(state / 'dead.json')!r}), 'dead-run')
        p = reg.spawn(['sleep', '120'], 'orphan')
        print(p.pid, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30)
    orphan = int(out.stdout.split()[0])
    try:
        assert is_alive(orphan), "the orphan outlived its killed harness"
        leftovers = find_leftovers(state)
        assert [lo.run_id for lo in leftovers] == ["dead-run"]
        cleanup_leftovers(state)
        assert not is_alive(orphan)
        assert not (state / "dead.json").exists()
    finally:
        if is_alive(orphan):
            import os
            import signal

            os.kill(orphan, signal.SIGKILL)


def test_a_live_run_is_not_a_leftover(tmp_path):
    reg = ProcessRegistry(tmp_path / "live.json", "live")
    proc = reg.spawn(["sleep", "60"], "mine")
    try:
        assert find_leftovers(tmp_path) == []
    finally:
        reg.close()
    assert not is_alive(proc.pid)


def test_cleanup_runs_the_undo_command_of_an_external_resource(tmp_path):
    """A kind cluster left by a SIGKILLed run is deleted by `harness cleanup` through its recorded command."""
    state = tmp_path / "state"
    marker = tmp_path / "cluster-deleted"
    script = textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        from harness.procs import ProcessRegistry
        reg = ProcessRegistry(Path({str(state / 'dead.json')!r}), 'kind-run')
        reg.add_undo('kind-cluster:openim-poc', ['touch', {str(marker)!r}])
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=30)
    [lo] = find_leftovers(state)
    assert lo.undo == {"kind-cluster:openim-poc": ["touch", str(marker)]}
    assert not marker.exists()
    cleanup_leftovers(state)
    assert marker.exists()
    assert find_leftovers(state) == []
