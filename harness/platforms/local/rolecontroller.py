"""A role controller that behaves like KubeBlocks' for MySQL semisync.

Probe every `role_probe_period_s` (1 s connect/query timeout); after
`role_probe_failure_threshold` failed probes of the primary, promote the most advanced replica
(GTID position), publish it in the primary file (KubeBlocks' role-selector Service), record the
change. A pod that is not the primary is fenced (read_only, client connections killed) and
rejoined as a replica of the primary (CHANGE MASTER ... MASTER_USE_GTID).
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pymysql

from harness.contracts import RoleChange
from harness.errors import DeployError, HarnessError
from harness.platforms.local import mariadb_admin
from harness.platforms.local.state import LocalHandle

if TYPE_CHECKING:
    from harness.platforms.local.pods import Pod

PROBE_TIMEOUT_S = 1.0
ADMIN_TIMEOUT_S = 5.0  # STOP SLAVE may wait for a thread to finish its connect attempt
REJOIN_BACKOFF_S = 2.0
CATCH_UP_S = 5.0


@dataclass(frozen=True)
class Status:
    """What one probe saw."""

    read_only: bool
    gtid: dict[int, int]  # domain -> seq of gtid_current_pos
    master_port: int | None
    io_running: str
    sql_running: str
    sql_errno: int = 0  # Last_SQL_Errno: 0 with the SQL thread stopped means someone stopped it on purpose


def parse_gtid(text: str) -> dict[int, int]:
    """Pure: '0-101-57,1-5-3' -> {0: 57, 1: 3}."""
    out: dict[int, int] = {}
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        domain, _, seq = part.split("-")
        out[int(domain)] = max(out.get(int(domain), 0), int(seq))
    return out


def most_advanced(candidates: dict[str, dict[int, int]]) -> str:
    """Pure: the candidate whose GTID position is furthest (ties: the lowest pod name)."""
    return max(sorted(candidates), key=lambda n: (sum(candidates[n].values()), -int(n.rsplit("-", 1)[-1])))


def caught_up(received: str, applied: str) -> bool:
    """Pure: every GTID the IO thread received has been applied by the SQL thread."""
    done = parse_gtid(applied)
    return all(done.get(d, 0) >= seq for d, seq in parse_gtid(received).items())


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


class RoleController:
    def __init__(self, handle: LocalHandle, primary_file: Path):
        self.handle = handle
        self.primary_file = primary_file
        self.primary: str | None = None
        self.failures = 0
        self._stop = threading.Event()
        self._lock = threading.RLock()
        self._conn_lock = threading.Lock()
        self._probe_conns: dict[str, tuple[int, pymysql.Connection]] = {}  # pod -> (its start count, connection)
        self._last_rejoin: dict[str, tuple[float, int]] = {}  # pod -> (when, its start count then)
        self._thread = threading.Thread(target=self._run, name=f"rolectl-{handle.id}", daemon=True)
        self._pool = ThreadPoolExecutor(max_workers=len(handle.pods) or 1, thread_name_prefix=f"probe-{handle.id}")

    # -- lifecycle ---------------------------------------------------------------------------
    def bootstrap(self, primary: str, deadline: float) -> None:
        """Initial roles: `primary` writable, the others replicating from it."""
        with self._lock:
            self.primary = primary
            for name in self.handle.pods:
                if name != primary:
                    self._rejoin(name)
            for name in self.handle.pods:
                if name != primary:
                    self._wait_replicating(name, deadline)
            self._make_primary(primary)
            self._publish(primary)
        self.handle.events.write(f"role-controller: bootstrap primary={primary}")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)
        self._pool.shutdown(wait=False, cancel_futures=True)
        for name in list(self._probe_conns):
            self._drop_probe_conn(name)

    def _run(self) -> None:
        while not self._stop.wait(self.handle.spec.role_probe_period_s):
            try:
                self.tick()
            except Exception as e:  # noqa: BLE001 - a controller keeps reconciling
                self.handle.events.write(f"role-controller: error {type(e).__name__}: {e}")

    # -- one reconcile round -----------------------------------------------------------------
    def tick(self) -> None:
        names = list(self.handle.pods)
        futures = {n: self._pool.submit(self.probe, n) for n in names}
        statuses = {n: f.result() for n, f in futures.items()}
        if self._stop.is_set():
            return
        with self._lock:
            primary = self.primary
            if primary is None:
                return
            primary_status = statuses[primary]
            if primary_status is None:
                self.failures += 1
                if self.failures >= self.handle.spec.role_probe_failure_threshold:
                    self._failover(statuses)
            else:
                self.failures = 0
                if primary_status.read_only:  # restarted in place before any failover
                    self._make_primary(primary)
                    self.handle.events.write(f"role-controller: {primary} back in place; writable again")
            for name, st in statuses.items():
                if name != self.primary and st is not None:
                    self._reconcile_replica(name, st)

    def probe(self, name: str) -> Status | None:
        """One probe over the pod's held connection (a fresh one when it broke or the pod restarted).

        Held like a long-running agent's: a probe that opened a connection each time was refused once
        the clients' pools filled KubeBlocks' max_connections (83 at 0.5Gi), and the controller then
        "failed over" away from a healthy primary. Whether syncer holds one is not public; a held
        connection keeps the emulation from inventing failovers."""
        pod = self.handle.pods[name]
        if not pod.alive():
            self._drop_probe_conn(name)
            return None
        try:  # a restarted pod is a new incarnation: `_probe_conn` connects afresh, not retries
            conn = self._probe_conn(name, pod)
            with conn.cursor(pymysql.cursors.DictCursor) as cur:
                cur.execute("SELECT @@read_only AS ro, @@gtid_current_pos AS pos")
                row = cur.fetchone()
                cur.execute("SHOW SLAVE STATUS")
                slave = cur.fetchone() or {}
        except (pymysql.Error, OSError):
            self._drop_probe_conn(name)  # the next probe connects again
            return None
        assert row is not None, "a SELECT of two variables returns one row"
        return Status(read_only=bool(row["ro"]), gtid=parse_gtid(row["pos"]),
                      master_port=int(slave["Master_Port"]) if slave.get("Master_Port") else None,
                      io_running=str(slave.get("Slave_IO_Running", "No")),
                      sql_running=str(slave.get("Slave_SQL_Running", "No")),
                      sql_errno=int(slave.get("Last_SQL_Errno") or 0))

    def _probe_conn(self, name: str, pod: Pod) -> pymysql.Connection:
        with self._conn_lock:
            held = self._probe_conns.get(name)
            if held is not None and held[0] == pod.starts:
                return held[1]
        conn = mariadb_admin.admin(self.handle, pod, PROBE_TIMEOUT_S)
        with self._conn_lock:
            old = self._probe_conns.get(name)
            self._probe_conns[name] = (pod.starts, conn)
        if old is not None:
            _close_quietly(old[1])
        return conn

    def _drop_probe_conn(self, name: str) -> None:
        with self._conn_lock:
            held = self._probe_conns.pop(name, None)
        if held is not None:
            _close_quietly(held[1])

    # -- actions -----------------------------------------------------------------------------
    def _failover(self, statuses: dict[str, Status | None]) -> None:
        old = self.primary
        candidates = {n: st.gtid for n, st in statuses.items() if n != old and st is not None}
        if not candidates:
            self.handle.events.write(f"role-controller: primary {old} down and no replica answers")
            return
        new = most_advanced(candidates)
        self.handle.events.write(f"role-controller: primary {old} failed {self.failures} probes; promoting {new}")
        try:
            self._promote(new)
        except (pymysql.Error, OSError) as e:
            self.handle.events.write(f"role-controller: promoting {new} failed: {e}")
            return
        self.primary = new
        self.failures = 0
        self._publish(new)
        self.handle.role_changes.append(RoleChange(at_wall=time.time(), new_primary=new,
                                                   source="role-controller promote"))
        self.handle.events.write(f"role-controller: promoted {new} (was {old})")

    def switchover(self, new: str, deadline: float) -> None:
        """A planned move (KubeBlocks' switchover action): fence the primary, wait until `new` has
        applied everything it wrote, promote `new`, repoint clients, rejoin the old one as a replica.
        If `new` does not catch up in time the old primary is made writable again and this raises."""
        with self._lock:
            old = self.primary
            if old is None or new == old or new not in self.handle.pods:
                raise HarnessError(f"switchover to {new!r}: the primary is {old!r}")
            old_pod, new_pod = self.handle.pods[old], self.handle.pods[new]
            self.fence(old)
            written = parse_gtid(mariadb_admin.query(self.handle, old_pod, "SELECT @@gtid_binlog_pos AS pos",
                                                     ADMIN_TIMEOUT_S)[0]["pos"])
            while True:
                applied = parse_gtid(mariadb_admin.query(self.handle, new_pod, "SELECT @@gtid_current_pos AS pos",
                                                         PROBE_TIMEOUT_S)[0]["pos"])
                if all(applied.get(d, 0) >= seq for d, seq in written.items()):
                    break
                if time.monotonic() > deadline:
                    self._make_primary(old)
                    raise HarnessError(f"switchover: {new} did not catch up with {old} in time; {old} stays primary")
                time.sleep(0.01)
            self._promote(new)
            self.primary = new
            self.failures = 0
            self._publish(new)
            self.handle.role_changes.append(RoleChange(at_wall=time.time(), new_primary=new,
                                                       source="role-controller switchover"))
            self.handle.events.write(f"role-controller: switchover {old} -> {new}")
            self._rejoin(old)

    def rejoin(self, name: str) -> None:
        """A new pod (scale-out) replicates from the primary at once, not at the next reconcile."""
        with self._lock:
            self._rejoin(name)

    def _promote(self, name: str) -> None:
        """Apply what was received (no acknowledged write left behind), then stop replicating."""
        pod = self.handle.pods[name]
        mariadb_admin.query(self.handle, pod, "STOP SLAVE IO_THREAD", ADMIN_TIMEOUT_S)
        deadline = time.monotonic() + CATCH_UP_S
        while time.monotonic() < deadline:
            rows = mariadb_admin.query(self.handle, pod, "SHOW SLAVE STATUS", PROBE_TIMEOUT_S)
            s = rows[0] if rows else {}
            applied = mariadb_admin.query(self.handle, pod, "SELECT @@gtid_slave_pos AS pos", PROBE_TIMEOUT_S)[0]["pos"]
            if not s or s.get("Slave_SQL_Running") != "Yes" or caught_up(str(s.get("Gtid_IO_Pos", "")), applied):
                break
            time.sleep(0.02)
        for sql in ("STOP SLAVE", "RESET SLAVE ALL"):
            mariadb_admin.query(self.handle, pod, sql, ADMIN_TIMEOUT_S)
        self._make_primary(name)

    def _make_primary(self, name: str) -> None:
        """Semi-sync source on, then writable."""
        self._sql(name, "SET GLOBAL rpl_semi_sync_master_enabled=ON")
        self._sql(name, "SET GLOBAL read_only=OFF")

    def _publish(self, name: str) -> None:
        pod = self.handle.pods[name]
        write_atomic(self.primary_file, f"{pod.host}:{pod.port}\n")

    def fence(self, name: str) -> None:
        """read_only (clients lack READ_ONLY ADMIN) and their connections killed."""
        pod = self.handle.pods[name]
        conn = mariadb_admin.admin(self.handle, pod, PROBE_TIMEOUT_S)
        try:
            with conn.cursor() as cur:
                cur.execute("SET GLOBAL read_only=ON")
                cur.execute("SELECT ID FROM information_schema.PROCESSLIST "
                            "WHERE USER='root' AND HOST LIKE '127.0.0.1:%' AND ID <> CONNECTION_ID()")
                for (cid,) in cur.fetchall():
                    try:
                        cur.execute(f"KILL CONNECTION {int(cid)}")
                    except pymysql.Error:
                        pass  # already gone
        finally:
            conn.close()
        self.handle.events.write(f"role-controller: fenced {name} (read_only, client connections killed)")

    def fence_if_stale(self, name: str) -> None:
        """Called right after a SIGCONT: an old primary must stop taking writes at once."""
        with self._lock:
            if name == self.primary:
                return
            deadline = time.monotonic() + 3.0
            while time.monotonic() < deadline:
                try:
                    self.fence(name)
                    return
                except (pymysql.Error, OSError):
                    time.sleep(0.02)

    def _reconcile_replica(self, name: str, st: Status) -> None:
        primary_port = self.handle.pods[self.primary].port  # type: ignore[index]
        if not st.read_only:
            try:
                self.fence(name)
            except (pymysql.Error, OSError) as e:
                self.handle.events.write(f"role-controller: fencing {name} failed: {e}")
                return
        # an applier stopped without an error was stopped on purpose (mariadb-backup --safe-slave-backup,
        # as KubeBlocks' xtrabackup method runs it on the secondary): not a broken replica to rejoin
        applying = st.sql_running == "Yes" or (st.sql_running == "No" and st.sql_errno == 0)
        healthy = st.master_port == primary_port and st.io_running in ("Yes", "Connecting", "Preparing") and applying
        if healthy:
            return
        # the backoff paces retries against one server process; a pod that (re)started since configures
        # replication at once, as a KubeBlocks pod's startup does
        when, starts = self._last_rejoin.get(name, (0.0, -1))
        if starts == self.handle.pods[name].starts and time.monotonic() - when < REJOIN_BACKOFF_S:
            return
        self._rejoin(name)

    def _rejoin(self, name: str) -> None:
        self._last_rejoin[name] = (time.monotonic(), self.handle.pods[name].starts)
        primary = self.handle.pods[self.primary]  # type: ignore[index]
        pod = self.handle.pods[name]
        try:
            conn = mariadb_admin.admin(self.handle, pod, PROBE_TIMEOUT_S)
            try:
                with conn.cursor() as cur:
                    cur.execute("SET GLOBAL read_only=ON")
                    cur.execute("SET GLOBAL rpl_semi_sync_master_enabled=OFF")
                    cur.execute("STOP SLAVE")
                    cur.execute("SET GLOBAL gtid_slave_pos=@@gtid_binlog_pos")
                    cur.execute(
                        "CHANGE MASTER TO MASTER_HOST=%s, MASTER_PORT=%s, MASTER_USER='repl', MASTER_PASSWORD=%s, "
                        "MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1",
                        (primary.host, primary.port, self.handle.secrets["repl"]),
                    )
                    cur.execute("START SLAVE")
            finally:
                conn.close()
        except (pymysql.Error, OSError) as e:
            self.handle.events.write(f"role-controller: rejoining {name} to {primary.name} failed: {e}")
            return
        self.handle.events.write(f"role-controller: {name} rejoined as replica of {primary.name}")

    def _wait_replicating(self, name: str, deadline: float) -> None:
        pod = self.handle.pods[name]
        last = ""
        while time.monotonic() < deadline:
            st = self.probe(name)
            if st and st.io_running == "Yes" and st.sql_running == "Yes":
                return
            try:
                rows = mariadb_admin.query(self.handle, pod, "SHOW SLAVE STATUS")
                last = str((rows[0] if rows else {}).get("Last_IO_Error", ""))
            except (pymysql.Error, OSError) as e:
                last = str(e)
            time.sleep(0.05)
        raise DeployError(f"{name} did not start replicating: {last}")

    def _sql(self, name: str, sql: str) -> None:
        mariadb_admin.query(self.handle, self.handle.pods[name], sql, PROBE_TIMEOUT_S)


def _close_quietly(conn: pymysql.Connection) -> None:
    try:
        conn.close()
    except (pymysql.Error, OSError):
        pass
