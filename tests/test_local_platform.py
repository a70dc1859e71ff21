"""The local platform's contract: failures carry the server's own error and leave nothing running,
passwords stay out of argv and logs, bad input is one clear error, mongodb skips cleanly."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from harness import engines
from harness.contracts import Fault, Platform
from harness.errors import CellSkipped, DeployError, HarnessError
from harness.faults import inject
from harness.platforms.local import LocalPlatform, preflight
from harness.platforms.local import pods as pods_module
from harness.platforms.local.preflight import find_binary, parse_version
from harness.procs import is_alive


def test_is_a_platform(local_platform):
    assert isinstance(local_platform, Platform)
    assert local_platform.name == "local"


@pytest.fixture
def taken_port(monkeypatch):
    """Every pod gets a port somebody already listens on."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    monkeypatch.setattr(pods_module, "free_port", lambda: s.getsockname()[1])
    yield s.getsockname()[1]
    s.close()


@pytest.mark.parametrize("engine", ["mysql", "redis"])
def test_port_taken_is_a_deploy_error_with_the_server_text(local_platform, registry, fast_spec, taken_port, engine):
    with pytest.raises(DeployError) as e:
        local_platform.deploy(engine, "statefulset", fast_spec)
    text = str(e.value).lower()
    assert "address already in use" in text or "bind" in text, text
    assert not [r for r in registry.started if is_alive(r.pid, r.start_ticks)], "a failed deploy left processes"


def test_corrupt_data_dir_is_a_deploy_error(registry, tmp_path, fast_spec, monkeypatch):
    platform = LocalPlatform(registry, tmp_path / "run", tmp_path / "work")
    redo = engines.get("mysql").render_config("statefulset", fast_spec.cpu, fast_spec.memory).as_dict()["innodb_log_file_size"]
    template = platform._template(redo)  # the one the deploy below copies
    (template / "mysql" / "global_priv.MAD").write_bytes(b"garbage" * 100)
    (template / "mysql" / "global_priv.MAI").write_bytes(b"garbage" * 100)
    with pytest.raises(DeployError) as e:
        platform.deploy("mysql", "statefulset", fast_spec)
    assert "mysql-0" in str(e.value)
    assert not [r for r in registry.started if is_alive(r.pid, r.start_ticks)]


def test_interrupted_deploy_leaves_nothing_running(local_platform, registry, fast_spec, monkeypatch):
    from harness.platforms.local import sentinel

    def interrupt(*_a, **_k):
        raise KeyboardInterrupt

    monkeypatch.setattr(sentinel, "wait_quorum", interrupt)
    with pytest.raises(KeyboardInterrupt):
        local_platform.deploy("redis", "kubeblocks", fast_spec)
    assert len(registry.started) == 5, "all five pods had started before the interrupt"
    assert not [r for r in registry.started if is_alive(r.pid, r.start_ticks)]


def test_passwords_never_in_argv_or_logs(local_platform, registry, fast_spec, tmp_path):
    deps = [local_platform.deploy("mysql", "kubeblocks", fast_spec), local_platform.deploy("redis", "kubeblocks", fast_spec)]
    secrets = [s for d in deps for s in d.handle.secrets.values()]
    assert len(set(secrets)) == len(secrets) >= 4, "fresh random passwords per deployment and role"
    for r in registry.records():
        argv = Path(f"/proc/{r.pid}/cmdline").read_bytes().decode()
        assert not any(s in argv for s in secrets), f"a password in the argv of {r.name}"
    inject(local_platform, deps[0], Fault("pod-kill", "primary"))
    for d in deps:
        local_platform.teardown(d)
    for log in (tmp_path / "run").rglob("*.log"):
        text = log.read_text(errors="replace")
        assert not any(s in text for s in secrets), f"a password in {log}"
    for d in deps:
        assert not any(s in repr(local_platform.endpoint(d)) for s in secrets)
        assert not any(s in local_platform.endpoint(d).describe() for s in secrets)


def test_teardown_twice_and_logs_in_run_dir(local_platform, registry, fast_spec, tmp_path):
    dep = local_platform.deploy("redis", "statefulset", fast_spec)
    pid = dep.handle.pods["redis-0"].pid
    local_platform.teardown(dep)
    local_platform.teardown(dep)
    assert not is_alive(pid)
    assert (tmp_path / "run" / "logs" / dep.id / "redis-0.log").stat().st_size > 0
    assert "teardown done" in (tmp_path / "run" / "logs" / dep.id / "events.log").read_text()


def test_bad_input_is_one_clear_error(local_platform, fast_spec):
    with pytest.raises(HarnessError):
        local_platform.deploy("postgres", "statefulset", fast_spec)
    dep = local_platform.deploy("redis", "statefulset", fast_spec)
    with pytest.raises(HarnessError, match="no such pod"):
        inject(local_platform, dep, Fault("pod-kill", "redis-7"))
    with pytest.raises(HarnessError, match="zone"):
        inject(local_platform, dep, Fault("zone-outage", "zone-z"))
    with pytest.raises(HarnessError, match="unknown fault"):
        inject(local_platform, dep, Fault("meteor", "primary"))


@pytest.mark.skipif(find_binary("mongod") is not None, reason="mongod is installed here: the skip path does not apply")
def test_mongodb_without_mongod_is_skipped_with_how_to_install(local_platform, registry, fast_spec):
    for mode in ("statefulset", "kubeblocks"):
        with pytest.raises(CellSkipped) as e:
            local_platform.deploy("mongodb", mode, fast_spec)
        assert "mongod" in e.value.reason and "mongodb-org" in e.value.reason
    assert registry.started == []


@pytest.mark.skipif(find_binary("mongod") is None, reason="mongod is not installed (MongoDB's mongodb-org package)")
@pytest.mark.parametrize("mode", ["statefulset", "kubeblocks"])
def test_mongodb_deploys_and_takes_writes(local_platform, fast_spec, mode):
    import pymongo

    dep = local_platform.deploy("mongodb", mode, fast_spec)
    ep = local_platform.endpoint(dep)
    hosts = [f"{h}:{p}" for h, p in ep.addresses]
    with pymongo.MongoClient(hosts, replicaset=ep.replica_set, username=ep.user, password=ep.password,
                             w="majority") as c:
        c[ep.database]["t"].insert_one({"_id": 1})
        assert c[ep.database]["t"].find_one({"_id": 1}) == {"_id": 1}


def test_preflight_reports_servers_with_versions():
    checks = {c.name: c for c in preflight()}
    assert checks["redis-server"].ok and checks["redis-server"].version
    assert checks["mariadbd"].ok and checks["mariadbd"].version.startswith("10.")
    assert checks["mongod"].required is False
    if not checks["mongod"].ok:
        assert "mongodb-org" in checks["mongod"].fix


def test_parse_version():
    assert parse_version("mariadbd  Ver 10.11.19-MariaDB-0+deb12u1 for debian", r"Ver (\S+?)-MariaDB") == "10.11.19"
    assert parse_version("Redis server v=7.0.15 sha=0", r"v=(\S+)") == "7.0.15"
    assert parse_version("nothing", r"v=(\S+)") is None
