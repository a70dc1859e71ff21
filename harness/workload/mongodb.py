"""OpenIM's MongoDB traffic (v3.8.x collections), as plain pymongo code.

Ops (reference/openim-workload.md section 1):
- `send_message`: seq from a per-client block refilled by `seq.findOneAndUpdate({$inc: max_seq})`
  (upsert, blocks of 50 single / 100 group), then `msg.updateOne({doc_id}, {$set: {msgs.<i>.msg}})`;
  when no doc matched, insert the full 100-slot doc; on a duplicate key, update again.
- `pull`: one aggregate per doc projecting the wanted slots (`onlyFindDocIndex`).
- `conversations`: `conversation.find({owner_user_id})` projecting `conversation_id`.

Writes use `w: majority` on a replica set (OpenIM HEAD's mongoMode: replicaSet settings).
pymongo is imported here only: a load worker imports locust (gevent patch) before this module.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from harness.contracts import Endpoint
from harness.history import AckedWrite
from harness.workload import model
from harness.workload.base import Actor
from harness.workload.connpool import Refused
from harness.workload.model import SeedInfo

DEFAULT_DB = "openim_v3"
OPS: dict[str, bool] = {"send_message": True, "pull": False, "conversations": False}


def connect(endpoint: Endpoint, op_timeout_s: float):  # -> pymongo.MongoClient
    import pymongo
    from pymongo.write_concern import WriteConcern

    hosts = [f"{h}:{p}" for h, p in endpoint.addresses]
    kw: dict[str, Any] = dict(
        username=endpoint.user or "root", password=endpoint.password, authSource="admin",
        serverSelectionTimeoutMS=int(op_timeout_s * 1000), socketTimeoutMS=int(op_timeout_s * 1000),
        connectTimeoutMS=int(op_timeout_s * 1000), retryWrites=False, retryReads=False, maxPoolSize=1,
    )
    if endpoint.replica_set:
        kw["replicaSet"] = endpoint.replica_set
        kw["w"] = "majority"
    else:
        kw["directConnection"] = True
    client = pymongo.MongoClient(hosts, **kw)
    _ = WriteConcern  # imported for type availability in callers
    return client


def slot_doc(cid: str, seq: int, msg: dict[str, Any]) -> dict[str, Any]:
    """A fresh 100-slot doc holding one message at its index (BatchInsertBlock's insert path)."""
    msgs = [model.empty_slot() for _ in range(model.MSGS_PER_DOC)]
    msgs[model.msg_index(seq)] = {**model.empty_slot(), "msg": msg}
    return {"doc_id": model.doc_id(cid, seq), "msgs": msgs}


class MongoClientOps:
    engine = "mongodb"
    ops = OPS

    def __init__(self, endpoint: Endpoint, op_timeout_s: float = 1.0):
        self.client = connect(endpoint, op_timeout_s)
        self.db = self.client[endpoint.database or DEFAULT_DB]
        self._blocks: dict[str, tuple[int, int]] = {}  # cid -> (next seq, last seq of the block)

    def close(self) -> None:
        self.client.close()

    def warm(self) -> None:
        """Opens the connection before the first op, so no op pays for the connect."""
        self.client.admin.command("ping")

    def run(self, op: str, actor: Actor, partial: dict[str, Any]) -> dict[str, Any]:
        return getattr(self, op)(actor, partial)

    def malloc(self, cid: str) -> int:
        nxt, last = self._blocks.get(cid, (1, 0))
        if nxt > last:
            from pymongo import ReturnDocument

            size = model.seq_block(cid)
            doc = self.db.seq.find_one_and_update(
                {"conversation_id": cid}, {"$inc": {"max_seq": size}, "$setOnInsert": {"min_seq": 0}},
                upsert=True, return_document=ReturnDocument.AFTER, projection={"_id": 0, "max_seq": 1})
            last = int(doc["max_seq"])
            nxt = last - size + 1
        self._blocks[cid] = (nxt + 1, last)
        return nxt

    def send_message(self, actor: Actor, partial: dict[str, Any]) -> dict[str, Any]:
        from pymongo.errors import DuplicateKeyError

        conv, seq, mid, msg = actor.new_message(partial, self.malloc)
        did = model.doc_id(conv.cid, seq)
        field = f"msgs.{model.msg_index(seq)}.msg"
        res = self.db.msg.update_one({"doc_id": did}, {"$set": {field: msg}})
        if res.matched_count == 0:
            try:
                self.db.msg.insert_one(slot_doc(conv.cid, seq, msg))
            except DuplicateKeyError:
                self.db.msg.update_one({"doc_id": did}, {"$set": {field: msg}})
        return {"stream": conv.cid, "seq": seq, "id": mid}

    def pull(self, actor: Actor, partial: dict[str, Any]) -> dict[str, Any]:
        conv = actor.pick_conv()
        doc = self.db.seq.find_one({"conversation_id": conv.cid}, {"_id": 0, "max_seq": 1})
        top = int(doc["max_seq"]) if doc else 0
        seqs = list(range(max(1, top - 9), top + 1))
        n = 0
        by_doc: dict[str, list[int]] = {}
        for s in seqs:
            by_doc.setdefault(model.doc_id(conv.cid, s), []).append(model.msg_index(s))
        for did, idx in by_doc.items():
            pipeline = [{"$match": {"doc_id": did}},
                        {"$project": {"_id": 0, "doc_id": 1, "msgs": {"$map": {
                            "input": idx, "as": "index", "in": {"$arrayElemAt": ["$msgs", "$$index"]}}}}}]
            for d in self.db.msg.aggregate(pipeline):
                n += sum(1 for m in d["msgs"] if m and m.get("msg"))
        return {"msgs": n}

    def conversations(self, actor: Actor, partial: dict[str, Any]) -> dict[str, Any]:
        got = list(self.db.conversation.find({"owner_user_id": actor.uid}, {"_id": 0, "conversation_id": 1}))
        return {"n": len(got)}

    @staticmethod
    def classify(exc: BaseException, write: bool) -> str:
        from pymongo.errors import (
            AutoReconnect,
            DuplicateKeyError,
            NetworkTimeout,
            NotPrimaryError,
            ServerSelectionTimeoutError,
            WriteConcernError,
        )

        if isinstance(exc, (ServerSelectionTimeoutError, NotPrimaryError, DuplicateKeyError)):
            return "fail"
        if isinstance(exc, (NetworkTimeout, AutoReconnect, WriteConcernError)):
            return "info" if write else "fail"
        return "info" if write else "fail"


def seed(endpoint: Endpoint, info: SeedInfo, timeout_s: float = 10.0) -> None:
    """Indexes as OpenIM creates them, users, friends, groups, members and conversation docs."""
    client = connect(endpoint, timeout_s)
    try:
        db = client[endpoint.database or DEFAULT_DB]
        db.msg.create_index("doc_id", unique=True)
        db.seq.create_index("conversation_id")
        db.conversation.create_index([("owner_user_id", 1), ("conversation_id", 1)], unique=True)
        db.user.create_index("user_id", unique=True)
        db.friend.create_index([("owner_user_id", 1), ("friend_user_id", 1)], unique=True)
        db.group_member.create_index([("group_id", 1), ("user_id", 1)], unique=True)
        db.user.insert_many([{"user_id": u, "nickname": f"user {u}", "face_url": "", "ex": "",
                              "app_manger_level": 1, "global_recv_msg_opt": 0, "create_time": time.time()}
                             for u in info.users])
        db.friend.insert_many([{"owner_user_id": a, "friend_user_id": b} for a, b in info.friends])
        if info.groups:
            db.group_member.insert_many([{"group_id": g, "user_id": u, "role_level": 20} for g, m in info.groups for u in m])
        convs = [{"owner_user_id": m, "conversation_id": c.cid, "conversation_type": c.session_type,
                  "user_id": "" if c.group_id else next(x for x in c.members if x != m), "group_id": c.group_id,
                  "recv_msg_opt": 0, "is_pinned": False, "max_seq": 0, "min_seq": 0}
                 for c in info.conversations for m in c.members]
        db.conversation.insert_many(convs)
    finally:
        client.close()


def read_slots(endpoint: Endpoint, writes: Iterable[AckedWrite], timeout_s: float = 10.0) -> Iterator[tuple[AckedWrite, str | None]]:
    """For each acknowledged message: the client_msg_id in its doc slot (None: missing)."""
    client = connect(endpoint, timeout_s)
    try:
        db = client[endpoint.database or DEFAULT_DB]
        for w in writes:
            seq = int(w.seq or 0)
            d = db.msg.find_one({"doc_id": model.doc_id(w.stream, seq)},
                                {"_id": 0, "msgs": {"$slice": [model.msg_index(seq), 1]}})
            slot = (d or {}).get("msgs") or [None]
            msg = (slot[0] or {}).get("msg")
            yield w, (msg or {}).get("client_msg_id")
    finally:
        client.close()


# -- connection limits (the connections cell, harness/connections.py) ----------------------------
# Not run against a server here (no mongod on this machine): written to the driver's documented API.
CONNECTION_SOCKETS = 2  # each opened connection is a client: its pooled connection and its monitor's


def primary_address(endpoint: Endpoint, timeout_s: float) -> tuple[str, int]:
    """The primary now: asked of the replica set when the endpoint names one."""
    if not endpoint.replica_set:
        return endpoint.addresses[0]
    client = connect(endpoint, timeout_s)
    try:
        client.admin.command("ping")
        primary = client.primary
        if primary is None:
            raise ConnectionError(f"replica set {endpoint.replica_set} has no primary")
        return str(primary[0]), int(primary[1])
    finally:
        client.close()


def _direct_client(endpoint: Endpoint, address: tuple[str, int], timeout_s: float) -> Any:
    """A client of one server holding at most one pooled connection (plus its monitor's)."""
    import pymongo

    ms = int(timeout_s * 1000)
    tls: dict[str, Any] = {"tls": True, "tlsInsecure": True} if endpoint.tls else {}
    return pymongo.MongoClient(
        f"{address[0]}:{address[1]}", directConnection=True, maxPoolSize=1, serverMonitoringMode="poll",
        username=endpoint.user or "root", password=endpoint.password, authSource="admin",
        serverSelectionTimeoutMS=ms, connectTimeoutMS=ms, socketTimeoutMS=ms, retryReads=False,
        retryWrites=False, **tls)


def connection_opener(endpoint: Endpoint, timeout_s: float) -> Callable[[], Any]:
    """One authenticated connection per call: a one-connection client to the primary, pinged. mongod
    closes a connection over its limit without a word, so every connection failure counts as a
    refusal here (nothing else breaks connections in this cell); the text is the driver's."""
    from pymongo.errors import ConnectionFailure

    host, port = primary_address(endpoint, timeout_s)

    def open_one() -> Any:
        client = _direct_client(endpoint, (host, port), timeout_s)
        try:
            client.admin.command("ping")
        except ConnectionFailure as e:
            client.close()
            raise Refused(str(e).splitlines()[0][:300]) from e
        except BaseException:
            client.close()
            raise
        return client

    return open_one


class MongoConnectionMonitor:
    """The harness's one held client for serverStatus' `connections` (current + available = the limit)."""

    refused_counter: str | None = "rejected"  # reported by newer servers only; absent: not compared

    def __init__(self, endpoint: Endpoint, timeout_s: float):
        self._client = _direct_client(endpoint, primary_address(endpoint, timeout_s), timeout_s)
        self._client.admin.command("ping")

    def _connections(self) -> dict[str, Any]:
        status: dict[str, Any] = self._client.admin.command("serverStatus")
        return dict(status.get("connections", {}))

    def limit(self) -> tuple[str, int]:
        c = self._connections()
        return "connections.current+available", int(c["current"]) + int(c["available"])

    def reserve(self) -> tuple[int, str]:
        return 0, "mongod admits no connection beyond maxIncomingConnections (its override list is not set)"

    def counters(self) -> dict[str, int]:
        c = self._connections()
        return {k: int(c[k]) for k in ("current", "available", "totalCreated", "rejected", "active") if k in c}

    @staticmethod
    def in_use(counters: dict[str, int]) -> int:
        return counters["current"]

    def close(self) -> None:
        self._client.close()


def connection_monitor(endpoint: Endpoint, timeout_s: float) -> MongoConnectionMonitor:
    return MongoConnectionMonitor(endpoint, timeout_s)
