"""Synthetic results of a run with day-2 operations (no servers): the cells in results.json's shape
(test_generator_evidence's `ok_cell` / `results`, extended with a fault of an operation's kind and an
`operation` block), and a run directory with results.json and a timeline.csv per measured cell.

Numbers are planted so a test can find them in the report: the kubeblocks rolling restart is the
design's example verbatim; the failed switchover carries a duration (77.7 s) and a p99 (777.7 ms) that
must never be shown; the statefulset restore has holes."""

from __future__ import annotations

import copy
import csv
from pathlib import Path
from typing import Any

from test_generator_evidence import ok_cell, results

from harness.results import cell_record, write_results

ROLLING_RESTART_KB: dict[str, Any] = {
    "valid": True, "reasons": [],
    "kind": "rolling-restart",
    "source": "local emulation",
    "phase": None,
    "started_at_s": 6.0, "done_at_s": 14.2, "duration_s": 8.2,
    "within_load": True,
    "steps": [{"pod": "mysql-1", "action": "restart", "at_s": 6.0, "done_s": 9.1, "ok": True, "detail": ""},
              {"pod": "mysql-0", "action": "switchover", "at_s": 9.1, "done_s": 9.6, "ok": True,
               "detail": "mysql-0 -> mysql-1"},
              {"pod": "mysql-0", "action": "restart", "at_s": 9.6, "done_s": 12.9, "ok": True, "detail": ""}],
    "primary_before": "mysql-0", "primary_after": "mysql-1", "primary_changes": 1,
    "latency_during_ms": {"p50": 0.9, "p95": 3.1, "p99": 12.3, "max": 2100.0},
    "end_state": {"healthy": True, "primaries": 1, "settled_s": 0.4, "reasons": [],
                  "pods": [{"pod": "mysql-0", "role": "secondary", "healthy": True,
                            "detail": "replicating from mysql-1, caught up"},
                           {"pod": "mysql-1", "role": "primary", "healthy": True, "detail": "writable"}]},
    "new_pods": [],
    "backup": None,
    "restore": None,
}

NA_SWITCHOVER_STS = ("a StatefulSet as OpenIM ships it has one instance: there is no other pod to move the "
                     "primary to")
NA_UPGRADE_LOCAL = "this machine has one server version per engine (one Debian package each)"
NA_SCALE_OUT_STS = "replicas: 2 of OpenIM's StatefulSet would start an unrelated second database"
SWITCHOVER_FAILED = "mysql-0 is still the primary 30.0 s after the switchover to mysql-1 was asked for"


def operation(**changes: Any) -> dict[str, Any]:
    """The design's rolling-restart block with `changes` applied (a deep copy)."""
    return {**copy.deepcopy(ROLLING_RESTART_KB), **changes}


def day2_cell(mode: str, op: dict[str, Any], engine: str = "mysql", *, write_gap_s: float = 1.2,
              rto_s: float = 1.2, lost_writes: int = 0, p99: float = 5.0, repeat: int = 0) -> dict[str, Any]:
    """A measured cell of a day-2 scenario: the usual blocks, a fault of the operation's kind, its operation."""
    c = ok_cell(mode, p99=p99, scenario=op["kind"], repeat=repeat, engine=engine)
    start = op["started_at_s"] if op.get("started_at_s") is not None else 6.0
    c["fault"] = {"kind": op["kind"], "target": "primary", "instance": op.get("primary_before"),
                  "injected_at": "2026-12-01T00:00:06", "injected_at_s": start,
                  "duration_s": op.get("duration_s") or 0.0, "recovered_at_s": op.get("done_at_s")}
    c["availability"] = {"write_gap_s": write_gap_s, "rto_s": rto_s, "recovered": True}
    c["consistency"].update(acked_writes=1200, lost_writes=lost_writes)
    c["operation"] = copy.deepcopy(op)
    c["verdict"] = {"valid": op["valid"], "anomaly_types": [], "checkers": {
        "operation": {"valid": op["valid"], "reasons": list(op.get("reasons") or [])}}}
    return c


def not_applicable(scenario: str, mode: str, reason: str, engine: str = "mysql") -> dict[str, Any]:
    return cell_record(scenario=scenario, engine=engine, mode=mode, status="not-applicable", reason=reason)


def rolling_restart_sts() -> dict[str, Any]:
    return operation(started_at_s=6.0, done_at_s=11.5, duration_s=5.5, primary_after="mysql-0", primary_changes=0,
                     steps=[{"pod": "mysql-0", "action": "restart", "at_s": 6.0, "done_s": 11.5, "ok": True,
                             "detail": ""}],
                     latency_during_ms={"p50": 1.1, "p95": 4.0, "p99": 31.4, "max": 5400.0},
                     end_state={"healthy": True, "primaries": 1, "settled_s": 0.0, "reasons": [],
                                "pods": [{"pod": "mysql-0", "role": "primary", "healthy": True, "detail": "writable"}]})


