"""OpenIM's Redis traffic (v3.8.3+ key layout), as plain redis-py code.

Ops (reference/openim-workload.md section 2 and 4):
- `send_message`: allocate a seq on `MALLOC_SEQ:<cid>` with a Lua script (CURR/LAST/TIME fields),
  then `HSET MSG_CACHE:<cid>:<seq> value <json>` + `EXPIRE 86400` (rockscache RawSet).
- `login`: `HGETALL UID_PID_TOKEN_STATUS:<uid>:<p>` for all 11 platforms (one pipeline), then
  `HSET <jwt> 0` + `EXPIRE 90d` and `PUBLISH DELETE_CACHE_AUTH`.
- `sync`: pipeline of `HGET MALLOC_SEQ:<cid> CURR` over the user's conversations, then fetch the
  newest cached messages (`HGET MSG_CACHE:... value`).
- `online`: Lua ZREMRANGEBYSCORE/ZADD/EXPIRE on `ONLINE:<uid>`, then `PUBLISH online_change`.

One deliberate difference: in OpenIM an exhausted seq block is refilled from MongoDB's durable
`seq` collection. This workload tests Redis alone, so the script extends the block in place; an
empty restarted Redis therefore hands out seqs from 1 again, which the checker reports as
duplicates and regressions (the failure mode of open-im-server #3249 / KubeBlocks #10753).
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ReadOnlyError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry
from redis.sentinel import MasterNotFoundError, Sentinel

from harness.contracts import Endpoint
from harness.history import AckedWrite
from harness.workload import model
from harness.workload.base import Actor
from harness.workload.connpool import Refused
from harness.workload.model import SeedInfo

MALLOC_LUA = """
local key = KEYS[1]
local size = tonumber(ARGV[1])
local block = tonumber(ARGV[2])
if redis.call("HEXISTS", key, "LOCK") == 1 then return {2} end
local curr = tonumber(redis.call("HGET", key, "CURR") or "0")
local last = tonumber(redis.call("HGET", key, "LAST") or "0")
local max_seq = curr + size
if max_seq > last then
  last = max_seq + block
  redis.call("HSET", key, "LAST", last)
