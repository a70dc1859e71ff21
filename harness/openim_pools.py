"""Which OpenIM processes open a pool to each database, and how big: the connection cell's defaults.

Data read from OpenIM's own sources (the citations are part of each row), not measured here. Redis
and MongoDB: open-im-server v3.8.3, whose `deployments/deploy/*.yml` run every service with
`replicas: 2` (HEAD 7848d7c still does, and pins the images to v3.8.3). MySQL: the v3.0-v3.4 era,
the last with MySQL, deployed by the helm charts of v3.4.0 (`replicaCount: 1`).

A process holds at most `pool_max` connections; between bursts it keeps `pool` of them open (MySQL:
database/sql keeps maxIdleConn idle; go-redis and the Mongo Go driver keep every pooled connection
until their idle timeouts). `pool` is the cell's default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from harness.errors import HarnessError

OPEN_IM_SERVER = "openimsdk/open-im-server"
OPENIM_TOOLS = "openimsdk/tools"
V383 = ("v3.8.3", "cb4ac19968ec2ff0a4621578f8a51c1c67519a10")
V340 = ("v3.4.0", "5c7e5f37be4609bc9c3717ea4c9d91bbd3e2f818")
TOOLS_ALPHA67 = ("v0.0.50-alpha.67", "64fa590d0f8235766c0d646b7ddb62bd9f135a43")  # v3.8.3's go.mod


@dataclass(frozen=True)
class Source:
    """One cited file: repository, path (with lines), tag and the commit it resolves to."""

    repo: str
    path: str
    ref: str
    commit: str
    says: str

    def cite(self) -> str:
        return f"{self.repo} {self.path} @{self.ref} ({self.commit[:7]}): {self.says}"


@dataclass(frozen=True)
class PoolUser:
    """One OpenIM Deployment whose every process opens the pool: its manifest, replicas, and the
    line of Go that opens it."""

    service: str  # the binary / manifest name, e.g. "openim-rpc-user"
    deployment: str  # metadata.name in the manifest ("user-rpc-server"); the chart name for helm
    replicas: int
    manifest: str  # path of the manifest giving `replicas`
    opened_at: str  # path:line of the initialiser call


@dataclass(frozen=True)
class OpenimPool:
    """How OpenIM opens one engine's pool, with where each fact comes from."""

    engine: str
    openim: str  # the OpenIM version these facts are for
    setting: str  # OpenIM's own name for the pool size
    pool: int  # connections a process keeps open between bursts: the cell's default
    pool_max: int  # the most one process opens under load
    users: tuple[PoolUser, ...]
    sources: tuple[Source, ...]
    refusal_seen: str  # what OpenIM's client library makes of the server's refusal
    notes: tuple[str, ...] = ()

    @property
    def services(self) -> int:
        return len(self.users)

    @property
    def processes(self) -> int:
        """Every replica is a process with its own pool: the cell's default process count."""
        return sum(u.replicas for u in self.users)

    def to_json(self) -> dict[str, Any]:
        return {"engine": self.engine, "openim": self.openim, "setting": self.setting, "pool": self.pool,
                "pool_max": self.pool_max, "services": self.services, "processes": self.processes,
                "users": [{"service": u.service, "deployment": u.deployment, "replicas": u.replicas,
                           "manifest": u.manifest, "opened_at": u.opened_at} for u in self.users],
                "sources": [s.cite() for s in self.sources], "refusal_seen": self.refusal_seen,
                "notes": list(self.notes)}


def _v383_user(service: str, deployment: str, opened_at: str) -> PoolUser:
    return PoolUser(service, deployment, 2, f"deployments/deploy/{service}-deployment.yml", opened_at)


def _v340_user(service: str, opened_at: str) -> PoolUser:
    return PoolUser(service, service, 1, f"deployments/charts/{service}/values.yaml", opened_at)


