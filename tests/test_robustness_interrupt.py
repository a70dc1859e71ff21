"""Issue 7, rule 1: SIGINT / SIGTERM at any phase of a real `harness run` (real servers, real load
workers) stops every process the run started within 10 s (checked by pid + start time, for every
pid the state file ever recorded and every descendant of the harness), keeps a valid results.json
with the completed cells and the interrupted one `failed`/`interrupted`, and exits 130 / 143."""

from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
from pathlib import Path

import pytest
from _robustness import HarnessRun, settings_yaml, wrapper_bin

from harness.procs import is_alive
from harness.results import read_results

pytestmark = pytest.mark.server  # real runs of the harness CLI, interrupted

EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143}
SHORT = {"warmup_s": 0.5, "before_fault_s": 1, "observe_s": 1}
LONG = 40  # a phase we interrupt lasts this long, so the signal certainly lands inside it


def _cell_dirs(run: HarnessRun, scenario: str) -> list[Path]:
    return sorted((run.run_dir() / "cells").glob(f"{scenario}-*"))


def _file_with_data(paths) -> bool:
    return any(p.exists() and p.stat().st_size > 0 for p in paths)


def _events(run: HarnessRun) -> str:
    return "".join(p.read_text() for p in (run.run_dir() / "logs").glob("*/events.log"))


def _finished_then_frozen(run: HarnessRun) -> bool:
    """True once every cell is done and the harness, still running, is SIGSTOPped (interrupt() resumes it).

    Rendering the report takes about a second: without the freeze, a busy machine may see the run
    exit before the signal lands. A run that already exited is an AssertionError that names it."""
    try:  # plain JSON (no schema validation): the poll must be quick
        status = json.loads((run.run_dir() / "results.json").read_text())["run"]["status"]
    except (OSError, ValueError, KeyError):
        return False
    if status != "finished":
        return False
    pid = run.proc.pid  # type: ignore[union-attr]
    os.kill(pid, signal.SIGSTOP)
    assert is_alive(pid), "the run exited before the report phase could be interrupted; rerun the test"
    return True


def _results_cells(run: HarnessRun) -> list:
    return read_results(run.run_dir())["cells"]


# phase -> (run args, settings timings, deploy overrides, PATH wrapper (binary, env var), wait(run))
PHASES = {
    "setup": (  # preflight's `mariadbd --version` held: no cell has started
        ["steady", "--engines", "redis", "--modes", "statefulset"], {"*": SHORT}, {},
        ("mariadbd", "E_HOLD_VERSION"), None,
    ),
    "deploy": (  # redis-server started but held before it listens: the harness waits for readiness
        ["steady", "--engines", "redis", "--modes", "statefulset"], {"*": SHORT}, {},
        ("redis-server", "E_HOLD_START"), None,
    ),
    "warm-up": (
        ["steady", "--engines", "redis", "--modes", "statefulset"], {"*": {**SHORT, "warmup_s": LONG}}, {}, None,
        lambda run: _file_with_data(d / "warmup" / "history-w0.jsonl" for d in _cell_dirs(run, "steady")),
    ),
    "load": (  # the second cell, after a completed first one
        ["steady", "pod-kill-primary", "--engines", "redis", "--modes", "statefulset"],
        {"*": SHORT, "pod-kill-primary": {"before_fault_s": LONG}}, {}, None,
        lambda run: len(_results_cells(run)) == 1 and _file_with_data(
            d / "history" / "history-w0.jsonl" for d in _cell_dirs(run, "pod-kill-primary")),
    ),
    "fault injected": (  # mysql-0 killed and kept down (long restart delay)
        ["pod-kill-primary", "--engines", "mysql", "--modes", "statefulset"],
        {"*": {**SHORT, "observe_s": LONG}}, {"restart_delay_s": LONG}, None,
        lambda run: "fault: pod-kill" in _events(run) and "died" in _events(run),
    ),
    "recovery": (  # redis-0 restarted in place; the load is still observing
        ["pod-kill-primary", "--engines", "redis", "--modes", "statefulset"],
        {"*": {**SHORT, "observe_s": LONG}}, {}, None,
        lambda run: "restarted in place" in _events(run),
    ),
    "read-back": (None, None, None, None, None),  # its own test below
    "report": (  # every cell done; the harness is frozen the moment it is seen there (no race with exit)
        ["steady", "--engines", "redis", "--modes", "statefulset"], {"*": SHORT}, {}, None,
        lambda run: _finished_then_frozen(run),
    ),
}
SIGNALS = {"setup": signal.SIGINT, "deploy": signal.SIGTERM, "warm-up": signal.SIGINT, "load": signal.SIGTERM,
           "fault injected": signal.SIGINT, "recovery": signal.SIGTERM, "read-back": signal.SIGINT,
           "report": signal.SIGTERM}