end
redis.call("HSET", key, "CURR", max_seq)
redis.call("HSET", key, "TIME", ARGV[3])
redis.call("EXPIRE", key, ARGV[4])
return {0, curr + 1, max_seq}
"""

ONLINE_LUA = """
local key = KEYS[1]
redis.call("ZREMRANGEBYSCORE", key, "-inf", ARGV[1])
redis.call("ZADD", key, ARGV[2], ARGV[3])
redis.call("EXPIRE", key, ARGV[4])
return redis.call("ZCARD", key)
"""

OPS: dict[str, bool] = {"send_message": True, "login": True, "sync": False, "online": True}
SYNC_PULL = 10  # defaultPullNums of the SDK
# Commands sent from the client per op (for comparing with INFO commandstats). Scripted calls
# made inside EVALSHA are counted by Redis too, so only client-issued ones are listed.
CLIENT_COMMANDS = {
    "send_message": {"evalsha": 1, "hset": 1, "expire": 1},
    "login": {"hgetall": len(model.PLATFORMS), "hset": 1, "expire": 1, "publish": 1},
    "online": {"evalsha": 1, "publish": 1},
}


def connect(endpoint: Endpoint, op_timeout_s: float) -> redis.Redis:
    """A client to the current primary: via Sentinel when the endpoint names a master.

    No client-side retries: a failed command shows as a failed op, never as a hidden retry. That
    includes the Sentinel queries: redis-py (>= 6) gives every client it builds a default of 10
    retries with backoff, so a frozen Sentinel (TCP connects succeed through the kernel backlog,
    replies never come) cost ~11 timeouts per master lookup before the next Sentinel was asked:
    ops took 14-28 s and clients missed the failover until the frozen zone came back."""
    common: dict[str, Any] = {
        "socket_timeout": op_timeout_s,
        "socket_connect_timeout": op_timeout_s,
        "retry": Retry(NoBackoff(), 0),
        "decode_responses": True,
    }
    if endpoint.sentinel_master:
        sentinel = Sentinel(list(endpoint.addresses), sentinel_kwargs=sentinel_kwargs(endpoint, op_timeout_s), **common)
        return sentinel.master_for(endpoint.sentinel_master, password=endpoint.password, **common)
    host, port = endpoint.primary_address()
    return redis.Redis(host=host, port=port, password=endpoint.password, username=endpoint.user, **common)


def sentinel_kwargs(endpoint: Endpoint, op_timeout_s: float) -> dict[str, Any]:
    """Settings of the clients that talk to the Sentinels: bounded, and never retried."""
    return {"password": endpoint.sentinel_password, "socket_timeout": op_timeout_s,
            "socket_connect_timeout": op_timeout_s, "retry": Retry(NoBackoff(), 0), "decode_responses": True}


class SwitchMasterWatch:
    """What go-redis' FailoverClient (OpenIM's client in sentinel mode) does on a failover: it
    subscribes to one Sentinel's `+switch-master` and, on a message, closes its connections to any
    other address, so no client keeps writing to a demoted master. redis-py's Sentinel pool only asks
    Sentinel when it opens a connection; without this, a planned switchover (the old master stays up
    and takes writes until Sentinel converts it, up to 10 s later) would lose writes OpenIM's
    client would not have sent there. One per load worker (a greenlet); clients compare `epoch`."""

    def __init__(self, endpoint: Endpoint, op_timeout_s: float):
        self.endpoint = endpoint
        self.op_timeout_s = op_timeout_s
        self.epoch = 0
        self._stop = threading.Event()
        self.subscribed = threading.Event()  # a Sentinel confirmed the subscription
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """A daemon thread: in the load worker (gevent-patched) that is a greenlet on its hub."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="switch-master-watch", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        kwargs = sentinel_kwargs(self.endpoint, self.op_timeout_s)
        while not self._stop.is_set():
            for host, port in self.endpoint.addresses:  # the next Sentinel when one stops answering
                try:
                    with redis.Redis(host=host, port=port, **kwargs) as c, c.pubsub() as ps:
                        ps.subscribe("+switch-master")
                        while not self._stop.is_set():
                            msg = ps.get_message(timeout=0.5)
                            if msg and msg.get("type") == "subscribe":
                                self.subscribed.set()
                            if msg and msg.get("type") == "message":
                                self.epoch += 1
                except (redis.RedisError, OSError):
                    self._stop.wait(0.1)