_REDIS_USERS = (
    _v383_user("openim-msggateway", "messagegateway-rpc-server", "internal/msggateway/init.go:45"),
    _v383_user("openim-msgtransfer", "openim-msgtransfer-server", "internal/msgtransfer/init.go:81"),
    _v383_user("openim-push", "push-rpc-server", "internal/push/push.go:48"),
    _v383_user("openim-rpc-auth", "auth-rpc-server", "internal/rpc/auth/auth.go:59"),
    _v383_user("openim-rpc-conversation", "conversation-rpc-server", "internal/rpc/conversation/conversation.go:73"),
    _v383_user("openim-rpc-friend", "friend-rpc-server", "internal/rpc/relation/friend.go:74"),
    _v383_user("openim-rpc-group", "group-rpc-server", "internal/rpc/group/group.go:85"),
    _v383_user("openim-rpc-msg", "msg-rpc-server", "internal/rpc/msg/server.go:83"),
    _v383_user("openim-rpc-third", "third-rpc-server", "internal/rpc/third/third.go:66"),
    _v383_user("openim-rpc-user", "user-rpc-server", "internal/rpc/user/user.go:84"),
)

_MONGO_USERS = (
    _v383_user("openim-msgtransfer", "openim-msgtransfer-server", "internal/msgtransfer/init.go:77"),
    _v383_user("openim-rpc-conversation", "conversation-rpc-server", "internal/rpc/conversation/conversation.go:69"),
    _v383_user("openim-rpc-friend", "friend-rpc-server", "internal/rpc/relation/friend.go:70"),
    _v383_user("openim-rpc-group", "group-rpc-server", "internal/rpc/group/group.go:81"),
    _v383_user("openim-rpc-msg", "msg-rpc-server", "internal/rpc/msg/server.go:79"),
    _v383_user("openim-rpc-third", "third-rpc-server", "internal/rpc/third/third.go:62"),
    _v383_user("openim-rpc-user", "user-rpc-server", "internal/rpc/user/user.go:80"),
)

_MYSQL_USERS = (
    _v340_user("openim-msgtransfer", "internal/msgtransfer/init.go:51"),
    _v340_user("openim-rpc-conversation", "internal/rpc/conversation/conversaion.go:46"),
    _v340_user("openim-rpc-friend", "internal/rpc/friend/friend.go:55"),
    _v340_user("openim-rpc-group", "internal/rpc/group/group.go:61"),
    _v340_user("openim-rpc-third", "internal/rpc/third/third.go:58"),
    _v340_user("openim-rpc-user", "internal/rpc/user/user.go:58"),
)

_V383_MANIFESTS = Source(OPEN_IM_SERVER, "deployments/deploy/openim-*-deployment.yml", *V383,
                         "11 Deployments (api, msggateway, msgtransfer, push, rpc-auth/-conversation/-friend/"
                         "-group/-msg/-third/-user), each `replicas: 2`, image tag v3.8.3")
_V383_PORTS = Source(OPEN_IM_SERVER, "deployments/deploy/openim-config.yml", *V383,
                     "one port per service (e.g. openim-rpc-user.yml `ports: [ 10320 ]`): one process per pod")

