"""The run loop: statuses per cell, results.json after every cell, signals, dry-run, and one short
real scenario on the local platform (real redis-server / Sentinel / load workers)."""

from __future__ import annotations

import io
import json
import signal
from datetime import datetime
from pathlib import Path

import pytest
from _runfakes import FakePlatform, FakeWorkload, latest_results

from harness.config import build_settings
from harness.platforms import choose as choose_platform
from harness.procs import is_alive
from harness.results import read_results
from harness.runloop import RunRequest, execute

FAST = {"timings": {"*": {"warmup_s": 0.1, "before_fault_s": 0.3, "observe_s": 0.3},
                    "zone-outage": {"fault_s": 0.3}, "zone-partition": {"fault_s": 0.3}}}


@pytest.fixture(autouse=True)
def _state_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("HARNESS_WORK_DIR", str(tmp_path / "work"))


def run_fake(tmp_path, scenarios, engines, platform, workload, modes=("kubeblocks", "statefulset")):
    req = RunRequest(scenarios=scenarios, platform="local", engines=engines, modes=list(modes),
                     settings=build_settings("quick", overrides=FAST), out=tmp_path / "out")
    stream = io.StringIO()
    code = execute(req, workload=workload, stream=stream, platform_factory=lambda *a: platform)
    return code, stream.getvalue()


def test_fake_platform_statuses_and_results_after_every_cell(tmp_path):
    platform = FakePlatform(skip_engine="mongodb")
    workload = FakeWorkload(results_path_fn=lambda: latest_results(tmp_path / "out"), fail_engine="mysql")
    code, out = run_fake(tmp_path, ["steady", "pod-kill-secondary"], ["redis", "mysql", "mongodb"], platform, workload)
    assert code == 0, out
    res = read_results(tmp_path / "out" / "latest")
    got = {(c["scenario"], c["engine"], c["mode"]): (c["status"], c["reason"]) for c in res["cells"]}
    assert got[("steady", "redis", "kubeblocks")] == ("ok", None)
    assert got[("steady", "mysql", "statefulset")] == ("failed", "RuntimeError: fake: checker exploded")
    assert got[("steady", "mongodb", "kubeblocks")] == ("skipped", "fake: no mongodb here")
    status, reason = got[("pod-kill-secondary", "redis", "statefulset")]
    assert status == "not-applicable" and "no secondary" in reason
    assert len(res["cells"]) == 12 and res["run"]["status"] == "finished"
    # every cell that deployed was torn down, failed ones too
    assert sorted(platform.deployed) == sorted(platform.torn) and len(platform.deployed) == 6
    assert platform.closed == 1, "the platform is closed once at the end of the run"
    # the loop rewrote results.json before each next measured cell
    seen = workload.cells_seen_in_results
    assert seen == sorted(seen) and seen[0] == 0 and seen[-1] >= 5
    # the fault was injected and recovered; its block is in the results
    pks = [c for c in res["cells"] if c["scenario"] == "pod-kill-secondary" and c["status"] == "ok"]
    assert pks and pks[0]["fault"]["kind"] == "pod-kill" and pks[0]["fault"]["target"] == "secondary"
    assert ("kill", "fake-1") in platform.injections, "the nemesis killed the secondary it aimed at"
    assert "fake-secret" not in (tmp_path / "out" / "latest" / "results.json").read_text()
    assert (tmp_path / "out" / "latest" / "report.html").exists()


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_fake_signal_marks_cell_interrupted_keeps_results_and_exits(tmp_path, sig, code):
    platform = FakePlatform()
    workload = FakeWorkload(signal_on=sig)
    got, out = run_fake(tmp_path, ["steady", "pod-kill-primary"], ["redis"], platform, workload)
    assert got == code, out
    res = read_results(tmp_path / "out" / "latest")
    assert res["run"]["status"] == "interrupted"
    assert [(c["scenario"], c["status"], c["reason"]) for c in res["cells"]] == [("steady", "failed", "interrupted")]
    assert platform.torn == platform.deployed and len(platform.deployed) == 1
    assert signal.getsignal(signal.SIGTERM) is not None and "interrupted" in out


def test_dry_run_prints_the_plan_and_touches_nothing(tmp_path):
    req = RunRequest(scenarios=[], platform="local", engines=["mysql", "redis", "mongodb"],
                     modes=["kubeblocks", "statefulset"], settings=build_settings("quick"),
                     out=tmp_path / "out", dry_run=True)
    stream = io.StringIO()
    assert execute(req, stream=stream) == 0
    text = stream.getvalue()
    assert "planned" in text and "zone-outage/redis/kubeblocks: deploy redis/kubeblocks" in text
    assert "inject zone-outage (primary) at 6 s, recover after 28 s" in text
    assert "not applicable: a StatefulSet as OpenIM ships it has one instance" in text
    assert not (tmp_path / "out").exists()


