"""The client library versions: what this interpreter has, in results.json's `run.software`, the report
header and `harness doctor` (no servers needed)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from harness import software
from harness.software import CLIENT_DISTRIBUTIONS, client_versions

INSTALLED = {"pymysql": "PyMySQL", "redis-py": "redis", "locust": "locust", "gevent": "gevent"}


def test_client_versions_are_the_installed_distributions():
    got = client_versions()
    assert set(got) == {"pymysql", "redis-py", "pymongo", "locust", "gevent", "greenlet"}
    for key, dist in INSTALLED.items():
        assert got[key] is not None and got[key] == version(dist), key


def test_missing_distribution_is_none(monkeypatch):
    def fake_version(dist: str) -> str:
        if dist == "pymongo":
            raise PackageNotFoundError(dist)
        return "1.0"

    monkeypatch.setattr(software, "version", fake_version)
    got = client_versions()
    assert got["pymongo"] is None and got["pymysql"] == "1.0"


def test_run_software_keeps_the_servers_and_adds_the_clients():
    from harness.contracts import Check
    from harness.runloop import software_versions

    sw = software_versions([Check("redis-server", ok=True, version="7.0.15")])
    assert sw["redis"] == "7.0.15" and sw["redis-py"] == version("redis")
    assert {"mariadb", "mongodb", "kubeblocks", "kubernetes", "kind"} <= set(sw)
    assert {k: sw[k] for k in CLIENT_DISTRIBUTIONS} == client_versions()


def test_header_lists_servers_and_client_libraries_apart():
    from harness.report.tables import header_rows

    run = {"platform": "local", "profile": "quick", "seed": 1, "started_at": "2025-01-01T00:00:00",
           "harness_version": "0.1.0", "git_sha": None, "host": {"cpus": 2, "memory_gb": 4.0},
           "software": {"mariadb": "10.11.19", "redis": "7.0.15", "mongodb": None, "pymysql": "1.2.4",
                        "redis-py": "8.1.0", "pymongo": None}}
    rows = dict(header_rows(run))
    assert rows["software"] == "mariadb 10.11.19, redis 7.0.15"
    assert rows["client libraries"] == "pymysql 1.2.4, redis-py 8.1.0"
    old = dict(header_rows({**run, "software": {"mariadb": "10.11.19"}}))  # a run from before
    assert old["client libraries"] == "not recorded"


def test_cli_doctor_names_the_client_libraries(monkeypatch, capsys):
    import harness.platforms.local as local
    from harness.cli import main

    monkeypatch.setattr(local, "preflight", lambda: [])  # the client table only, whatever servers are here
    assert main(["doctor", "--platform", "local"]) == 0
    out = capsys.readouterr().out
    assert "pymysql" in out and version("PyMySQL") in out
    assert "greenlet" in out and version("greenlet") in out
