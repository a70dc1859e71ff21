"""Issue 7, rules 4 and 5, on one real `harness run` (mysql + redis, both modes, real load workers):

- exposure: while each cell's load runs, every TCP socket listening in a process the run started
  (found by inode: /proc/<pid>/fd -> /proc/net/tcp{,6}) is on 127.0.0.1, and an unauthenticated
  client is refused by every server (MariaDB root / anonymous without password, over TCP and the
  unix socket; Redis and Sentinel without AUTH);
- secrets: the passwords the run used (read from the servers' 0600 config files under the work
  directory while they run) are fresh per deployment and appear nowhere in the terminal output or
  anywhere in the run directory (run.log, results.json, report.md/html, logs, histories, notebook).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pymysql
import pytest
import redis
from _robustness import HarnessRun, settings_yaml

from harness.procs import is_alive

pytestmark = pytest.mark.server  # every test here reads a real run or a real deploy

LISTEN = "0A"


def listening_sockets() -> dict[int, tuple[str, int]]:
    """inode -> (address, port) of every TCP socket in LISTEN state (IPv4 and IPv6)."""
    out: dict[int, tuple[str, int]] = {}
    for table, v6 in (("/proc/net/tcp", False), ("/proc/net/tcp6", True)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            local, state, inode = f[1], f[3], int(f[9])
            if state != LISTEN:
                continue
            addr_hex, port_hex = local.split(":")
            raw = bytes.fromhex(addr_hex)
            if v6:
                words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
                import ipaddress

                addr = str(ipaddress.IPv6Address(words))
            else:
                addr = ".".join(str(b) for b in raw[::-1])
            out[inode] = (addr, int(port_hex, 16))
    return out


def socket_inodes(pid: int) -> set[int]:
    found = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            m = re.fullmatch(r"socket:\[(\d+)\]", target)
            if m:
                found.add(int(m.group(1)))
    except OSError:
        pass
    return found


def refused_mysql(**kw) -> str:
    try:
        pymysql.connect(connect_timeout=3, **kw).close()
    except pymysql.err.OperationalError as e:
        assert e.args[0] == 1045, f"expected access denied, got {e.args}"
        return "1045 access denied"
    raise AssertionError(f"MariaDB accepted an unauthenticated client {kw}")


def refused_redis(port: int) -> str:
    try:
        redis.Redis(host="127.0.0.1", port=port, socket_timeout=3).ping()
    except redis.AuthenticationError as e:
        return f"NOAUTH ({e})"
    except redis.ResponseError as e:
        assert "NOAUTH" in str(e) or "Authentication" in str(e), str(e)
        return str(e)
    raise AssertionError(f"port {port} answered PING without AUTH")


PASSWORD_RES = [re.compile(r"^requirepass (\S+)$", re.M), re.compile(r"^masterauth (\S+)$", re.M),
                re.compile(r"^sentinel (?:auth-pass \S+|sentinel-pass) (\S+)$", re.M),
                re.compile(r"PASSWORD\('([^']+)'\)"), re.compile(r"IDENTIFIED BY '([^']+)'")]


def harvest_passwords(work: Path) -> dict[str, set[str]]:
    """deployment id -> passwords in its config / init files (what the servers were given)."""
    out: dict[str, set[str]] = {}
    for f in list(work.glob("harness-*/*/conf/*")):
        try:
            text = f.read_text()
        except OSError:
            continue
        for rx in PASSWORD_RES:
            for m in rx.finditer(text):
                out.setdefault(f.parent.parent.name, set()).add(m.group(1))
    return out


@pytest.fixture(scope="module")
def observed(tmp_path_factory):
    """Runs the harness once; records sockets, auth answers and passwords while each cell loads."""
    tmp = tmp_path_factory.mktemp("exposure")
    work = Path(tempfile.mkdtemp(prefix="hE-", dir="/tmp"))
    settings = settings_yaml(tmp / "s.yaml", {"*": {"warmup_s": 0.5, "before_fault_s": 8, "observe_s": 0.5}})
    run = HarnessRun(tmp, ["steady", "--platform", "local", "--engines", "mysql,redis",
                           "--modes", "kubeblocks,statefulset", "--settings", str(settings)], work_root=work).start()
    obs: dict = {"sockets": [], "auth": [], "passwords": {}, "cells": 0}
    try:
        def next_loading_cell():
            """A cell whose load worker runs now (its config exists from load start until it stops)."""
            if "load-w0" not in run.live_names():
                return None
            fresh = [c for c in (run.run_dir() / "cells").glob("*/history/.load-w0.json")
                     if c.parent.parent.name not in obs.setdefault("seen_cells", set())
                     and not (c.parent / "load-summary-w0.json").exists()]  # written when the load ends
            return fresh[0].parent.parent if fresh else None

        while run.running() and obs["cells"] < 4:
            try:
                cell_dir = run.wait_phase(next_loading_cell, 180, f"cell {obs['cells'] + 1}'s load running")
            except AssertionError:
                if run.running():
                    raise
                break
            snapshot = {k: list(v) if isinstance(v, list) else v for k, v in obs.items() if k != "passwords"}
            observe_cell(run, cell_dir, work, obs)
            if (cell_dir / "history" / "load-summary-w0.json").exists():  # the load ended meanwhile: not valid
                obs.update(snapshot)
                obs["late"] = obs.get("late", 0) + 1
            else:
                obs.setdefault("valid", set()).add(cell_dir.name)
            obs["cells"] += 1
        code = run.proc.wait(timeout=180)  # type: ignore[union-attr]
        run.finish()
        obs["exit"] = code
        obs["run_dir"] = run.run_dir()
        obs["output"] = run.output()
        nb = subprocess.run([sys.executable, "-m", "harness.notebook", str(run.run_dir())], capture_output=True,
                            text=True, timeout=300, cwd=Path(__file__).resolve().parent.parent)
        obs["notebook"] = (nb.returncode, (nb.stdout + nb.stderr)[-500:])
        obs["output"] += nb.stdout + nb.stderr
        yield obs
    finally:
        run.finish()
        run.kill_everything_seen()
        left = [s for s in run.seen.values() if is_alive(s.pid, s.start_ticks)]
        if left:
            import time

            time.sleep(1)  # SIGKILL sent just now; only a safety net for a failed run
            left = [s for s in run.seen.values() if is_alive(s.pid, s.start_ticks)]
        shutil.rmtree(work, ignore_errors=True)
        assert not left, left


def observe_cell(run: HarnessRun, cell_dir: Path, work: Path, obs: dict) -> None:
    listening = listening_sockets()
    obs.setdefault("seen_cells", set()).add(cell_dir.name)
    procs = [p for p in run.state()["processes"] if is_alive(p["pid"], p.get("start_ticks"))]
    for p in procs:
        socks = [listening[i] for i in socket_inodes(p["pid"]) if i in listening]
        obs["sockets"].append((cell_dir.name, p["name"], p["pid"], socks))
        for _addr, port in socks:
            attempts = []
            if p["name"].endswith("-exporter"):
                pass  # an exporter's HTTP /metrics (loopback only, checked below)
            elif p["name"].startswith("mysql-"):
                attempts = [("root, no password", lambda port=port: refused_mysql(host="127.0.0.1", port=port,
                                                                                   user="root")),
                            ("anonymous", lambda port=port: refused_mysql(host="127.0.0.1", port=port, user=""))]
            elif p["name"].startswith("redis-"):
                attempts = [("no AUTH", lambda port=port: refused_redis(port))]
            for what, attempt in attempts:
                try:
                    obs["auth"].append((p["name"], port, what, attempt()))
                except (redis.ConnectionError, pymysql.err.OperationalError):
                    if is_alive(p["pid"], p.get("start_ticks")):
                        raise
                    obs["gone"] = obs.get("gone", 0) + 1  # torn down between the scan and the attempt
    live_mysql = {p["name"] for p in procs if p["name"].startswith("mysql-")}
    dep = cell_dir.name.removeprefix("steady-")  # e.g. mysql-kubeblocks
    for sock in work.glob(f"harness-*/{dep}-*/run/*.sock"):
        if sock.stem in live_mysql:
            obs["auth"].append((sock.name, 0, "root over the unix socket, no password",
                                refused_mysql(unix_socket=str(sock), user="root")))
    for dep_id, pws in harvest_passwords(work).items():
        obs["passwords"].setdefault(dep_id, set()).update(pws)


def test_every_listening_socket_is_loopback_and_every_server_listens(observed):
    seen = observed.get("valid", set())
    print(f"cells observed during their load: {sorted(seen)}; observations discarded (load ended): "
          f"{observed.get('late', 0)}")
    assert len(seen) >= 2, seen  # every server kind is also checked deterministically below
    servers = [s for s in observed["sockets"] if not s[1].startswith("load-")]
    for cell, name, pid, socks in observed["sockets"]:
        for addr, port in socks:
            assert addr == "127.0.0.1", f"{cell}: {name} (pid {pid}) listens on {addr}:{port}"
    for cell, name, pid, socks in servers:
        assert socks, f"{cell}: server {name} (pid {pid}) has no listening TCP socket"
    names = {s[1] for s in servers}
    assert "prometheus" in names and any(n.endswith("-0-exporter") for n in names), sorted(names)
    load = [s for s in observed["sockets"] if s[1].startswith("load-")]
    assert load, "load workers were checked too"
    print(f"{len(observed['sockets'])} process observations; listening: "
          + "; ".join(f"{n}={a}:{p}" for _, n, _, ss in observed["sockets"] for a, p in ss))


def test_unauthenticated_clients_are_refused(observed):
    assert observed["auth"], "some server was probed during a load"
    print(f"{len(observed['auth'])} unauthenticated attempts, all refused, e.g. "
          + "; ".join(f"{a[0]} {a[2]}: {a[3]}" for a in observed["auth"][:4]))


def test_fresh_passwords_appear_nowhere(observed):
    assert observed["exit"] == 0, observed["output"][-3000:]
    pws = observed["passwords"]
    assert len(pws) == 4, f"passwords harvested for every deployment: {sorted(pws)}"
    everything = [pw for s in pws.values() for pw in s]
    assert len(everything) == len(set(everything)), "a password was reused across deployments"
    assert all(len(pw) >= 20 for pw in everything)
    assert not any(pw in observed["output"] for pw in everything), "a password in the terminal output"
    run_dir: Path = observed["run_dir"]
    scanned = 0
    for f in run_dir.rglob("*"):
        if f.is_file() and not f.is_symlink():
            data = f.read_bytes()
            if f.suffix == ".gz":  # the server view's series files
                import gzip

                data = gzip.decompress(data)
            scanned += 1
            hit = [pw for pw in everything if pw.encode() in data]
            assert not hit, f"a password in {f.relative_to(run_dir)}"
    for name in ("run.log", "results.json", "report.md", "report.html"):
        assert (run_dir / name).exists(), name
    print(f"{len(everything)} passwords from {len(pws)} deployments; {scanned} files scanned, none found; "
          f"notebook: {observed['notebook']}")


@pytest.mark.parametrize("engine", ["mysql", "redis"])
def test_deployed_servers_listen_on_loopback_only_with_auth(local_platform, registry, fast_spec, tmp_path, engine):
    """Deterministic twin of the run-level check: kubeblocks mode (the most processes), every pod."""
    local_platform.deploy(engine, "kubeblocks", fast_spec)
    listening = listening_sockets()
    checked = []
    for r in registry.records():
        socks = [listening[i] for i in socket_inodes(r.pid) if i in listening]
        assert socks, f"{r.name} (pid {r.pid}) has no listening TCP socket"
        for addr, port in socks:
            assert addr == "127.0.0.1", f"{r.name} listens on {addr}:{port}"
            if engine == "mysql":
                checked.append((r.name, refused_mysql(host="127.0.0.1", port=port, user="root")))
                checked.append((r.name, refused_mysql(host="127.0.0.1", port=port, user="")))
            else:
                checked.append((r.name, refused_redis(port)))
    if engine == "mysql":
        socks = list((tmp_path / "work").glob("*/run/*.sock"))
        assert len(socks) == 2
        checked += [(s.name, refused_mysql(unix_socket=str(s), user="root")) for s in socks]
    names = {n for n, _ in checked}
    expected = {"mysql-0", "mysql-1"} if engine == "mysql" else {"redis-0", "redis-1", "redis-sentinel-0",
                                                                   "redis-sentinel-1", "redis-sentinel-2"}
    assert expected <= names, names
    print(f"{engine}: {len(checked)} unauthenticated attempts refused: {checked}")