def test_auto_platform_says_why():
    name, why = choose_platform("auto")
    assert name in ("local", "kind") and why.startswith("auto: ")
    assert choose_platform("local") == ("local", "requested with --platform")


# Redis' `appendfsync everysec` (OpenIM's and KubeBlocks' setting): the AOF is fsynced once a second,
# and a write is postponed up to 2 s more while a background fsync runs, so a SIGKILL may drop writes
# acknowledged within ~2 s before it (https://redis.io/docs/latest/operate/oss_and_stack/management/persistence/).
EVERYSEC_WINDOW_S = 2.5
KILL_INSTANT_S = 0.1  # injected_at is read just before the SIGKILL: an ack may land in between
# After Sentinel's +switch-master, the old primary keeps acknowledging until Sentinel's next look at it
# converts it to a replica (INFO every second while it is in failover).
DEMOTION_SLACK_S = 2.0


def _lost_ack_walls(run_dir: Path, cell: dict) -> list[float]:
    """Wall-clock ack times of the writes the cell's evidence lists as lost (from its history)."""
    evidence = json.loads((run_dir / cell["artifacts"]["history"]).parent.joinpath("evidence.json").read_text())
    lost = {w["id"]: w["ack_us"] for w in evidence["readback"]["lost"]}
    walls = []
    for path in (run_dir / cell["artifacts"]["history"]).glob("*.jsonl"):
        for line in path.read_text().splitlines():
            rec = json.loads(line)
            if rec["type"] == "ok" and (rec.get("value") or {}).get("id") in lost:
                assert rec["t_us"] == lost[rec["value"]["id"]], "the evidence's ack_us is the history's ack"
                walls.append(rec["wall"])
    return walls


def unexplained_losses(cell: dict, lost_ack_walls: list[float], restart_delay_s: float) -> list[str]:
    """The lost writes of a pod-kill-primary cell on redis that neither tolerated cause explains:

    1. the `everysec` window: acknowledged at most EVERYSEC_WINDOW_S before the kill (any mode);
    2. the restart-vs-Sentinel race (kubeblocks only): the killed primary is restarted in place after
       `restart_delay_s` and takes writes again (clients still find it through Sentinel) while
       Sentinel fails over to the replica; the old primary is then demoted and what it acknowledged
       since its restart is gone. So: acknowledged after the restart could have happened, and
       before (or, by DEMOTION_SLACK_S, just after) a +switch-master to another instance.
    """
    injected = datetime.fromisoformat(cell["fault"]["injected_at"]).timestamp()
    killed = cell["fault"]["instance"]
    switches = [datetime.fromisoformat(rc["at"]).timestamp() for rc in cell["role_changes"]
                if rc["new_primary"] != killed]
    bad = []
    for w in sorted(lost_ack_walls):
        if injected - EVERYSEC_WINDOW_S <= w <= injected + KILL_INSTANT_S:
            continue
        if (cell["mode"] == "kubeblocks" and w >= injected + restart_delay_s - KILL_INSTANT_S
                and any(w <= s + DEMOTION_SLACK_S for s in switches)):
            continue
        bad.append(f"acked {w - injected:+.3f} s from the kill")
    if bad:
        bad.append(f"({cell['mode']}; switch-master to another instance at "
                   f"{[round(s - injected, 3) for s in switches]} s from the kill)")
    return bad


def _cell(mode: str, role_changes=(), injected="2026-01-01T00:00:10+00:00") -> dict:
    return {"mode": mode, "fault": {"injected_at": injected, "instance": "redis-0"},
            "role_changes": [{"at": at, "new_primary": who, "source": "sentinel +switch-master"}
                             for at, who in role_changes]}


def test_the_lost_write_causes_are_told_apart():
    t0 = datetime.fromisoformat("2026-01-01T00:00:10+00:00").timestamp()
    switch = [("2026-01-01T00:00:11.800000+00:00", "redis-1")]
    # the fsync window, in either mode
    assert unexplained_losses(_cell("statefulset"), [t0 - 1.2, t0 - 0.01], 1.0) == []
    assert unexplained_losses(_cell("kubeblocks", switch), [t0 - 2.0], 1.0) == []
    # older than the window: not an fsync loss
    assert unexplained_losses(_cell("statefulset"), [t0 - 3.0], 1.0)[0].startswith("acked -3.000 s")
    # acked 1.9 s after the kill by the restarted old primary, Sentinel switched at 1.8 s: the race
    assert unexplained_losses(_cell("kubeblocks", switch), [t0 + 1.9], 1.0) == []
    # ... but not without a switch, not on a StatefulSet (no Sentinel), not before the restart could
    # have happened, not long after the switch, and not when the "switch" went back to the killed one
    assert unexplained_losses(_cell("kubeblocks"), [t0 + 1.9], 1.0)
    assert unexplained_losses(_cell("statefulset", switch), [t0 + 1.9], 1.0)
    assert unexplained_losses(_cell("kubeblocks", switch), [t0 + 0.5], 1.0)
    assert unexplained_losses(_cell("kubeblocks", switch), [t0 + 1.8 + DEMOTION_SLACK_S + 0.5], 1.0)
    assert unexplained_losses(_cell("kubeblocks", [("2026-01-01T00:00:11.800000+00:00", "redis-0")]),
                              [t0 + 1.9], 1.0)


