"""mongod pods: one journaled server (statefulset) or a 3-member replica set (zones a/b/c) with
keyfile auth and `w: majority` (KubeBlocks' replicaset topology).

MongoDB is not in Debian's registry; without `mongod` deploy raises CellSkipped with how to get it.
This path is kept deliberately simple: it cannot be exercised on machines without mongod.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from harness.contracts import ZONES, Endpoint
from harness.errors import CellSkipped, DeployError
from harness.platforms.local.pods import Pod, wait_ready
from harness.platforms.local.preflight import MONGO_FIX, binary_version, find_binary
from harness.platforms.local.state import LocalHandle, new_pod, write_secret_file

REPLICA_SET = "mongodb-mongodb"  # KubeBlocks: replSetName = <cluster>-<component>


def check_available() -> str:
    path = find_binary("mongod")
    if path is None:
        raise CellSkipped(f"mongod is not installed on this machine; {MONGO_FIX}")
    return path


def version() -> str | None:
    path = find_binary("mongod")
    return binary_version(path, r"db version v(\S+)") if path else None


def mongod_conf(pod: Pod, keyfile: str | None) -> str:
    lines = [
        "net:", "  bindIp: 127.0.0.1", f"  port: {pod.port}",
        "storage:", f"  dbPath: {pod.data_dir}", "  journal:", "    enabled: true",
        "security:", "  authorization: enabled",
    ]
    if keyfile:
        lines += [f"  keyFile: {keyfile}", "replication:", f"  replSetName: {REPLICA_SET}"]
    return "\n".join(lines) + "\n"


def _argv(handle: LocalHandle, keyfile: str | None):
    mongod = check_available()

    def build(pod: Pod) -> list[str]:
        conf = write_secret_file(handle.work_dir / "conf" / f"{pod.name}.yaml", mongod_conf(pod, keyfile))
        return [mongod, "--config", str(conf)]

    return build


def _client(port: int, user: str | None = None, password: str | None = None, **kw):
    import pymongo

    return pymongo.MongoClient("127.0.0.1", port, directConnection=True, username=user, password=password,
                               serverSelectionTimeoutMS=1000, connectTimeoutMS=1000, **kw)


def deploy(handle: LocalHandle, deadline: float) -> Endpoint:
    import pymongo

    handle.secrets["root"] = secrets.token_urlsafe(24)
    pw = handle.secrets["root"]
    rs = handle.mode == "kubeblocks"
    keyfile = None
    if rs:
        keyfile = str(write_secret_file(handle.work_dir / "conf" / "keyfile", secrets.token_urlsafe(48)))
    pods = [new_pod(handle, f"mongodb-{i}", ZONES[i], _argv(handle, keyfile)) for i in range(3 if rs else 1)]
    for p in pods:
        p.start(handle.registry)
    for p in pods:
        wait_ready(p, lambda: bool(_client(p.port).admin.command("ping")), deadline, "answering ping")  # noqa: B023 - polled here
    first = _client(pods[0].port)
    try:
        if rs:
            members = [{"_id": i, "host": f"127.0.0.1:{p.port}", "priority": 2 if i == 0 else 1}
                       for i, p in enumerate(pods)]
            first.admin.command("replSetInitiate", {"_id": REPLICA_SET, "members": members})
            wait_ready(pods[0], lambda: bool(_client(pods[0].port).admin.command("hello").get("isWritablePrimary")),
                       deadline, "becoming primary")
        first.admin.command("createUser", "root", pwd=pw, roles=["root"])  # localhost exception
    except pymongo.errors.PyMongoError as e:
        raise DeployError(f"mongodb setup failed: {e}") from e
    finally:
        first.close()
    addrs = tuple((p.host, p.port) for p in pods)
    handle.endpoint = Endpoint(engine="mongodb", mode=handle.mode, addresses=addrs, password=pw, user="root",
                               database="openim_v3", replica_set=REPLICA_SET if rs else None)
    _check_write(handle.endpoint, deadline)
    return handle.endpoint


def _check_write(ep: Endpoint, deadline: float) -> None:
    import pymongo

    last = ""
    while time.monotonic() < deadline:
        try:
            hosts = [f"{h}:{p}" for h, p in ep.addresses]
            client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
                hosts, replicaset=ep.replica_set, username=ep.user, password=ep.password, w="majority",
                serverSelectionTimeoutMS=2000)
            with client as c:
                c[ep.database or "test"]["harness_ready"].replace_one({"_id": 1}, {"_id": 1, "v": 1}, upsert=True)
                return
        except pymongo.errors.PyMongoError as e:
            last = str(e)
        time.sleep(0.1)
    raise DeployError(f"mongodb did not take a write before the deadline: {last}")


def role_of(handle: LocalHandle, pod: Pod) -> str | None:
    if not pod.alive() or pod.frozen:
        return None
    try:
        with _client(pod.port, "root", handle.secrets.get("root")) as c:
            hello = c.admin.command("hello")
    except Exception:  # noqa: BLE001 - unknown while unreachable
        return None
    if hello.get("isWritablePrimary"):
        return "primary"
    return "secondary" if hello.get("secondary") else None
