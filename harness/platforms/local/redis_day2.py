"""Redis' part of the local day-2 operations (a `LocalDay2`).

Switchover is `SENTINEL FAILOVER` (what the addon's redis-switchover.sh asks Sentinel for). The
kubeblocks backup is the addon's `datafile` method: `BGSAVE` on the secondary, wait for
`LASTSAVE` to move, keep `dump.rdb`; a StatefulSet's SRE runs the same `BGSAVE` on the only pod.
A restored pod loads the RDB with AOF off and turns AOF on once loaded: with `appendonly yes`
and no AOF yet Redis would start empty and ignore the RDB.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import redis

from harness.contracts import BackupArtifact, ReplicaState
from harness.errors import HarnessError
from harness.platforms.local import sentinel
from harness.platforms.local.day2 import wait_for
from harness.platforms.local.pods import Pod
from harness.platforms.local.redis_pod import MASTER_NAME, current_master, info_role, redis_argv
from harness.platforms.local.state import LocalHandle, new_pod

MIN_READY_S = 10.0  # the redis CmpD's minReadySeconds (reference/kubeblocks-day2.md section 2)
RDB = "dump.rdb"


def min_ready_s(handle: LocalHandle) -> float:
    return MIN_READY_S if handle.mode == "kubeblocks" else 0.0


def _client(handle: LocalHandle, pod: Pod, timeout: float = 1.0) -> redis.Redis:
    return sentinel.client(pod.port, handle.secrets["redis"], timeout)


def _sentinels(handle: LocalHandle) -> list[Pod]:
    return [p for p in handle.pods.values() if p.kind == "sentinel"]


def switchover(handle: LocalHandle, primary: Pod, candidate: Pod, deadline: float) -> None:
    """Sentinel picks the replica itself; with one replica it is the candidate. Done when every
    answering Sentinel names the candidate and it reports itself master."""
    live = [s for s in _sentinels(handle) if s.alive() and not s.frozen]
    if not live:
        raise HarnessError("switchover: no Sentinel answers")
    with sentinel.client(live[0].port, handle.secrets["sentinel"], 2.0) as c:
        c.execute_command("SENTINEL", "FAILOVER", MASTER_NAME)

    def moved() -> bool:
        masters = {sentinel.ask_master([s.port], handle.secrets["sentinel"], MASTER_NAME) for s in live}
        return masters == {("127.0.0.1", candidate.port)} and info_role(candidate, handle.secrets["redis"]).get(
            "role") == "master"

    wait_for(f"Sentinel to make {candidate.name} the master", moved, deadline)


def serving(handle: LocalHandle, pod: Pod) -> bool:
    info = info_role(pod, handle.secrets["redis"])
    if handle.mode != "kubeblocks":
        return info.get("role") == "master"
    master = current_master(handle)
    if master is not None and master[1] == pod.port:
        return info.get("role") == "master"
    return info.get("role") == "slave" and info.get("master_link_status") == "up" and master is not None \
        and int(info.get("master_port") or 0) == master[1] and info.get("master_sync_in_progress") == "0"


def add_replica(handle: LocalHandle, name: str, zone: str) -> Pod:
    """Starts as the Sentinels' master's replica (the pod's startup asks them, as the addon's does);
    Sentinel learns of it from the master's INFO."""
    pod = new_pod(handle, name, zone, redis_argv(handle, replication=True))
    pod.start(handle.registry)
    return pod


def backup(handle: LocalHandle, pod: Pod, dest: Path) -> BackupArtifact:
    """Done when a save that began after the request finished (INFO's `rdb_saves` counter moved:
    LASTSAVE has one-second resolution and starts at the server's start time)."""
    deadline = time.monotonic() + 300
    with _client(handle, pod, 5.0) as c:
        started = time.time()
        while True:
            before = int(c.info("persistence").get("rdb_saves", 0))
            try:
                c.bgsave()  # BGSAVE SCHEDULE: after an AOF rewrite in progress, if any
                break
            except redis.ResponseError as e:  # an earlier save is running: it predates the request
                if "in progress" not in str(e):
                    raise HarnessError(f"BGSAVE on {pod.name}: {e}") from e
                wait_for(f"the running save on {pod.name} to end",
                         lambda: not int(c.info("persistence").get("rdb_bgsave_in_progress", 0)), deadline)

        def saved() -> bool:
            info = c.info("persistence")
            return int(info.get("rdb_saves", 0)) > before and not int(info.get("rdb_bgsave_in_progress", 0))

        wait_for(f"BGSAVE on {pod.name} to finish", saved, deadline)
        if c.info("persistence").get("rdb_last_bgsave_status") != "ok":
            raise HarnessError(f"BGSAVE on {pod.name} failed: {c.info('persistence')}")
        at = int(c.lastsave().timestamp())
    src = pod.data_dir / RDB
    out = dest / RDB
    shutil.copy2(src, out)
    return BackupArtifact(method="datafile" if handle.mode == "kubeblocks" else "bgsave", source_pod=pod.name,
                          location=str(out), size_bytes=out.stat().st_size,
                          consistent_point=f"RDB saved at {at} (BGSAVE requested at {started:.3f})")


def restore_into(handle: LocalHandle, pod: Pod) -> None:
    """Before a restored pod's first start: its volume holds the backup's RDB."""
    art = handle.restore_from
    if art is None:
        return
    pod.data_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy2(art.location, pod.data_dir / RDB)


def enable_aof_after_restore(handle: LocalHandle, pod: Pod) -> None:
    if handle.restore_from is None or not handle.spec.redis_appendonly:
        return
    with _client(handle, pod, 5.0) as c:
        c.config_set("appendonly", "yes")


def replication_state(handle: LocalHandle) -> list[ReplicaState]:
    out: list[ReplicaState] = []
    master = current_master(handle) if handle.mode == "kubeblocks" else None
    offsets: dict[str, int] = {}
    infos: dict[str, dict[str, str]] = {}
    for pod in handle.data_pods():
        try:
            infos[pod.name] = info_role(pod, handle.secrets["redis"])
        except (redis.RedisError, OSError) as e:
            out.append(ReplicaState(pod.name, None, False, f"unreachable: {e}"))
    for name, info in infos.items():
        offsets[name] = int(info.get("master_repl_offset") or 0)
    primary_offset = max((offsets[n] for n, i in infos.items() if i.get("role") == "master"), default=0)
    for name, info in infos.items():
        pod = handle.pods[name]
        if info.get("role") == "master":
            agrees = master is None or master[1] == pod.port
            out.append(ReplicaState(name, "primary", agrees, "master" if agrees else
                                    f"master, but the Sentinels name port {master[1] if master else '?'}"))
            continue
        ok = info.get("master_link_status") == "up" and master is not None \
            and int(info.get("master_port") or 0) == master[1] and offsets[name] >= primary_offset
        out.append(ReplicaState(name, "secondary", ok, "replicating from the master, caught up" if ok else
                                f"link={info.get('master_link_status')} master_port={info.get('master_port')} "
                                f"offset={offsets[name]} of {primary_offset}"))
    return out
