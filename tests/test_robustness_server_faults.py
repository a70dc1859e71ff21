"""Issue 7, rule 6: a database process that will not start fails its cell with the server's own
error in the reason, and the run goes on to the next cell. Real servers, real harness runs:

- mariadbd refusing to start (given an option it does not know, through a PATH stand-in), through
  the real CLI: the mysql cell fails with mariadbd's own `[ERROR]` line, redis runs ok;
- a port somebody else already listens on (redis-server's own "Address already in use").
"""

from __future__ import annotations

import io
import os
import socket

import pytest
from _helpers import recording_platform_factory
from _robustness import HarnessRun, settings_yaml

from harness.config import build_settings
from harness.platforms.local import pods as pods_module
from harness.procs import is_alive
from harness.results import read_results
from harness.runloop import RunRequest, execute

pytestmark = pytest.mark.server  # real runs whose servers fail

SHORT = {"*": {"warmup_s": 0.5, "before_fault_s": 1, "observe_s": 0.5}}


BROKEN_MARIADBD = """#!/bin/sh
# Test-only stand-in on PATH: the real mariadbd, given an option it does not know, so it refuses to
# start with its own error (`--version` still answers, so the preflight sees a server).
case " $* " in *" --version "*) exec {real} "$@";; esac
exec {real} "$@" --no-such-option-for-this-test
"""


def test_server_that_will_not_start_fails_its_cell_and_the_run_goes_on(tmp_path):
    real = pods_module.binary("mariadbd", "mariadb-server")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "mariadbd").write_text(BROKEN_MARIADBD.format(real=real))
    (bin_dir / "mariadbd").chmod(0o755)
    settings = settings_yaml(tmp_path / "s.yaml", SHORT)
    run = HarnessRun(tmp_path, ["steady", "--platform", "local", "--engines", "mysql,redis", "--modes",
                                "statefulset", "--settings", str(settings)],
                     env_extra={"PATH": f"{bin_dir}:{os.environ['PATH']}"}).start()
    try:
        code = run.proc.wait(timeout=300)  # type: ignore[union-attr]
        run.finish()
        assert code == 0, run.output()[-3000:]
        cells = {c["engine"]: c for c in read_results(run.run_dir())["cells"]}
        mysql, redis = cells["mysql"], cells["redis"]
        assert mysql["status"] == "failed" and "DeployError" in mysql["reason"], mysql["reason"]
        assert "unknown option '--no-such-option-for-this-test'" in mysql["reason"], mysql["reason"]
        assert redis["status"] == "ok", redis["reason"]
        print(f"mysql: {mysql['reason'][:200]}\nredis: {redis['status']}")
        assert not [s for s in run.seen.values() if is_alive(s.pid, s.start_ticks)]
    finally:
        run.finish()
        run.kill_everything_seen()


def test_port_taken_fails_the_cell_with_the_servers_error_and_the_run_goes_on(tmp_path, monkeypatch):
    """The first redis pod is given a port another process listens on; the next cell gets free ports."""
    monkeypatch.setenv("HARNESS_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("HARNESS_WORK_DIR", str(tmp_path / "w"))
    squatter = socket.socket()
    squatter.bind(("127.0.0.1", 0))
    squatter.listen(1)
    taken = squatter.getsockname()[1]
    real_free_port = pods_module.free_port
    calls = {"n": 0}

    def free_port():
        calls["n"] += 1
        return taken if calls["n"] == 1 else real_free_port()

    monkeypatch.setattr(pods_module, "free_port", free_port)
    started: list[tuple[int, int | None, str]] = []

    factory = recording_platform_factory(started)

    req = RunRequest(scenarios=["steady", "pod-kill-primary"], platform="local", engines=["redis"],
                     modes=["statefulset"], settings=build_settings("quick", overrides={
                         "timings": SHORT, "load": {"rate_ops_s": 40, "users": 4},
                         "seed_data": {"users": 10, "friends_per_user": 2, "groups": 1, "group_size": 3},
                         "deploy": {"restart_delay_s": 1.0}}),
                     out=tmp_path / "out", render_report=False)
    stream = io.StringIO()
    try:
        assert execute(req, stream=stream, platform_factory=factory) == 0, stream.getvalue()
    finally:
        squatter.close()
    cells = read_results(tmp_path / "out" / "latest")["cells"]
    first, second = cells
    assert first["status"] == "failed" and "Address already in use" in first["reason"], first["reason"]
    assert second["status"] == "ok", second["reason"]
    print(f"{first['scenario']}: {first['reason'][:200]}\n{second['scenario']}: ok")
    assert not [n for p, t, n in started if is_alive(p, t)]
