"""The server's view on the local platform, against real mariadbd / redis-server, real exporters
(prometheus-mysqld-exporter, prometheus-redis-exporter) and a real Prometheus: they start and stop
with the deployment (checked by pid), no credential is on any command line, a pod kill fires the
down alert and its time to alert is measured, and the op-count cross-check passes on a real cell and
fails on a planted mismatch."""

from __future__ import annotations

import json
import os
import stat
import time
from dataclasses import replace
from pathlib import Path

import pytest

from harness.observe import alerts, collect
from harness.observe.crosscheck import compare
from harness.observe.metrics import of
from harness.observe.promapi import Series, instant, raw_samples
from harness.platforms.local.preflight import find_binary
from harness.procs import is_alive

NEEDED = ("prometheus", "prometheus-mysqld-exporter", "prometheus-redis-exporter")
pytestmark = pytest.mark.skipif(any(find_binary(b) is None for b in NEEDED),
                                reason="needs the Debian packages prometheus, prometheus-mysqld-exporter, "
                                       "prometheus-redis-exporter (make setup installs them)")
DEADLINE_S = 30.0


def wait_for(fn, what: str, deadline_s: float = DEADLINE_S):
    deadline = time.monotonic() + deadline_s
    while True:
        got = fn()
        if got:
            return got
        assert time.monotonic() < deadline, f"not within {deadline_s:.0f} s: {what}"
        time.sleep(0.1)


def scraped_up(url: str, dep_id: str, n: int) -> bool:
    got = instant(url, f'up{{deployment="{dep_id}"}} == 1')
    return len(got) == n


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def test_exporters_and_prometheus_start_and_stop_with_the_deployment(observed_platform, registry, fast_spec):
    dep = observed_platform.deploy("mysql", "kubeblocks", fast_spec)
    obs = observed_platform.observation(dep)
    h = dep.handle
    assert obs.missing is None and obs.url and obs.url.startswith("http://127.0.0.1:"), obs
    assert obs.selector == {"deployment": dep.id} and obs.scrape_interval_s == 1.0
    assert set(obs.exporters) == {"mysql-0", "mysql-1"}
    assert all(v.startswith("prometheus-mysqld-exporter 0.") for v in obs.exporters.values()), obs.exporters
    wait_for(lambda: scraped_up(obs.url, dep.id, 2), "both exporters scraped")
    assert instant(obs.url, f'mysql_up{{deployment="{dep.id}"}} == 1'), "the exporters reach their servers"
    sidecars = {r.pid: r for r in registry.started if r.name.endswith("-exporter")}
    prom = [r for r in registry.started if r.name == "prometheus"]
    assert len(sidecars) == 2 and len(prom) == 1 and all(is_alive(r.pid, r.start_ticks) for r in sidecars.values())

    # no credential on any command line; the exporters read theirs from 0600 files
    secrets = [v for v in h.secrets.values() if v]
    assert secrets
    for r in registry.started:
        line = cmdline(r.pid)
        assert not any(s in line for s in secrets), f"{r.name}: a password on its command line"
        if r.name.endswith("-exporter"):
            assert "--config.my-cnf=" in line and "127.0.0.1:" in line
    for f in (h.work_dir / "conf").glob("*-exporter.cnf"):
        assert stat.S_IMODE(os.stat(f).st_mode) == 0o600, f

    observed_platform.teardown(dep)
    assert not any(is_alive(r.pid, r.start_ticks) for r in sidecars.values()), "an exporter outlived its deployment"
    assert not (observed_platform._prometheus.targets_dir / f"{dep.id}.json").exists()
    assert is_alive(prom[0].pid, prom[0].start_ticks), "the run's Prometheus outlives one deployment"
    observed_platform.close()
    assert not is_alive(prom[0].pid, prom[0].start_ticks), "Prometheus outlived the platform"


def test_pod_kill_fires_the_down_alert_and_the_time_to_alert_is_measured(observed_platform, fast_spec):
    dep = observed_platform.deploy("redis", "statefulset", fast_spec)
    obs = observed_platform.observation(dep)
    wait_for(lambda: instant(obs.url, f'redis_up{{deployment="{dep.id}"}} == 1'), "redis scraped up")
    [pod] = observed_platform.pods(dep)
    killed_at = time.time()
    observed_platform.kill(dep, pod)
    firing = f'ALERTS{{deployment="{dep.id}",alertname="RedisDown",alertstate="firing"}}'
    wait_for(lambda: instant(obs.url, firing), "RedisDown firing after the pod kill")
    end = time.time()
    found = raw_samples(obs.url, f'ALERTS{{deployment="{dep.id}"}}', killed_at - 30, end)
    rel = [Series(s.metric, s.labels, [t - killed_at for t in s.t], s.v) for s in found]
    eps = alerts.episodes(rel, obs.scrape_interval_s, end - killed_at)
    tta = alerts.time_to_alert(eps, 0.0)
    assert tta is not None and tta["kind"] in ("Down", "MissingPrimary"), eps
    assert tta["s"] >= 0 and tta["pod"] in (pod.name, None), tta
    down = [e for e in eps if e.alert == "RedisDown"]
    assert down and down[0].pod == pod.name and down[0].firing_from_s >= 0, down
    # the supervisor restarts it: the alert resolves (a sidecar does not die with a killed server)
    wait_for(lambda: not instant(obs.url, firing), "RedisDown resolved after the restart")


