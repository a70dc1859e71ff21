"""The load generator is a component under test: at the defaults users run, on real servers.

What the first `make poc` on an ordinary 2-core machine got wrong (issue "trustworthy numbers"):
every MySQL cell. PyMySQL built an SSLContext per connect on the gevent hub, 200 users stalled
the worker for seconds, and the report called the stall a database outage ("not recovered").
These tests run the quick profile's own settings (200 users, 200 ops/s, KubeBlocks' timings):
- both engines, both modes, pod-kill-primary: the offered rate is delivered before the fault and
  writes recover after it;
- a planted 3 s block of the worker's event loop: the cell is `invalid`, with the evidence, and
  never a "not recovered" verdict;
- both cores busy with CPU-bound processes: each cell is measured correctly or flagged, never a
  false verdict.
"""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
from _helpers import recording_platform_factory

from harness.config import build_settings
from harness.procs import is_alive
from harness.results import read_results
from harness.runloop import EXIT_INVALID, RunRequest, execute
from harness.workload_parts import RealWorkload

pytestmark = pytest.mark.server  # real runs on real servers

QUICK = build_settings("quick")  # the defaults `make poc` runs: nothing shortened
ENGINES = ["mysql", "redis"]
MODES = ["kubeblocks", "statefulset"]


@pytest.fixture(autouse=True)
def _state_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("HARNESS_WORK_DIR", str(tmp_path / "work"))


def run_quick(tmp_path: Path, engines: list[str], modes: list[str], workload_factory=None) -> tuple[int, dict, str]:
    started: list[tuple[int, int | None, str]] = []
    req = RunRequest(scenarios=["pod-kill-primary"], platform="local", engines=engines, modes=modes,
                     settings=QUICK, out=tmp_path / "out", render_report=False)
    out = io.StringIO()
    code = execute(req, stream=out, platform_factory=recording_platform_factory(started),
                   workload_factory=workload_factory)
    alive = [f"{n} ({p})" for p, t, n in started if is_alive(p, t)]
    assert not alive, f"processes of the run still alive: {alive}"
    return code, read_results(tmp_path / "out" / "latest"), out.getvalue()


def describe(c: dict) -> str:
    g = c.get("generator") or {}
    return (f"{c['engine']}/{c['mode']}: {c['status']} {c.get('reason') or ''} delivered {g.get('delivered_ops_s')} "
            f"lag {g.get('schedule_lag_ms')} stall {g.get('longest_stall_s')} hub {g.get('hub_block_s')} "
            f"availability {c.get('availability')}")


def assert_measured_correctly(c: dict) -> None:
    """An `ok` cell of pod-kill-primary: the offered rate was delivered before the fault, the
    generator kept its schedule, and writes resumed (every deployment here comes back: a restart
    in place after 2 s, or a failover)."""
    g = c["generator"]
    assert g["valid"] is True and g["reasons"] == [], describe(c)
    assert g["offered_ops_s"] == QUICK.load.rate_ops_s
    assert g["delivered_fraction"]["steady"] >= 0.95, describe(c)
    assert c["throughput_ops_s"]["steady"] >= 0.95 * QUICK.load.rate_ops_s, describe(c)
    assert c["availability"]["recovered"] is True, describe(c)
    assert g["scheduled_ops"] >= 0.99 * c["ops"]["total"], "ops without a schedule slot: " + describe(c)


def test_quick_defaults_deliver_the_offered_rate_and_recover_mysql_and_redis_both_modes(tmp_path):
    code, res, out = run_quick(tmp_path, ENGINES, MODES)
    assert code == 0, out
    cells = res["cells"]
    assert [(c["engine"], c["mode"]) for c in cells] == [(e, m) for e in ENGINES for m in MODES]
    for c in cells:
        assert c["status"] == "ok", describe(c)
        assert_measured_correctly(c)
    assert "summary: 4 cells: 4 ok" in out


def test_a_planted_event_loop_block_makes_the_cell_invalid_not_a_database_outage(tmp_path):
    """3 s of a busy loop inside one op, 0.5 s after the MySQL primary is killed: the load stops
    invoking for 3 s. Before, that stall read as the database's outage; now the cell is `invalid`
    and the reason names the generator's evidence."""
    at = QUICK.timings_for("pod-kill-primary", _scenario_timings()).before_fault_s + 0.5
    code, res, out = run_quick(tmp_path, ["mysql"], ["statefulset"],
                               workload_factory=lambda run: RealWorkload(run.registry, planted_stall=(at, 3.0)))
    assert code == EXIT_INVALID, out
    (c,) = res["cells"]
    assert c["status"] == "invalid", describe(c)
    assert "could not measure" in c["reason"] and "event loop was blocked for" in c["reason"], c["reason"]
    assert "invoked nothing for" in c["reason"], c["reason"]
    g = c["generator"]
    assert g["valid"] is False and 2.5 <= g["hub_block_s"] <= 4.0 and g["longest_stall_s"] >= 2.5, describe(c)
    assert g["hub_block_stacks"] >= 1, "gevent's monitor named no blocking stack"
    hub_files = list((tmp_path / "out" / "latest" / c["artifacts"]["history"]).glob("hub-w*.json"))
    assert hub_files and "_busy" in hub_files[0].read_text(), "the blocking stack is not in the cell directory"
    assert "1 invalid" in out and f"exit status {EXIT_INVALID}" in out


def _scenario_timings():
    import scenarios

    return scenarios.get("pod-kill-primary").timings_for("quick")


def test_both_cores_busy_each_cell_is_measured_correctly_or_flagged(tmp_path):
    """Two CPU-bound processes compete with the servers and the load worker for the 2 cores."""
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        code, res, out = run_quick(tmp_path, ENGINES, MODES)
    finally:
        for h in hogs:
            h.kill()
            h.wait()
    assert code in (0, EXIT_INVALID), out
    for c in res["cells"]:
        assert c["status"] in ("ok", "invalid"), describe(c)
        if c["status"] == "ok":
            assert_measured_correctly(c)
        else:
            assert c["reason"].startswith("the harness could not measure this cell: "), describe(c)
            assert c["generator"]["valid"] is False and c["generator"]["reasons"], describe(c)
    print("\n".join(describe(c) for c in res["cells"]))
