"""`harness doctor`: the table, the exit status, the fix for what is missing."""

from __future__ import annotations

import sys
from io import StringIO

from rich.console import Console

from harness import doctor as doctor_module
from harness.contracts import Check


def run(platform: str):
    buf = StringIO()
    code = doctor_module.doctor(platform, Console(file=buf, width=200))
    return code, buf.getvalue()


def test_local_here_can_run():
    code, out = run("local")
    assert code == 0, out
    assert "redis-server" in out and "7.0" in out and "mariadbd" in out and "10.11" in out


def test_missing_required_exits_1_and_says_how_to_install(monkeypatch):
    import harness.platforms.local as local

    checks = [Check("redis-server", ok=False, detail="not found", fix="sudo apt-get install -y redis-server"),
              Check("mongod", ok=False, fix="install mongodb-org", required=False)]
    monkeypatch.setattr(local, "preflight", lambda: checks)
    code, out = run("local")
    assert code == 1
    assert "sudo apt-get install -y redis-server" in out and "missing" in out


def test_only_optional_missing_still_runs(monkeypatch):
    import harness.platforms.local as local

    monkeypatch.setattr(local, "preflight", lambda: [Check("mongod", ok=False, fix="x", required=False)])
    assert run("local")[0] == 0


def test_platform_module_unavailable_is_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "harness.platforms.kind", None)  # import fails
    code, out = run("kind")
    assert code == 1
    assert out.strip().count("\n") == 0 and "not available" in out


def test_cli_doctor_exit_status():
    from harness.cli import main

    assert main(["doctor", "--platform", "local"]) == 0
    assert main(["doctor", "--platform", "nowhere"]) == 2