def failed_switchover() -> dict[str, Any]:
    return operation(kind="switchover", valid=False, reasons=[SWITCHOVER_FAILED], started_at_s=6.0,
                     done_at_s=83.7, within_load=False, duration_s=77.7, primary_after="mysql-0", primary_changes=0,
                     steps=[{"pod": "mysql-0", "action": "switchover", "at_s": 6.0, "done_s": 83.7, "ok": False,
                             "detail": "timed out"}],
                     latency_during_ms={"p50": 0.9, "p95": 3.1, "p99": 777.7, "max": 2100.0},
                     end_state={"healthy": False, "primaries": 1, "settled_s": None,
                                "reasons": ["mysql-1 (secondary): replication stopped"],
                                "pods": [{"pod": "mysql-1", "role": "secondary", "healthy": False,
                                          "detail": "replication stopped"}]})


def backup_restore(mode: str) -> dict[str, Any]:
    pod = "mysql-1" if mode == "kubeblocks" else "mysql-0"
    holes = 0 if mode == "kubeblocks" else 2
    return operation(
        kind="backup-restore", valid=holes == 0,
        reasons=[] if holes == 0 else ["2 writes acknowledged before the backup's consistent point are not in the restored copy"],
        started_at_s=6.0, done_at_s=8.1, duration_s=2.1, primary_after="mysql-0", primary_before="mysql-0",
        primary_changes=0,
        steps=[{"pod": pod, "action": "backup", "at_s": 6.0, "done_s": 8.1, "ok": True, "detail": ""}],
        backup={"method": "mariadb-backup" if mode == "kubeblocks" else "mariadb-dump", "source_pod": pod,
                "size_bytes": 5242880, "consistent_point": "0-101-1234", "duration_s": 2.1},
        restore={"valid": holes == 0, "duration_s": 3.4, "checked": 1200, "found": 1150 - holes, "missing": 50 + holes,
                 "holes": holes, "consistent_point_s": 7.9, "stale_s": 0.0,
                 "first_holes": [{"stream": "users", "id": "u-17", "ack_s": 7.1}] if holes else []})


def scale_out_kb() -> dict[str, Any]:
    return operation(kind="scale-out", started_at_s=6.0, done_at_s=10.3, duration_s=4.3, new_pods=["redis-2"],
                     primary_before="redis-0", primary_after="redis-0", primary_changes=0,
                     steps=[{"pod": "redis-2", "action": "join", "at_s": 6.0, "done_s": 10.3, "ok": True,
                             "detail": "full sync from redis-0"}],
                     end_state={"healthy": True, "primaries": 1, "settled_s": 0.2, "reasons": [], "pods": []})


def day2_results() -> dict[str, Any]:
    """A run of steady + every day-2 scenario, as a local run would leave it."""
    cells = [
        ok_cell("kubeblocks"), ok_cell("statefulset"),
        day2_cell("kubeblocks", operation(), write_gap_s=1.37, rto_s=1.37, p99=12.3),
        day2_cell("statefulset", rolling_restart_sts(), write_gap_s=5.61, rto_s=5.61, p99=31.4),
        day2_cell("kubeblocks", failed_switchover(), write_gap_s=0.3, rto_s=0, p99=777.7),
        not_applicable("switchover", "statefulset", NA_SWITCHOVER_STS),
        day2_cell("kubeblocks", backup_restore("kubeblocks"), write_gap_s=0.2, rto_s=0),
        day2_cell("statefulset", backup_restore("statefulset"), write_gap_s=2.5, rto_s=2.5),
        not_applicable("upgrade", "kubeblocks", NA_UPGRADE_LOCAL),
        not_applicable("upgrade", "statefulset", NA_UPGRADE_LOCAL),
        day2_cell("kubeblocks", scale_out_kb(), engine="redis", write_gap_s=0.4, rto_s=0),
        not_applicable("scale-out", "statefulset", NA_SCALE_OUT_STS, engine="redis"),
    ]
    return results(cells)


def write_run_dir(run_dir: Path, doc: dict[str, Any], seconds: int = 24) -> Path:
    """results.json (validated as it is written) and a timeline.csv per measured cell: 200 ok/s with
    the failed ops of the cell's write gap from the fault's start."""
    run_dir.mkdir(parents=True, exist_ok=True)
    doc = copy.deepcopy(doc)
    for i, c in enumerate(doc["cells"]):
        if c["status"] != "ok":
            continue
        rel = f"cells/{i}-{c['scenario']}-{c['engine']}-{c['mode']}/timeline.csv"
        c["artifacts"] = {"history": None, "timeline": rel, "logs": None}
        start = (c["fault"] or {}).get("injected_at_s")
        gap = (c["availability"] or {}).get("write_gap_s") or 0
        path = run_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["t_s", "ok", "failed", "unknown", "ok_writes", "p99_ms"])
            for s in range(seconds):
                down = start is not None and start <= s < start + gap
                w.writerow([s, 20 if down else 200, 180 if down else 0, 0, 10 if down else 100,
                            "" if down else (40.0 if start is not None and s == int(start + gap) else 2.5)])
    write_results(run_dir / "results.json", doc)
    return run_dir