POOLS: Mapping[str, OpenimPool] = MappingProxyType({
    "redis": OpenimPool(
        engine="redis", openim="open-im-server v3.8.3", setting="redis.yml poolSize", pool=100, pool_max=100,
        users=_REDIS_USERS,
        sources=(
            _V383_MANIFESTS, _V383_PORTS,
            Source(OPEN_IM_SERVER, "deployments/deploy/openim-config.yml:434 (redis.yml)", *V383, "poolSize: 100"),
            Source(OPEN_IM_SERVER, "internal/*/ (the opened_at lines)", *V383,
                   "redisutil.NewRedisClient(ctx, config.RedisConfig.Build()) in 10 services; not in openim-api"),
            Source(OPENIM_TOOLS, "db/redisutil/redis.go:46,56", *TOOLS_ALPHA67,
                   "PoolSize: config.PoolSize on go-redis v9.4.0's cluster and single-node clients"),
        ),
        refusal_seen="go-redis returns `ERR max number of clients reached` to the command that needed a new "
                     "connection: that call fails, calls on the process's already open connections still work",
        notes=("HEAD (7848d7c) opens Redis in the same 10 services through pkg/dbbuild; its added openim-crontask "
               "Deployment (replicas 2) opens no pool (etcd only).",
               "Pub/sub subscriptions (pkg/rpccache/subscriber.go local-cache invalidation, pkg/rpccache/online.go) "
               "hold go-redis PubSub connections outside the pool: not in the default."),
    ),
    "mongodb": OpenimPool(
        engine="mongodb", openim="open-im-server v3.8.3", setting="mongodb.yml maxPoolSize", pool=100, pool_max=100,
        users=_MONGO_USERS,
        sources=(
            _V383_MANIFESTS, _V383_PORTS,
            Source(OPEN_IM_SERVER, "deployments/deploy/openim-config.yml:57 (mongodb.yml)", *V383, "maxPoolSize: 100"),
            Source(OPEN_IM_SERVER, "internal/*/ (the opened_at lines)", *V383,
                   "mongoutil.NewMongoDB(ctx, config.MongodbConfig.Build()) in 7 services"),
            Source(OPENIM_TOOLS, "db/mongoutil/mongo.go:64", *TOOLS_ALPHA67,
                   "options.Client().ApplyURI(uri).SetMaxPoolSize(maxPoolSize) (mongo-driver v1.14.0)"),
        ),
        refusal_seen="mongod closes a connection over its limit without a reply (its log: \"connection refused because "
                     "too many open connections\"): the Go driver gets a network error on that connection and the "
                     "operation that needed it fails",
        notes=("HEAD (7848d7c): openim-rpc-auth and openim-push also open MongoDB, but only when Redis is disabled "
               "(pkg/dbbuild; internal/rpc/auth/auth.go, internal/push/push.go).",
               "The Go driver also keeps monitoring connections per server outside the pool: not in the default."),
    ),
    "mysql": OpenimPool(
        engine="mysql", openim="open-im-server v3.4.0 (MySQL removed in v3.4.2/v3.5.0)",
        setting="config.yaml mysql.maxIdleConn (maxOpenConn the most)", pool=100, pool_max=1000,
        users=_MYSQL_USERS,
        sources=(
            Source(OPEN_IM_SERVER, "deployments/charts/helmfile.yaml", *V340,
                   "11 releases (api, msggateway, msgtransfer, push, rpc-auth/-conversation/-friend/-group/-msg/"
                   "-third/-user); no crontask"),
            Source(OPEN_IM_SERVER, "deployments/charts/openim-*/values.yaml", *V340, "replicaCount: 1"),
            Source(OPEN_IM_SERVER, "config/config.yaml:52-54", *V340, "maxOpenConn: 1000, maxIdleConn: 100, maxLifeTime: 60"),
            Source(OPEN_IM_SERVER, "deployments/templates/openim.yaml:52-53 + scripts/install/environment.sh:173-174",
                   *V340, "the helm config: MYSQL_MAX_OPEN_CONN 1000, MYSQL_MAX_IDLE_CONN 100"),
            Source(OPEN_IM_SERVER, "pkg/common/db/relation/mysql_init.go:73-74", *V340,
                   "sqlDB.SetMaxOpenConns(MaxOpenConn); sqlDB.SetMaxIdleConns(MaxIdleConn) in NewGormDB"),
            Source(OPEN_IM_SERVER, "internal/*/ (the opened_at lines)", *V340,
                   "relation.NewGormDB() in 6 services (the same 6 at v3.0.0)"),
        ),
        refusal_seen="gorm (go-sql-driver v1.7.1) returns `Error 1040: Too many connections` to the query that "
                     "needed a new connection (MariaDB refuses root before the handshake, so no SQLSTATE): that RPC "
                     "fails, queries on the process's already open connections still work",
        notes=("openim-crontask (internal/tools/msg.go:75) also calls NewGormDB but has no chart at v3.4.0.",
               "Under load a process may open up to maxOpenConn 1000; it keeps maxIdleConn 100 between bursts."),
    ),
})


def pool_of(engine: str) -> OpenimPool:
    """OpenIM's pool facts for `engine`; an engine without any is one clear line."""
    pool = POOLS.get(engine)
    if pool is None:
        raise HarnessError(f"no OpenIM pool facts for engine {engine!r}; known: {', '.join(POOLS)}")
    return pool
