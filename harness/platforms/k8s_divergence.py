"""Replica divergence on kind/k8s (`DivergenceCheck`): the driver of harness/platforms/replica_compare.py
over `kubectl exec` of each engine's own client in its pods, a part of `KubernetesPlatform`.

Per engine (the DIVERGENCE table): how a pod's replication position reads, when a replica has caught
up (pure, k8s_divergence_parse.py), and one comparison of a replica with the primary:
- mysql: `gtid_executed` of the replica holds the primary's; then CHECKSUM TABLE of every workload
  table (information_schema, system schemas skipped) through the pod's mysql client, SQL on stdin;
- redis: the replica linked and at the primary's `master_repl_offset`; then DBSIZE, `--scan` and the
  content digests of a deterministic key sample by EVAL_RO, through redis-cli;
- mongodb: each member's lastWrite optime; then `dbHash` of every database but admin/local/config via
  mongosh. Not run anywhere yet: no mongod or mongosh exists on the machine this was built on.
The password is the first stdin line of every exec (k8s_day2.READ_PW), never in an argv here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from harness.contracts import Deployment, PodInfo, ReplicaDivergence
from harness.errors import DeployError, HarnessError
from harness.platforms.k8s_day2 import MYSQL, READ_PW, REDIS, STATUS_SCRIPTS
from harness.platforms.k8s_divergence_parse import (
    MYSQL_POSITION_SQL,
    mongodb_hashes,
    mongodb_lag,
    mysql_checksums,
    mysql_counts,
    mysql_counts_sql,
    mysql_lag,
    mysql_tables,
    redis_digest_commands,
    redis_digests,
    redis_keys,
    redis_lag,
)
from harness.platforms.replica_compare import (
    CATCH_UP_S,
    KEY_COUNT,
    SAMPLE_KEYS,
    TABLES_SQL,
    Comparison,
    check_replicas,
    checksum_sql,
    differing,
    no_primary,
    sample,
)
from harness.targeting import data_pods

if TYPE_CHECKING:
    from harness.platforms.k8s_day2 import KubernetesDay2

POLL_S = 1.0  # catch-up polls: each is one exec per pod
POSITION_TIMEOUT_S = 30.0  # one position read; a pod that does not answer by then is behind for this poll
SCAN_TIMEOUT_S = 300.0  # a full CHECKSUM TABLE / key scan / dbHash of what a cell wrote

# The scripts: the password is the first stdin line; what follows it is the client's input.
# No `exec` before the clients: `exec VAR=x cmd` runs a command named "VAR=x" in sh (and prints it).
MYSQL_SQL = READ_PW + f"{MYSQL} -N -B"  # the SQL follows the password
MYSQL_SQL_FORCE = MYSQL_SQL + " --force"  # row counts: a table one pod lacks must not stop the others
REDIS_KEYS = READ_PW + f"{REDIS} DBSIZE && {REDIS} --scan"
REDIS_COMMANDS = READ_PW + REDIS  # redis-cli runs the command lines that follow the password
MONGOSH = ('mongosh --quiet --host 127.0.0.1 --port 27017 -u root -p "$PW" --authenticationDatabase admin '
           '--eval ')
MONGODB_POSITION = READ_PW + MONGOSH + (
    "'const w = db.hello().lastWrite; const ts = w ? w.opTime.ts : null; "
    "print(JSON.stringify(ts ? {t: ts.getHighBits ? ts.getHighBits() : ts.t, "
    "i: ts.getLowBits ? ts.getLowBits() : ts.i} : {}))'")
MONGODB_HASHES = READ_PW + MONGOSH + (
    "'db.getMongo().setReadPref(\"nearest\"); const out = {}; "
    "for (const d of db.adminCommand({listDatabases: 1, nameOnly: true}).databases) { "
    "if ([\"admin\", \"local\", \"config\"].includes(d.name)) continue; "
    "const h = db.getSiblingDB(d.name).runCommand({dbHash: 1}); "
    "for (const [c, v] of Object.entries(h.collections || {})) out[d.name + \".\" + c] = v; } "
    "print(JSON.stringify(out))'")
SCRIPTS = (MYSQL_SQL, MYSQL_SQL_FORCE, REDIS_KEYS, REDIS_COMMANDS, MONGODB_POSITION, MONGODB_HASHES)



class Exec(Protocol):
    def __call__(self, pod: str, script: str, stdin: str, check_rc: bool = True,
                 timeout_s: float = SCAN_TIMEOUT_S) -> str:
        """The script's stdout in `pod`; `stdin` follows the password. A failed exec raises HarnessError
        unless `check_rc` is off (then its output is whatever it printed)."""
        ...


@dataclass(frozen=True)
class RemoteCheck:
    """One engine's divergence check over `kubectl exec`."""

    method: str
    position: Callable[[Exec, str], str]  # a pod's raw replication position (a failed exec: what it printed)
    lag: Callable[[str, str, PodInfo], str | None]  # (primary's position, replica's, the primary): None = caught up
    compare: Callable[[Exec, PodInfo, PodInfo, Collection[str] | None], Comparison]


