"""MariaDB's part of the local day-2 operations (a `LocalDay2`).

Backups are what each mode would really run: kubeblocks' `xtrabackup` method streams a physical
backup of the secondary (`--safe-slave-backup --slave-info`); MariaDB's equivalent is
`mariadb-backup` (Debian package mariadb-backup). A StatefulSet's SRE dumps the only pod by hand
with `mariadb-dump --single-transaction`. Credentials reach the tools through a 0600 defaults file.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
import time
from pathlib import Path

import pymysql

from harness.contracts import BackupArtifact, ReplicaState
from harness.errors import HarnessError
from harness.platforms.local.day2 import dir_size, wait_for
from harness.platforms.local.mariadb_admin import query, socket_path
from harness.platforms.local.mariadb_pod import DATABASE, argv_builder
from harness.platforms.local.pods import Pod, binary, server_errors
from harness.platforms.local.rolecontroller import RoleController, caught_up, parse_gtid
from harness.platforms.local.state import LocalHandle, new_pod, write_secret_file

TOOL_TIMEOUT_S = 300.0
DUMP_FILE = "dump.sql"


def min_ready_s(handle: LocalHandle) -> float:
    return 0.0  # the mysql CmpD sets no minReadySeconds


def _controller(handle: LocalHandle) -> RoleController:
    if handle.controller is None:
        raise HarnessError(f"{handle.id}: no role controller (a statefulset has no replication)")
    return handle.controller


def switchover(handle: LocalHandle, primary: Pod, candidate: Pod, deadline: float) -> None:
    ctl = _controller(handle)
    if ctl.primary != primary.name:
        raise HarnessError(f"switchover: {primary.name} is not the primary ({ctl.primary} is)")
    ctl.switchover(candidate.name, deadline)


def _slave_status(handle: LocalHandle, pod: Pod) -> dict:
    rows = query(handle, pod, "SHOW SLAVE STATUS", 1.0)
    return rows[0] if rows else {}


def serving(handle: LocalHandle, pod: Pod) -> bool:
    """The primary writable; a replica's threads running against the primary, with nothing unapplied."""
    if handle.controller is None or handle.controller.primary == pod.name:
        return not query(handle, pod, "SELECT @@read_only AS ro", 1.0)[0]["ro"]
    primary = handle.pods[handle.controller.primary or ""]
    s = _slave_status(handle, pod)
    if not s or s.get("Slave_IO_Running") != "Yes" or s.get("Slave_SQL_Running") != "Yes":
        return False
    applied = query(handle, pod, "SELECT @@gtid_slave_pos AS pos", 1.0)[0]["pos"]
    return int(s.get("Master_Port") or 0) == primary.port and s.get("Seconds_Behind_Master") == 0 \
        and caught_up(str(s.get("Gtid_IO_Pos", "")), applied)


def add_replica(handle: LocalHandle, name: str, zone: str) -> Pod:
    if handle.seed_dir is None:
        raise HarnessError(f"{handle.id}: no data directory template for a new pod")
    index = len(handle.data_pods())
    pod = new_pod(handle, name, zone, argv_builder(handle, handle.seed_dir, index))
    pod.start(handle.registry)
    wait_for(f"{name} accepting connections", lambda: bool(query(handle, pod, "SELECT 1")),
             time.monotonic() + handle.spec.ready_timeout_s)
    _controller(handle).rejoin(name)
    return pod


def _client_cnf(handle: LocalHandle, pod: Pod, dest: Path) -> Path:
    return write_secret_file(dest.parent / f".{dest.name}.cnf",
                             f"[client]\nuser=root\npassword={handle.secrets['root']}\nsocket={socket_path(handle, pod)}\n")