class RedisClient:
    """Blocking OpenIM-like Redis client for one simulated user (one connection)."""

    engine = "redis"
    ops = OPS

    def __init__(self, endpoint: Endpoint, op_timeout_s: float = 1.0, watch: SwitchMasterWatch | None = None):
        self.r = connect(endpoint, op_timeout_s)
        self._malloc = self.r.register_script(MALLOC_LUA)
        self._online = self.r.register_script(ONLINE_LUA)
        self.watch = watch
        self._epoch = watch.epoch if watch else 0

    def _follow_master(self) -> None:
        """After a `+switch-master`: drop the connection, the next command asks Sentinel anew."""
        if self.watch is not None and self.watch.epoch != self._epoch:
            self._epoch = self.watch.epoch
            self.r.connection_pool.disconnect()

    def close(self) -> None:
        self.r.close()

    def warm(self) -> None:
        """Opens the connection before the first op, so no op pays for the connect."""
        self.r.ping()

    def run(self, op: str, actor: Actor, partial: dict[str, Any]) -> dict[str, Any]:
        self._follow_master()
        return getattr(self, op)(actor, partial)

    # -- ops --------------------------------------------------------------------------------
    def malloc_seq(self, cid: str, size: int = 1) -> int:
        """First seq of a block of `size`; raises if the key is locked (another allocator)."""
        now_ms = int(time.time() * 1000)
        res = self._malloc(keys=[model.malloc_seq_key(cid)],
                           args=[size, model.seq_block(cid), now_ms, model.MALLOC_SEQ_TTL_S])
        if int(res[0]) != 0:
            raise ResponseError(f"MALLOC_SEQ:{cid} is locked")
        return int(res[1])

    def send_message(self, actor: Actor, partial: dict[str, Any]) -> dict[str, Any]:
        conv, seq, mid, msg = actor.new_message(partial, self.malloc_seq)
        key = model.msg_cache_key(conv.cid, seq)
        # rockscache RawSet: HSET then EXPIRE, not pipelined
        self.r.hset(key, "value", model.msg_cache_json(msg))
        self.r.expire(key, model.MSG_CACHE_TTL_S)
        return {"stream": conv.cid, "seq": seq, "id": mid}

    def login(self, actor: Actor, partial: dict[str, Any]) -> dict[str, Any]:
        platform = actor.rng.choice(model.PLATFORMS[:5])
        pipe = self.r.pipeline(transaction=False)
        for p in model.PLATFORMS:
            pipe.hgetall(model.token_key(actor.uid, p))
        pipe.execute()
        token = f"jwt.{actor.uid}.{actor.next_msg_id()}"
        key = model.token_key(actor.uid, platform)
        self.r.hset(key, token, 0)
        self.r.expire(key, model.TOKEN_TTL_S)
        self.r.publish("DELETE_CACHE_AUTH", actor.uid)
        return {"platform": platform}

    def sync(self, actor: Actor, partial: dict[str, Any]) -> dict[str, Any]:
        cids = [c.cid for c in actor.convs[:10]]
        pipe = self.r.pipeline(transaction=False)
        for cid in cids:
            pipe.hget(model.malloc_seq_key(cid), "CURR")
        maxes = pipe.execute()
        pipe = self.r.pipeline(transaction=False)
        n = 0
        for cid, mx in zip(cids, maxes, strict=True):
            top = int(mx or 0)
            for seq in range(max(1, top - SYNC_PULL + 1), top + 1):
                pipe.hget(model.msg_cache_key(cid, seq), "value")
                n += 1
        got = pipe.execute() if n else []
        return {"convs": len(cids), "msgs": sum(1 for g in got if g)}

    def online(self, actor: Actor, partial: dict[str, Any]) -> dict[str, Any]:
        now = int(time.time())
        pid = model.platform_id(actor.rng.choice(model.PLATFORMS[:5]))
        self._online(keys=[model.online_key(actor.uid)], args=[now, now + model.ONLINE_TTL_S, pid, model.ONLINE_TTL_S])
        self.r.publish("online_change", f"{actor.uid}:{pid}")
        return {"platform_id": pid}

    # -- outcome ------------------------------------------------------------------------------
    @staticmethod
    def classify(exc: BaseException, write: bool) -> str:
        return classify(exc, write)


def classify(exc: BaseException, write: bool) -> str:
    """`fail` when the command surely never ran (could not connect, rejected, no master);
    `info` when a write may have reached the server (timeout or drop after sending)."""
    if isinstance(exc, (MasterNotFoundError, ReadOnlyError, ResponseError)):
        return "fail"
    if isinstance(exc, (RedisConnectionError, RedisTimeoutError)):
        text = str(exc)
        if "connecting to" in text or "Timeout connecting" in text:
            return "fail"
        return "info" if write else "fail"
    return "info" if write else "fail"


# -- seeding and read-back ---------------------------------------------------------------------
def seed(endpoint: Endpoint, info: SeedInfo, timeout_s: float = 5.0) -> None:
    """Initial state OpenIM would have: one token per user (the hot login read finds something)."""
    r = connect(endpoint, timeout_s)
    try:
        pipe = r.pipeline(transaction=False)
        for i, uid in enumerate(info.users):
            key = model.token_key(uid, model.PLATFORMS[i % 5])
            pipe.hset(key, f"jwt.seed.{uid}", 0)
            pipe.expire(key, model.TOKEN_TTL_S)
            if len(pipe) >= 1000:
                pipe.execute()
        pipe.execute()
    finally:
        r.close()


def _batches(items: Iterable[AckedWrite], n: int) -> Iterator[list[AckedWrite]]:
    batch: list[AckedWrite] = []
    for it in items:
        batch.append(it)
        if len(batch) >= n:
            yield batch
            batch = []
    if batch:
        yield batch


def read_messages(endpoint: Endpoint, writes: Iterable[AckedWrite], timeout_s: float = 5.0) -> Iterator[tuple[AckedWrite, str | None]]:
    """For each acknowledged message: the client_msg_id found in its MSG_CACHE slot (None: missing)."""
    r = connect(endpoint, timeout_s)
    try:
        for batch in _batches(writes, 500):
            pipe = r.pipeline(transaction=False)
            for w in batch:
                pipe.hget(model.msg_cache_key(w.stream, int(w.seq or 0)), "value")
            for w, raw in zip(batch, pipe.execute(), strict=True):
                yield w, (json.loads(raw)["Msg"]["ClientMsgID"] if raw else None)
    finally:
        r.close()