PRIMARY_POLL_S = 2.0


def divergence(k8s: KubernetesDay2, dep: Deployment, catch_up_s: float = CATCH_UP_S) -> list[ReplicaDivergence]:
    check = DIVERGENCE[dep.engine]
    if k8s._is_plan():
        k8s.runner.note(f"after the cell: every {dep.engine} replica compared with the primary by {check.method}, "
                        "once it has caught up (a one-pod deployment: nothing to compare)")
        return []
    pods = data_pods(k8s.pods(dep))
    if len(pods) < 2:
        return []
    deadline = time.monotonic() + catch_up_s  # a healed partition may show two primaries for a while
    while True:
        roles = {s.pod: s.role for s in k8s.replication_state(dep)}
        primaries = [p for p in pods if roles.get(p.name) == "primary"]
        if len(primaries) == 1 or time.monotonic() >= deadline:
            break
        time.sleep(PRIMARY_POLL_S)
    if len(primaries) != 1:
        return no_primary([p.name for p in pods], check.method,
                          f"{len(primaries)} pods report primary by {dep.engine}'s own status: nothing to compare with")
    primary = primaries[0]
    replicas = {p.name: p for p in pods if p.name != primary.name}
    password = k8s._password(dep)

    def run(pod: str, script: str, stdin: str, check_rc: bool = True, timeout_s: float = SCAN_TIMEOUT_S) -> str:
        try:
            r = k8s._exec(dep.handle, pod, dep.engine, script, password, check=False, extra_stdin=stdin,
                          timeout_s=timeout_s, label="the password, then the client's input" if stdin else "the password")
        except DeployError as e:  # kubectl did not finish in time
            if check_rc:
                raise HarnessError(str(e)) from e
            return ""
        if check_rc and r.returncode != 0:
            raise HarnessError(f"kubectl exec in {pod} failed (exit {r.returncode})")
        return r.stdout

    def position(pod: str) -> str:
        return check.position(run, pod)

    def lag(replica: str) -> str | None:
        return check.lag(position(primary.name), position(replica), primary)

    return check_replicas(primary.name, sorted(replicas), check.method, lag=lag,
                          compare=lambda r, only: check.compare(run, primary, replicas[r], only),
                          wait=lambda what, ready, timeout: k8s.runner.wait(what, ready, timeout, POLL_S),
                          catch_up_s=catch_up_s, clock=k8s.clock)


# -- mysql ---------------------------------------------------------------------------------------
def _mysql_position(run: Exec, pod: str) -> str:
    return run(pod, MYSQL_SQL, MYSQL_POSITION_SQL, check_rc=False, timeout_s=POSITION_TIMEOUT_S)