def _run(argv: list[str], log: Path, what: str, stdout: Path | None = None, stdin: Path | None = None) -> None:
    """A client tool, its stderr (and stdout unless `stdout`) appended to `log`; a failure names its errors."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as files:
        err = files.enter_context(open(log, "ab"))
        out = files.enter_context(open(stdout, "wb")) if stdout else err
        inp = files.enter_context(open(stdin, "rb")) if stdin else None
        try:
            code = subprocess.run(argv, stdin=inp, stdout=out, stderr=err, timeout=TOOL_TIMEOUT_S).returncode
        except (OSError, subprocess.SubprocessError) as e:
            raise HarnessError(f"{what} failed: {e}") from e
    if code != 0:
        raise HarnessError(f"{what} failed (exit {code}): {server_errors(log)}")


def backup(handle: LocalHandle, pod: Pod, dest: Path) -> BackupArtifact:
    cnf = _client_cnf(handle, pod, dest)
    log = handle.log_dir / f"backup-{pod.name}.log"
    if handle.mode == "kubeblocks":
        target = dest / "data"
        _run([binary("mariadb-backup", "mariadb-backup"), f"--defaults-extra-file={cnf}", "--backup",
              f"--target-dir={target}", "--safe-slave-backup", "--slave-info"], log, f"mariadb-backup of {pod.name}")
        point = backup_position(target)
        return BackupArtifact(method="mariadb-backup", source_pod=pod.name, location=str(target),
                              size_bytes=dir_size(target), consistent_point=point)
    out = dest / DUMP_FILE
    _run([binary("mariadb-dump", "mariadb-client"), f"--defaults-extra-file={cnf}", "--single-transaction",
          "--databases", DATABASE], log, f"mariadb-dump of {pod.name}", stdout=out)
    return BackupArtifact(method="mariadb-dump", source_pod=pod.name, location=str(out), size_bytes=out.stat().st_size)


GTID_RE = re.compile(r"(\d+-\d+-\d+(?:,\d+-\d+-\d+)*)")


def backup_position(target: Path) -> str | None:
    """The GTID the backup holds: the replica's applied position (`--slave-info`), else the binlog's."""
    for name, what in (("mariadb_backup_slave_info", "slave"), ("xtrabackup_slave_info", "slave"),
                       ("mariadb_backup_binlog_info", "binlog"), ("xtrabackup_binlog_info", "binlog")):
        f = target / name
        if f.exists():
            m = GTID_RE.search(f.read_text())
            if m:
                return f"gtid {m.group(1)} ({what} position)"
    return None


def restore_source(handle: LocalHandle, template: Path) -> Path:
    """The data directory the restored pods start from: a prepared copy of a physical backup (KubeBlocks
    restores every pod's volume from it), else the plain template (a dump is loaded after start)."""
    art = handle.restore_from
    if art is None or art.method != "mariadb-backup":
        return template
    prepared = handle.work_dir / "restore-data"
    shutil.rmtree(prepared, ignore_errors=True)
    shutil.copytree(art.location, prepared)
    _run([binary("mariadb-backup", "mariadb-backup"), "--prepare", f"--target-dir={prepared}"],
         handle.log_dir / "restore-prepare.log", "mariadb-backup --prepare")
    return prepared


def load_dump(handle: LocalHandle, pod: Pod) -> None:
    """After a restored statefulset starts: the SRE's `mariadb < dump.sql`."""
    art = handle.restore_from
    if art is None or art.method != "mariadb-dump":
        return
    cnf = _client_cnf(handle, pod, handle.work_dir / "restore")
    _run([binary("mariadb", "mariadb-client"), f"--defaults-extra-file={cnf}"], handle.log_dir / "restore-load.log",
         "loading the dump", stdin=Path(art.location))


def replication_state(handle: LocalHandle) -> list[ReplicaState]:
    out: list[ReplicaState] = []
    primary = (handle.controller.primary if handle.controller else None) or handle.data_pods()[0].name
    written: dict[int, int] = {}
    if primary in handle.pods:
        try:
            written = parse_gtid(query(handle, handle.pods[primary], "SELECT @@gtid_binlog_pos AS pos")[0]["pos"])
        except (pymysql.Error, OSError):
            pass
    for pod in handle.data_pods():
        try:
            ro = bool(query(handle, pod, "SELECT @@read_only AS ro")[0]["ro"])
            if pod.name == primary:
                out.append(ReplicaState(pod.name, "primary" if not ro else "secondary", not ro,
                                        "writable" if not ro else "read_only: not taking writes"))
                continue
            s = _slave_status(handle, pod)
            applied = parse_gtid(query(handle, pod, "SELECT @@gtid_current_pos AS pos")[0]["pos"])
        except (pymysql.Error, OSError) as e:
            out.append(ReplicaState(pod.name, None, False, f"unreachable: {e}"))
            continue
        behind = {d: seq - applied.get(d, 0) for d, seq in written.items() if applied.get(d, 0) < seq}
        master = handle.pods.get(primary)
        ok = (s.get("Slave_IO_Running") == "Yes" and s.get("Slave_SQL_Running") == "Yes"
              and master is not None and int(s.get("Master_Port") or 0) == master.port and not behind and ro)
        detail = (f"replicating from {primary}, caught up" if ok else
                  f"io={s.get('Slave_IO_Running', 'No')} sql={s.get('Slave_SQL_Running', 'No')} "
                  f"master_port={s.get('Master_Port')} behind={sum(behind.values())} transactions read_only={ro} "
                  f"{s.get('Last_IO_Error') or s.get('Last_SQL_Error') or ''}".strip())
        out.append(ReplicaState(pod.name, "secondary" if ro else "primary", ok, detail))
    return out
