"""Shared fixtures: a process registry that proves, by pid, that nothing it started outlives a
test; the local platform on it; a DeploySpec with short timings for tests.

The `server` marker: a test that starts a real server (mariadbd, redis-server, redis-sentinel,
mongod) or a load worker, directly or through a real run. Tests using the fixtures below that
start them are marked here; the others carry `@pytest.mark.server` themselves. `make test-fast`
runs `-m "not server"`, and a test left unmarked that spawns one of them fails (see
_refuse_servers below), so the fast tier cannot silently grow slow."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import NamedTuple

import pytest
from _helpers import recording_platform_factory, wait_until

from harness.contracts import DeploySpec
from harness.procs import ProcessRegistry, is_alive


def assert_nothing_alive(records) -> None:
    alive = [f"{r.name} (pid {r.pid})" for r in records if is_alive(r.pid, r.start_ticks)]
    assert not alive, f"processes still alive after teardown: {', '.join(alive)}"


class TrackingRegistry(ProcessRegistry):
    """A ProcessRegistry that also remembers every process it ever started (for the pid check)."""

    def __init__(self, state_file: Path, run_id: str):
        self.started = []
        super().__init__(state_file, run_id)

    def spawn(self, argv, name, log_path=None, env=None, cwd=None, preexec=None):
        proc = super().spawn(argv, name, log_path=log_path, env=env, cwd=cwd, preexec=preexec)
        rec = next((r for r in self.records() if r.pid == proc.pid), None)
        if rec is not None:
            self.started.append(rec)
        return proc


@pytest.fixture
def registry(tmp_path: Path):
    reg = TrackingRegistry(tmp_path / "state" / "test.json", "test")
    yield reg
    reg.stop_all(grace_s=2.0)
    assert_nothing_alive(reg.started)


@pytest.fixture
def fast_spec() -> DeploySpec:
    """KubeBlocks' shape with short timings, so a failover takes seconds, not tens of seconds."""
    return DeploySpec(
        restart_delay_s=1.0,
        sentinel_down_after_ms=1500,
        sentinel_failover_timeout_ms=5000,
        sentinel_quorum=2,
        role_probe_period_s=0.3,
        role_probe_failure_threshold=2,
        semi_sync_timeout_ms=1000,
        ready_timeout_s=60.0,
    )


def torn_down_platform(registry, tmp_path: Path, observe: bool):
    """A LocalPlatform whose deployments are all torn down, and which is closed, after the test."""
    from harness.platforms.local import LocalPlatform

    platform = LocalPlatform(registry, tmp_path / "run", tmp_path / "work", observe=observe)
    deployments = []
    orig = platform.deploy

    def deploy(engine, mode, spec):
        dep = orig(engine, mode, spec)
        deployments.append(dep)
        return dep

    platform.deploy = deploy  # type: ignore[method-assign]
    yield platform
    for dep in deployments:
        platform.teardown(dep)
    platform.close()


@pytest.fixture
def local_platform(registry, tmp_path: Path):
    """Without exporters and Prometheus (tests/test_observability_local.py has `observed_platform`)."""
    yield from torn_down_platform(registry, tmp_path, observe=False)


@pytest.fixture
def observed_platform(registry, tmp_path: Path):
    """With an exporter beside every data pod and the run's Prometheus."""
    yield from torn_down_platform(registry, tmp_path, observe=True)


@pytest.fixture
def poll():
    return wait_until


# A real short local run shared by the compare, notebook and run-loop tests (redis: steady +
# pod-kill-primary, both modes; real servers, load and checker, timings shortened). Run once per
# session; `real_run` also gives what the run started and its state directory.
REAL_RUN_SETTINGS = {
    "timings": {"*": {"warmup_s": 1, "before_fault_s": 3, "observe_s": 4}},
    "deploy": {"restart_delay_s": 1.0, "sentinel_down_after_ms": 1500, "sentinel_failover_timeout_ms": 5000},
    "load": {"rate_ops_s": 60, "users": 10},
    "seed_data": {"users": 20, "friends_per_user": 3, "groups": 2, "group_size": 5},
}