@pytest.fixture
def short_work_dir():
    """HARNESS_WORK_DIR with a short path: mariadbd refuses socket paths over 107 bytes."""
    d = Path(tempfile.mkdtemp(prefix="hE-", dir="/tmp"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def harness_run(tmp_path, short_work_dir):
    runs: list[HarnessRun] = []

    def make(args, timings, deploy, env_extra=None):
        settings = settings_yaml(tmp_path / "settings.yaml", timings, deploy)
        run = HarnessRun(tmp_path, [*args, "--platform", "local", "--settings", str(settings)], env_extra or {},
                         work_root=short_work_dir)
        runs.append(run)
        return run

    yield make
    for run in runs:
        run.finish()
        run.kill_everything_seen()


def check_after(run: HarnessRun, phase: str, sig: signal.Signals, code: int, left) -> dict:
    """What every interrupted run must show; returns results.json for phase-specific checks."""
    out = run.output()
    assert not left, f"{phase}: still alive 10 s after {sig.name}: " + ", ".join(
        f"{s.name} (pid {s.pid}, {s.how})" for s in left)
    assert code == EXIT[sig], f"{phase}: exit status {code}, expected {EXIT[sig]}\n{out[-3000:]}"
    assert "Traceback" not in out, out[-3000:]
    assert not list(run.state_dir.glob("*.json")), "the state file of a cleanly interrupted run is removed"
    assert not [p for p in run.work_root.glob("harness-*") if p.exists()], "the run's temporary data is removed"
    results = read_results(run.run_dir())  # valid against the schema
    return results


@pytest.mark.parametrize("phase", [p for p in PHASES if p != "read-back"])
def test_interrupt_real_run_at_phase(harness_run, tmp_path, phase):
    args, timings, deploy, wrap, wait = PHASES[phase]
    sig = SIGNALS[phase]
    env: dict[str, str] = {}
    if wrap:
        binary, var = wrap
        real = shutil.which(binary) or f"/usr/sbin/{binary}"
        bindir = wrapper_bin(tmp_path / "bin", binary, real)
        hold = tmp_path / "hold"
        hold.touch()
        env = {"PATH": f"{bindir}:{os.environ['PATH']}", var: str(hold)}
    run = harness_run(args, timings, deploy, env).start()
    if wrap:
        run.wait_phase(lambda: Path(str(hold) + ".held").exists(), 60, f"{phase}: the wrapper held {wrap[0]}")
    else:
        run.wait_phase(lambda: wait(run), 120, f"the run reaching {phase}")
    started_before = {s.name for s in run.seen.values()}
    code, left = run.interrupt(sig)
    results = check_after(run, phase, sig, code, left)
    cells = [(c["scenario"], c["status"], c["reason"]) for c in results["cells"]]
    print(f"{phase}: {sig.name} -> exit {code}; processes seen: {sorted(started_before)}; "
          f"all {len(run.seen)} dead; cells {cells}")
    if phase == "setup":
        assert cells == [] and results["run"]["status"] == "interrupted"
        assert not [s for s in run.seen.values() if s.how == "state file"], "no server had started"
    elif phase == "report":
        # after the last cell: the signal lands in the final teardown (the run is then marked
        # `interrupted`) or while the report renders (the run stays `finished`); never a lost cell
        assert cells == [("steady", "ok", None)], cells
        assert results["run"]["status"] in ("finished", "interrupted"), results["run"]["status"]
    else:
        assert results["run"]["status"] == "interrupted"
        assert cells[-1][1:] == ("failed", "interrupted"), cells
        if phase == "load":
            assert cells[0] == ("steady", "ok", None), "the completed first cell is kept"
    if phase in ("deploy", "warm-up", "load", "fault injected", "recovery"):
        assert any(s.how == "state file" for s in run.seen.values()), "servers had started"
    if phase in ("warm-up", "load", "recovery"):
        assert any(s.name.startswith("load-") for s in run.seen.values()), "load workers had started"


def test_interrupt_real_run_during_read_back(harness_run):
    """The load has ended; the server is frozen (SIGSTOP) so the harness's read-back is in progress."""
    sig = SIGNALS["read-back"]
    run = harness_run(["steady", "--engines", "redis", "--modes", "statefulset"], {"*": SHORT}, {}).start()
    summary = run.wait_phase(lambda: [p for d in _cell_dirs(run, "steady")
                                      for p in (d / "history").glob("load-summary-w*.json")], 120,
                             "the load ending (its summary written)")
    cell_dir = summary[0].parent.parent
    [server] = [p for p in run.state()["processes"] if p["name"] == "redis-0"]
    os.kill(server["pid"], signal.SIGSTOP)
    assert not (cell_dir / "timeline.csv").exists(), "the check had already finished: read-back not caught"
    code, left = run.interrupt(sig)
    results = check_after(run, "read-back", sig, code, left)
    assert not (cell_dir / "timeline.csv").exists(), "read-back and check never completed"
    assert [(c["status"], c["reason"]) for c in results["cells"]] == [("failed", "interrupted")]
    print(f"read-back: {sig.name} -> exit {code}; all {len(run.seen)} processes dead")