# -- connection limits (the connections cell, harness/connections.py) ----------------------------
CONNECTION_SOCKETS = 1
MAXCLIENTS_REFUSAL = "ERR max number of clients reached"


def primary_address(endpoint: Endpoint, timeout_s: float) -> tuple[str, int]:
    """The master now: asked of Sentinel when the endpoint names one, else the endpoint's own."""
    if endpoint.sentinel_master:
        sentinel = Sentinel(list(endpoint.addresses), sentinel_kwargs=sentinel_kwargs(endpoint, timeout_s),
                            socket_timeout=timeout_s)
        host, port = sentinel.discover_master(endpoint.sentinel_master)
        return str(host), int(port)
    return endpoint.primary_address()


def _hello_command(endpoint: Endpoint) -> bytes:
    """AUTH [user] password as RESP (PING without a password): the reply says whether we are in."""
    args = [b"PING"]
    if endpoint.password:
        args = [b"AUTH", *([endpoint.user.encode()] if endpoint.user else []), endpoint.password.encode()]
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)


def _read_line(sock: socket.socket) -> bytes:
    buf = b""
    while not buf.endswith(b"\r\n"):
        chunk = sock.recv(512)
        if not chunk:
            raise RedisConnectionError(f"the server closed the connection (read {buf!r})")
        buf += chunk
    return buf[:-2]


def connection_opener(endpoint: Endpoint, timeout_s: float) -> Callable[[], socket.socket]:
    """One authenticated connection per call, as a plain socket: Redis writes its refusal
    (`-ERR max number of clients reached`) right after accept, and the reply to AUTH is read
    verbatim (redis-py would strip the `ERR`). The master is asked of Sentinel once, not per call."""
    address = primary_address(endpoint, timeout_s)
    hello = _hello_command(endpoint)

    def open_one() -> socket.socket:
        sock = socket.create_connection(address, timeout=timeout_s)
        if endpoint.tls:  # as OpenIM's client would: encrypted, unverified
            sock = _unverified_tls().wrap_socket(sock, server_hostname=address[0])
        try:
            sock.sendall(hello)
            reply = _read_line(sock)
        except BaseException:
            sock.close()
            raise
        if reply in (b"+OK", b"+PONG"):
            return sock
        sock.close()
        text = reply.decode(errors="replace").removeprefix("-")
        if text.startswith(MAXCLIENTS_REFUSAL):
            raise Refused(text)
        raise RedisConnectionError(f"the server answered {text!r}")

    return open_one


def _unverified_tls() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class RedisConnectionMonitor:
    """The harness's one held connection for `maxclients` and INFO's client counters."""

    refused_counter: str | None = "rejected_connections"

    def __init__(self, endpoint: Endpoint, timeout_s: float):
        host, port = primary_address(endpoint, timeout_s)
        self._r = redis.Redis(host=host, port=port, password=endpoint.password, username=endpoint.user,
                              socket_timeout=timeout_s, socket_connect_timeout=timeout_s, ssl=endpoint.tls,
                              ssl_cert_reqs="none", retry=Retry(NoBackoff(), 0), decode_responses=True)
        self._r.ping()  # the connection is open (and counted) before any pool is

    def limit(self) -> tuple[str, int]:
        value: Any = self._r.config_get("maxclients")["maxclients"]
        return "maxclients", int(value)

    def reserve(self) -> tuple[int, str]:
        return 0, "Redis admits no connection beyond maxclients, for any user"

    def counters(self) -> dict[str, int]:
        info = self._r.info("everything")
        names = ("connected_clients", "connected_slaves", "rejected_connections", "total_connections_received")
        return {k: int(info[k]) for k in names if k in info}

    @staticmethod
    def in_use(counters: dict[str, int]) -> int:
        """Connections counted against maxclients: INFO's connected_clients leaves replicas out."""
        return counters["connected_clients"] + counters.get("connected_slaves", 0)

    def close(self) -> None:
        self._r.close()


def connection_monitor(endpoint: Endpoint, timeout_s: float) -> RedisConnectionMonitor:
    return RedisConnectionMonitor(endpoint, timeout_s)
