"""Pure readers of what day-2 operations leave behind: OpsRequest and Backup status (kubectl JSON),
and the engines' own replication status (what `kubectl exec` prints). No I/O; tested on fake output.

Healthy means what harness/operations.py's end state needs: a primary takes writes; a replica
replicates from that primary and is caught up (within the named budgets below).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from harness.contracts import OpStep, PodInfo, ReplicaState
from harness.platforms.k8s_evidence import rfc3339_to_unix

# Caught up: MySQL reports whole seconds of apply lag, so 0-1 s is as close as it can say.
MYSQL_CAUGHT_UP_S = 1
# Redis: bytes of replication stream the replica may trail the primary's offset read just before it
# (a second of the harness's quick load, 200 ops/s of ~300-byte messages, is ~60 KB).
REDIS_CAUGHT_UP_BYTES = 64 * 1024
# MongoDB: optime seconds a secondary may trail the primary (its own oplog clock, 1 s resolution shown).
MONGODB_CAUGHT_UP_S = 2.0

STEP_ACTION = {"Restart": "restart", "Switchover": "switchover", "HorizontalScaling": "join",
               "Upgrade": "upgrade", "Restore": "restore", "Backup": "backup"}


def load_json(text: str) -> dict[str, Any]:
    """kubectl's JSON, or {} for nothing (a dry run) or for a half-written answer."""
    try:
        data = json.loads(text or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _wall(stamp: Any) -> float | None:
    if not isinstance(stamp, str) or not stamp:
        return None
    try:
        return rfc3339_to_unix(stamp)
    except (ValueError, IndexError):
        return None


@dataclass(frozen=True)
class OpsStatus:
    """An OpsRequest's status, as far as the harness reads it."""

    phase: str
    progress: str
    steps: tuple[OpStep, ...]
    message: str  # why it failed, when it did (conditions, failed progress items)
    started_wall: float | None
    done_wall: float | None


def ops_status(ops_json: str, type_: str) -> OpsStatus:
    """`kubectl get opsrequests.operations.kubeblocks.io/<n> -o json` -> phase, per-pod steps, why."""
    status = load_json(ops_json).get("status") or {}
    action = STEP_ACTION.get(type_, type_.lower())
    steps: list[OpStep] = []
    failures: list[str] = []
    for comp in (status.get("components") or {}).values():
        for item in (comp or {}).get("progressDetails") or []:
            key = str(item.get("objectKey") or "")
            pod = key.split("/", 1)[1] if "/" in key else key
            start, end = _wall(item.get("startTime")), _wall(item.get("endTime"))
            ok = item.get("status") == "Succeed"
            message = str(item.get("message") or "")
            if item.get("status") == "Failed":
                failures.append(f"{key}: {message or 'failed'}")
            if start is None and end is None:
                continue
            steps.append(OpStep(pod, action, start if start is not None else end or 0.0,
                                end if end is not None else start or 0.0, ok, message))
    for cond in status.get("conditions") or []:
        if cond.get("type") in ("Failed", "Aborted", "Cancelled") or (cond.get("status") == "False" and cond.get("message")):
            failures.append(f"{cond.get('type')}: {cond.get('message') or cond.get('reason') or ''}".strip())
    return OpsStatus(str(status.get("phase") or ""), str(status.get("progress") or ""),
                     tuple(sorted(steps, key=lambda s: s.started_wall)), "; ".join(dict.fromkeys(failures)),
                     _wall(status.get("startTimestamp")), _wall(status.get("completionTimestamp")))


_QUANTITY = re.compile(r"^\s*([0-9.]+)\s*([KMGTPE]i?)?\s*$")
_FACTOR = {None: 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
           "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}


def quantity_bytes(text: Any) -> int | None:
    """A Kubernetes quantity ("1.5Mi", "42") in bytes; None when absent or not a quantity."""
    m = _QUANTITY.match(str(text)) if text not in (None, "") else None
    if m is None:
        return None
    return int(float(m.group(1)) * _FACTOR[m.group(2)])


@dataclass(frozen=True)
class BackupStatus:
    phase: str
    size_bytes: int | None
    source_pod: str | None  # the pod KubeBlocks' policy chose (status.target.selectedTargetPods)
    failure: str
    started_wall: float | None
    done_wall: float | None
    consistent_point: str | None  # timeRange.end, when the method records one


def backup_status(backup_json: str) -> BackupStatus:
    status = load_json(backup_json).get("status") or {}
    target = status.get("target") or {}
    selected = target.get("selectedTargetPods") or []
    end = (status.get("timeRange") or {}).get("end")
    return BackupStatus(str(status.get("phase") or ""), quantity_bytes(status.get("totalSize")),
                        selected[0] if selected else None, str(status.get("failureReason") or ""),
                        _wall(status.get("startTimestamp")), _wall(status.get("completionTimestamp")),
                        str(end) if end else None)


def jsonpath_phase(text: str) -> str:
    return (text or "").strip()


# -- the engines' own replication status ---------------------------------------------------------
def _kv(text: str, sep: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, found, value = line.partition(sep)
        if found and key.strip() and key.strip() not in out:
            out[key.strip()] = value.strip()
    return out


def _names_pod(host: str, pod: PodInfo | None) -> bool:
    """A source host given as the pod's IP, its name, or its FQDN (`<pod>.<headless>.<ns>.svc...`)."""
    if pod is None or not host:
        return False
    return host in (pod.host, pod.name) or host.split(".", 1)[0] == pod.name


def mysql_state(pod: str, text: str, primary: PodInfo | None) -> ReplicaState:
    """From `read_only=<0|1> super_read_only=<0|1>` followed by `SHOW REPLICA STATUS\\G` (or SLAVE)."""
    first = text.splitlines()[0] if text.strip() else ""
    flags = dict(part.split("=", 1) for part in first.split() if "=" in part)
    writable = flags.get("read_only") == "0" and flags.get("super_read_only") == "0"
    rs = _kv(text, ":")
    io = rs.get("Replica_IO_Running") or rs.get("Slave_IO_Running")
    if not flags.get("read_only"):
        return ReplicaState(pod, None, False, "no answer from mysql")
    if io is None:  # no replication configured
        if writable:
            return ReplicaState(pod, "primary", True, "writable, not replicating")
        return ReplicaState(pod, "secondary", False, "read-only but not replicating from any source")
    sql = rs.get("Replica_SQL_Running") or rs.get("Slave_SQL_Running")
    lag = rs.get("Seconds_Behind_Source") or rs.get("Seconds_Behind_Master") or "NULL"
    source = rs.get("Source_Host") or rs.get("Master_Host") or ""
    problems = []
    if io != "Yes" or sql != "Yes":
        error = rs.get("Last_IO_Error") or rs.get("Last_SQL_Error") or ""
        problems.append(f"IO thread {io}, SQL thread {sql}" + (f" ({error})" if error else ""))
    if not lag.isdigit() or int(lag) > MYSQL_CAUGHT_UP_S:
        problems.append(f"{lag} s behind its source")
    if primary is not None and not _names_pod(source, primary):
        problems.append(f"replicates from {source or '?'}, not the primary {primary.name}")
    if writable:
        problems.append("writable while replicating")
    detail = "; ".join(problems) or f"replicating from {source}, {lag} s behind"
    return ReplicaState(pod, "secondary", not problems, detail)


def redis_state(pod: str, text: str, primary: PodInfo | None, primary_offset: int | None) -> ReplicaState:
    """From `INFO replication`; `primary_offset`: the primary's master_repl_offset read just before."""
    info = _kv(text, ":")
    role = info.get("role")
    if role == "master":
        return ReplicaState(pod, "primary", True, f"master, {info.get('connected_slaves', '?')} replica(s)")
    if role != "slave":
        return ReplicaState(pod, None, False, "no answer from redis")
    problems = []
    if info.get("master_link_status") != "up":
        problems.append(f"link to its master {info.get('master_link_status', '?')}")
    if info.get("master_sync_in_progress") not in (None, "0"):
        problems.append("full sync in progress")
    source = info.get("master_host", "")
    if primary is not None and not _names_pod(source, primary):
        problems.append(f"replicates from {source or '?'}, not the primary {primary.name}")
    offset = info.get("slave_repl_offset", "")
    behind = primary_offset - int(offset) if primary_offset is not None and offset.lstrip("-").isdigit() else None
    if behind is None or behind > REDIS_CAUGHT_UP_BYTES:
        problems.append(f"{'?' if behind is None else behind} bytes behind the primary")
    detail = "; ".join(problems) or f"replicating from {source}, {behind} bytes behind"
    return ReplicaState(pod, "secondary", not problems, detail)


def redis_offset(text: str) -> int | None:
    value = _kv(text, ":").get("master_repl_offset", "")
    return int(value) if value.lstrip("-").isdigit() else None


def mongodb_state(pod: str, text: str) -> ReplicaState:
    """From the one JSON line the rs.status() script prints: {state, sync, t, pt, primary} (ms epochs)."""
    data = load_json(text.strip().splitlines()[-1] if text.strip() else "")
    state = data.get("state")
    if state == "PRIMARY":
        return ReplicaState(pod, "primary", True, "PRIMARY")
    if state != "SECONDARY":
        return ReplicaState(pod, None, False, f"member state {state or 'unknown'}")
    t, pt = data.get("t"), data.get("pt")
    if not isinstance(t, (int, float)) or not isinstance(pt, (int, float)):
        return ReplicaState(pod, "secondary", False, "no primary in its replica-set view")
    behind = max(0.0, (pt - t) / 1000)
    ok = behind <= MONGODB_CAUGHT_UP_S and bool(data.get("sync"))
    detail = f"syncing from {data.get('sync') or 'nobody'}, {behind:g} s behind {data.get('primary')}"
    return ReplicaState(pod, "secondary", ok, detail)