class RealRun(NamedTuple):
    run_dir: Path
    started: list[tuple[int, int | None, str]]  # (pid, start ticks, name) of every process it started
    state_dir: Path  # HARNESS_STATE_DIR of the run


@pytest.fixture(scope="session")
def real_run_dir(real_run: RealRun) -> Path:
    return real_run.run_dir


@pytest.fixture(scope="session")
def real_run(tmp_path_factory) -> RealRun:
    import io
    import json

    from harness.config import build_settings
    from harness.runloop import RunRequest, execute

    base = tmp_path_factory.mktemp("real-run")
    started = []

    factory = recording_platform_factory(started)  # records every pid the run starts

    mp = pytest.MonkeyPatch()
    mp.setenv("HARNESS_STATE_DIR", str(base / "state"))
    mp.setenv("HARNESS_WORK_DIR", str(base / "work"))
    try:
        req = RunRequest(scenarios=["steady", "pod-kill-primary"], platform="local", engines=["redis"],
                         modes=["kubeblocks", "statefulset"], out=base / "out", render_report=False,
                         settings=build_settings("quick", overrides=REAL_RUN_SETTINGS))
        out = io.StringIO()
        assert execute(req, stream=out, platform_factory=factory) == 0, out.getvalue()
    finally:
        mp.undo()
    alive = [f"{n} (pid {p})" for p, t, n in started if is_alive(p, t)]
    assert started and not alive, f"processes of the run still alive: {alive}"
    run_dir = (base / "out" / "latest").resolve()
    cells = json.loads((run_dir / "results.json").read_text())["cells"]
    bad = [f"{c['scenario']}/{c['mode']}: {c['status']} {c['reason']}" for c in cells if c["status"] != "ok"]
    assert len(cells) == 4 and not bad, f"the shared real run did not measure every cell: {bad}"
    return RealRun(run_dir, started, base / "state")


# -- the `server` marker -------------------------------------------------------------------------

# Fixtures that start real servers (or a real run); item.fixturenames is the transitive closure, so
# a test's own fixture built on one of these (redis_ep, real, executed, ...) counts too.
SERVER_FIXTURES = frozenset({"registry", "local_platform", "observed_platform", "real_run", "real_run_dir"})

# What a test that is not marked `server` may not spawn (`--version` probes are fine).
SERVER_BINARIES = frozenset({"mariadbd", "mysqld", "mariadb-install-db", "mysql_install_db",
                             "redis-server", "redis-sentinel", "mongod", "mongos", "prometheus",
                             "prometheus-mysqld-exporter", "prometheus-redis-exporter"})
WORKER_MODULE = "harness.workload.worker"


def pytest_collection_modifyitems(config, items):
    for item in items:
        if SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.server)


def spawns_a_server(argv) -> str | None:
    """The server binary or load worker an argv starts, else None."""
    if isinstance(argv, (str, bytes, os.PathLike)):
        argv = [argv]
    args = [os.fsdecode(a) for a in argv]
    if not args or "--version" in args:
        return None
    if os.path.basename(args[0]) in SERVER_BINARIES:
        return os.path.basename(args[0])
    if WORKER_MODULE in args:
        return WORKER_MODULE
    return None


@pytest.fixture(autouse=True)
def _refuse_servers(request, monkeypatch):
    """A test without the `server` marker that starts a server or load worker fails at once, naming
    it: the test needs the marker (or the fixture that starts it). Only spawns from this process
    are seen; a test that runs the harness CLI as a subprocess for real carries the marker itself."""
    if request.node.get_closest_marker("server") is not None:
        yield
        return
    real_init = subprocess.Popen.__init__

    def guarded_init(self, args, *a, **kw):
        what = spawns_a_server(args)
        if what is not None:
            raise AssertionError(f"{request.node.nodeid} starts {what} but is not marked "
                                 "@pytest.mark.server (make test-fast would run it)")
        real_init(self, args, *a, **kw)

    monkeypatch.setattr(subprocess.Popen, "__init__", guarded_init)
    yield
