"""`harness run` / `list` / `report` through the CLI: bad input is one line and exit 2."""

from __future__ import annotations

import pytest

from harness.cli import main


@pytest.fixture(autouse=True)
def _state_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_STATE_DIR", str(tmp_path / "state"))


def one_line_error(capsys, argv, pattern):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert pattern in err, err


def test_list_names_scenarios_profiles_and_reasons(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in ("steady", "pod-kill-primary", "pod-kill-secondary", "zone-outage", "zone-partition"):
        assert name in out
    assert "quick, full, nightly" in out and "not applicable to statefulset" in out


def test_bad_run_input_is_one_line(capsys, tmp_path):
    one_line_error(capsys, ["run", "pod-kil"], "unknown scenario 'pod-kil'; accepted: steady")
    one_line_error(capsys, ["run", "--profile", "fast", "--dry-run"], "--profile 'fast': accepted: quick, full, nightly")
    one_line_error(capsys, ["run", "--engines", "mysql,oracle"], "unknown engine oracle")
    one_line_error(capsys, ["run", "--modes", ""], "empty mode list")
    one_line_error(capsys, ["run", "--seed", "x"], "invalid int value")
    bad = tmp_path / "s.yaml"
    bad.write_text("load: {rate_ops_s: 0}\n")
    one_line_error(capsys, ["run", "--settings", str(bad), "--dry-run"], "load.rate_ops_s = 0")


def test_dry_run_through_the_cli(capsys, tmp_path):
    assert main(["run", "steady,zone-outage", "--platform", "local", "--engines", "redis", "--dry-run",
                 "--out", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    assert "platform: local (requested with --platform)" in out
    assert "plan: profile quick, 4 cells (4 to run)" in out
    assert not (tmp_path / "o").exists()


def test_report_on_a_missing_dir_is_one_line(capsys, tmp_path):
    one_line_error(capsys, ["report", str(tmp_path / "none")], "not a directory")
