"""The run loop: statuses per cell, results.json after every cell, signals, dry-run, and one short
real scenario on the local platform (real redis-server / Sentinel / load workers)."""

from __future__ import annotations

import io
import json
import signal
from datetime import datetime
from pathlib import Path

import pytest
from _helpers import recording_platform_factory
from _runfakes import FakePlatform, FakeWorkload, latest_results

from harness.config import build_settings
from harness.procs import is_alive
from harness.results import read_results
from harness.runloop import RunRequest, choose_platform, execute

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
    assert all(i.recovered for i in platform.injections)
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


REAL = {
    "timings": {"*": {"warmup_s": 1, "before_fault_s": 3, "observe_s": 5}},
    "deploy": {"restart_delay_s": 1.0, "sentinel_down_after_ms": 1500, "sentinel_failover_timeout_ms": 5000},
    "load": {"rate_ops_s": 80, "users": 10},
    "seed_data": {"users": 20, "friends_per_user": 3, "groups": 2, "group_size": 5},
}


def _lost_ack_walls(run_dir: Path, cell: dict) -> list[float]:
    """Wall-clock ack times of the writes the cell's evidence lists as lost (from its history)."""
    evidence = json.loads((run_dir / cell["artifacts"]["history"]).parent.joinpath("evidence.json").read_text())
    lost_ids = {w["id"] for w in evidence["readback"]["lost"]}
    walls = []
    for path in (run_dir / cell["artifacts"]["history"]).glob("*.jsonl"):
        for line in path.read_text().splitlines():
            rec = json.loads(line)
            if rec["type"] == "ok" and (rec.get("value") or {}).get("id") in lost_ids:
                walls.append(rec["wall"])
    return walls


@pytest.mark.server
def test_real_short_scenario_on_local_platform(tmp_path):
    """pod-kill-primary on redis, both modes: real servers, real load workers, real checker."""
    started: list[tuple[int, int | None, str]] = []

    factory = recording_platform_factory(started)

    req = RunRequest(scenarios=["pod-kill-primary"], platform="local", engines=["redis"],
                     modes=["kubeblocks", "statefulset"], settings=build_settings("quick", overrides=REAL),
                     out=tmp_path / "out")
    stream = io.StringIO()
    assert execute(req, stream=stream, platform_factory=factory) == 0, stream.getvalue()
    run_dir = (tmp_path / "out" / "latest").resolve()
    res = read_results(run_dir)  # validates against the schema
    assert [c["status"] for c in res["cells"]] == ["ok", "ok"], [c["reason"] for c in res["cells"]]
    for c in res["cells"]:
        assert c["fault"]["kind"] == "pod-kill" and c["fault"]["instance"]
        assert 2.5 <= c["fault"]["injected_at_s"] <= 4.5
        assert c["ops"]["ok"] > 0 and c["consistency"]["acked_writes"] > 0
        # Redis' `appendfsync everysec` (OpenIM's and KubeBlocks' setting) may drop a write acknowledged
        # within ~2 s before a SIGKILL (the AOF write is postponed while a background fsync runs); any
        # loss must be exactly such writes, and the evidence must name each of them.
        lost_ack_walls = _lost_ack_walls(run_dir, c)
        assert len(lost_ack_walls) == c["consistency"]["lost_writes"]
        injected = datetime.fromisoformat(c["fault"]["injected_at"]).timestamp()
        assert all(injected - 2.5 <= w <= injected for w in lost_ack_walls), (lost_ack_walls, injected)
        assert c["availability"]["recovered"] is True
        assert (run_dir / c["artifacts"]["timeline"]).exists()
        assert list((run_dir / c["artifacts"]["history"]).glob("*.jsonl"))
    assert res["run"]["software"]["redis"]
    settings = json.loads((run_dir / "settings.json").read_text())
    assert settings["settings"]["deploy_spec"]["sentinel_down_after_ms"] == 1500
    assert (run_dir / "run.log").read_text().count("start") >= 2
    # nothing the run started is still alive (checked by pid + start time)
    assert any(n.startswith("load-") for _, _, n in started) and any(n.startswith("redis") for _, _, n in started)
    alive = [f"{n} ({p})" for p, t, n in started if is_alive(p, t)]
    assert not alive, alive
    assert not list(Path(tmp_path / "state").glob("*.json"))
    assert "fake" not in "".join(c["engine"] for c in res["cells"])