@pytest.mark.server
def test_real_short_scenario_on_local_platform(real_run):
    """pod-kill-primary on redis, both modes: real servers, real load workers, real checker (the
    session's shared real run, see conftest)."""
    run_dir = real_run.run_dir
    res = read_results(run_dir)  # validates against the schema
    cells = [c for c in res["cells"] if c["scenario"] == "pod-kill-primary"]
    assert sorted(c["mode"] for c in cells) == ["kubeblocks", "statefulset"]
    assert [c["status"] for c in cells] == ["ok", "ok"], [c["reason"] for c in cells]
    settings = json.loads((run_dir / "settings.json").read_text())
    deploy = settings["settings"]["deploy_spec"]
    assert deploy["sentinel_down_after_ms"] == 1500
    for c in cells:
        assert c["fault"]["kind"] == "pod-kill" and c["fault"]["instance"]
        assert 2.5 <= c["fault"]["injected_at_s"] <= 4.5
        assert c["ops"]["ok"] > 0 and c["consistency"]["acked_writes"] > 0
        # any loss must be explained by one of the tolerated causes, and the evidence must name each
        lost_ack_walls = _lost_ack_walls(run_dir, c)
        assert len(lost_ack_walls) == c["consistency"]["lost_writes"]
        assert not unexplained_losses(c, lost_ack_walls, deploy["restart_delay_s"]), (
            c["mode"], unexplained_losses(c, lost_ack_walls, deploy["restart_delay_s"]))
        assert c["availability"]["recovered"] is True
        assert (run_dir / c["artifacts"]["timeline"]).exists()
        assert list((run_dir / c["artifacts"]["history"]).glob("*.jsonl"))
    assert res["run"]["software"]["redis"]
    assert (run_dir / "run.log").read_text().count("start") >= 2
    # nothing the run started is still alive (checked by pid + start time)
    started = real_run.started
    assert any(n.startswith("load-") for _, _, n in started) and any(n.startswith("redis") for _, _, n in started)
    alive = [f"{n} ({p})" for p, t, n in started if is_alive(p, t)]
    assert not alive, alive
    assert not list(real_run.state_dir.glob("*.json"))
    assert "fake" not in "".join(c["engine"] for c in res["cells"])


class _SignalsOnCollect:
    """Sends `sig` from its `__del__`: the gate's Interrupted is raised inside the finaliser, where
    Python swallows it ("Exception ignored in ...") — what a redis ConnectionPool did in CI."""

    def __init__(self, sig):
        self.sig = sig

    def __del__(self):
        signal.raise_signal(self.sig)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # the swallowed Interrupted
def test_signal_swallowed_by_a_finaliser_during_the_report_still_exits_143(tmp_path, monkeypatch):
    import harness.report as report

    real = report.render_run_dir

    def render_then_collect(run_dir):
        paths = real(run_dir)
        _SignalsOnCollect(signal.SIGTERM)  # dropped at once: its __del__ runs here and swallows Interrupted
        return paths

    monkeypatch.setattr(report, "render_run_dir", render_then_collect)
    code, out = run_fake(tmp_path, ["steady"], ["redis"], FakePlatform(), FakeWorkload(), modes=("kubeblocks",))
    assert code == 143, out
    assert "interrupted (signal 15) while writing the report" in out
    assert read_results(tmp_path / "out" / "latest")["cells"][0]["status"] == "ok", "the finished cell is kept"


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # the swallowed Interrupted
def test_signal_swallowed_by_a_finaliser_during_a_cell_stops_before_the_next(tmp_path):
    class CollectsInSeed(FakeWorkload):
        def seed(self, endpoint, engine, settings):
            _SignalsOnCollect(signal.SIGINT)
            return None

    platform = FakePlatform()
    code, out = run_fake(tmp_path, ["steady", "pod-kill-primary"], ["redis"], platform, CollectsInSeed(),
                         modes=("kubeblocks",))
    assert code == 130, out
    res = read_results(tmp_path / "out" / "latest")
    assert [c["scenario"] for c in res["cells"]] == ["steady"], "no cell starts after the signal"
    assert res["run"]["status"] == "interrupted"
    assert platform.torn == platform.deployed