def _mysql_compare(run: Exec, primary: PodInfo, replica: PodInfo, only: Collection[str] | None) -> Comparison:
    pods = (primary.name, replica.name)
    tables = set(only) if only is not None else set().union(*(mysql_tables(run(p, MYSQL_SQL, TABLES_SQL + ";\n"))
                                                              for p in pods))
    if not tables:
        return Comparison(0, (), "no workload tables on either pod")
    sums = [mysql_checksums(run(p, MYSQL_SQL, checksum_sql(sorted(tables)) + ";\n"), tables) for p in pods]
    found = differing(sums[0], sums[1], tables)
    notes = []
    if found:
        counts = [mysql_counts(run(p, MYSQL_SQL_FORCE, mysql_counts_sql(found), check_rc=False)) for p in pods]
        notes = [f"{t}: " + ", ".join(f"{c[t]} rows on {p}" if t in c else f"no such table on {p}"
                                      for p, c in zip(pods, counts, strict=True)) for t in found]
    schemas = ", ".join(sorted({t.split(".", 1)[0] for t in tables}))
    return Comparison(len(tables), found, f"{len(tables)} tables ({schemas})"
                      + (f"; {'; '.join(notes)}" if notes else ", every checksum equal"))


# -- redis ---------------------------------------------------------------------------------------
def _redis_position(run: Exec, pod: str) -> str:
    return run(pod, STATUS_SCRIPTS["redis"], "", check_rc=False, timeout_s=POSITION_TIMEOUT_S)


def _redis_compare(run: Exec, primary: PodInfo, replica: PodInfo, only: Collection[str] | None) -> Comparison:
    pods = (primary.name, replica.name)
    listed = [redis_keys(run(p, REDIS_KEYS, "")) for p in pods]
    sizes = [size for size, _ in listed]
    if None in sizes:
        raise HarnessError(f"DBSIZE gave no answer on {pods[sizes.index(None)]}")
    keys = sorted(set(only) - {KEY_COUNT}) if only is not None else \
        sorted(set(sample(listed[0][1])) | set(sample(listed[1][1])))
    digests = [redis_digests(keys, run(p, REDIS_COMMANDS, redis_digest_commands(keys))) if keys else {} for p in pods]
    found = differing(digests[0], digests[1], keys)
    counted = (KEY_COUNT,) if sizes[0] != sizes[1] else ()
    return Comparison(len(keys), counted + found,
                      f"DBSIZE {sizes[0]} on {pods[0]}, {sizes[1]} on {pods[1]}; {len(keys)} keys sampled"
                      + (f", {len(found)} differ" if found else ", every digest equal"))


# -- mongodb -------------------------------------------------------------------------------------
def _mongodb_position(run: Exec, pod: str) -> str:
    return run(pod, MONGODB_POSITION, "", check_rc=False, timeout_s=POSITION_TIMEOUT_S)


def _mongodb_compare(run: Exec, primary: PodInfo, replica: PodInfo, only: Collection[str] | None) -> Comparison:
    hashes = [mongodb_hashes(run(p.name, MONGODB_HASHES, "")) for p in (primary, replica)]
    names = set(only) if only is not None else set(hashes[0]) | set(hashes[1])
    found = differing(hashes[0], hashes[1], names)
    dbs = ", ".join(sorted({n.split(".", 1)[0] for n in names})) or "none"
    return Comparison(len(names), found, f"{len(names)} collections ({dbs})"
                      + (f", {len(found)} differ" if found else ", every dbHash equal"))


# Per-engine table (harness/engines/__init__.py lists the tables that are data).
DIVERGENCE = {
    "mysql": RemoteCheck("CHECKSUM TABLE", _mysql_position, lambda p, r, _: mysql_lag(p, r), _mysql_compare),
    "redis": RemoteCheck(f"DBSIZE + content digests of up to {SAMPLE_KEYS} sampled keys per side", _redis_position,
                         redis_lag, _redis_compare),
    "mongodb": RemoteCheck("dbHash", _mongodb_position, lambda p, r, _: mongodb_lag(p, r), _mongodb_compare),
}