def test_cross_check_passes_on_a_real_cell_and_fails_on_a_planted_mismatch(real_run_dir):
    cells = json.loads((real_run_dir / "results.json").read_text())["cells"]
    steady = [c for c in cells if c["scenario"] == "steady"]
    assert steady
    for c in steady:
        o = c["observability"]
        assert o["observed"], o
        xc = o["cross_check"]
        assert xc["valid"], (c["mode"], xc)
        assert {r["command"] for r in xc["commands"]} == set(of("redis").compared.values())
        assert all(r["agree"] and r["expected"] > 0 for r in xc["commands"]), xc
        assert (real_run_dir / o["series_file"]).exists()

    # planted: the exporter's counter gains 5 % more evalsha calls than the clients sent
    c = steady[0]
    o = c["observability"]
    series = collect.read_series(real_run_dir / o["series_file"])
    m = of("redis")
    pod = o["cross_check"]["window"]["pod"]
    counters = {s.labels[m.command_label]: s for s in series if s.metric == m.commands and s.labels.get("pod") == pod}
    window = o["cross_check"]["window"]
    rows = {r["command"]: (r["expected"], r["least"], r["most"]) for r in o["cross_check"]["commands"]}
    assert compare(counters, rows, window).valid
    ev = counters["evalsha"]
    extra = max(3, int(rows["evalsha"][2] * 0.05))
    planted = replace(ev, v=[v + (extra if t > window["from_s"] else 0) for t, v in zip(ev.t, ev.v, strict=True)])
    bad = compare({**counters, "evalsha": planted}, rows, window)
    assert not bad.valid and any(r.startswith("evalsha: ") for r in bad.reasons), bad
    # and the clients acknowledging ops the server never counted
    fewer = {k: (v[0] + extra, v[1] + extra, v[2] + extra) if k == "hgetall" else v for k, v in rows.items()}
    assert not compare(counters, fewer, window).valid


def test_fault_cells_of_a_real_run_carry_alerts_and_the_server_view(real_run_dir):
    cells = json.loads((real_run_dir / "results.json").read_text())["cells"]
    kills = [c for c in cells if c["scenario"] == "pod-kill-primary"]
    assert len(kills) == 2
    for c in kills:
        o = c["observability"]
        assert o["observed"] and o["alerts"], o
        assert o["time_to_alert"] is not None and o["time_to_alert"]["s"] >= 0, o["time_to_alert"]
        assert o["cross_check"]["valid"], o["cross_check"]
        assert o["cross_check"]["window"]["why"] == "before the fault"
        assert o["cross_check"]["window"]["to_s"] < c["fault"]["injected_at_s"]
        series = collect.read_series(real_run_dir / o["series_file"])
        assert {"redis_up", "redis_commands_total", "redis_instance_info", "ALERTS"} <= {s.metric for s in series}


def test_without_prometheus_or_with_a_broken_exporter_the_deployment_runs_unobserved(
        registry, tmp_path, fast_spec, monkeypatch):
    from harness.contracts import Deployment
    from harness.platforms.local import LocalPlatform, exporters
    from harness.platforms.local import prometheus as prom_mod

    monkeypatch.setattr(prom_mod, "find_binary", lambda name: None)
    platform = LocalPlatform(registry, tmp_path / "run", tmp_path / "work", observe=True)
    dep: Deployment = platform.deploy("redis", "statefulset", fast_spec)
    try:
        obs = platform.observation(dep)
        assert obs.url is None and obs.missing == "prometheus not installed (sudo apt-get install -y prometheus)"
        assert collect.unobserved(obs)["missing"] == obs.missing
        assert not dep.handle.sidecars and platform.pods(dep)[0].alive
    finally:
        platform.teardown(dep)
        platform.close()

    monkeypatch.undo()
    broken = {"redis": lambda h, p, b: (lambda s: [b, "-no-such-flag"])}
    monkeypatch.setattr(exporters, "ARGV", broken)
    platform = LocalPlatform(registry, tmp_path / "run2", tmp_path / "work2", observe=True)
    dep = platform.deploy("redis", "statefulset", fast_spec)
    try:
        obs = platform.observation(dep)
        assert obs.url and obs.missing and obs.missing.startswith("no exporter started: missing: redis-0-exporter did not start"), obs
        assert obs.exporters["redis-0"].startswith("missing: "), obs.exporters
        assert platform.pods(dep)[0].alive  # the cell still runs
    finally:
        platform.teardown(dep)
        platform.close()
