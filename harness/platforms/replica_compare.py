"""Replica divergence: every replica compared with the primary once it has caught up, the same way on
every platform (the `DivergenceCheck` of harness/contracts.py).

Why: KubeBlocks' MySQL runs `slave_exec_mode=IDEMPOTENT` (a replica skips duplicate-key and
missing-row errors of row events instead of stopping) and semi-sync falls back to async after its
timeout, so a replica can differ from its primary while its replication status says healthy. Only a
comparison of the data shows it; the report lists it next to lost writes.

This module is the platform-neutral part: the driver (wait for catch-up with a deadline, compare,
re-check what differed), the deterministic key sample, and the engine-side pieces both platforms run
unchanged (the table listing SQL, the Redis value digest script). The engines' I/O lives in
harness/platforms/local/<server>_divergence.py and harness/platforms/k8s_divergence.py.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from harness.contracts import ReplicaDivergence
from harness.errors import DeployError, HarnessError

# What stands in `differing` when a replica could not be compared (its positions are in `detail`).
NOT_CAUGHT_UP = "not caught up"
NOT_COMPARED = "not compared"
NO_PRIMARY = "no primary"
KEY_COUNT = "(key count)"  # redis: DBSIZE differs (keys outside the sample may differ too)
MAX_NAMED = 10  # names kept in `differing`; the count is in `detail`
SAMPLE_KEYS = 500  # redis: keys sampled from each side
# A replica has this long to apply what the primary wrote; after a cell the load has stopped, so a
# healthy replica needs well under a second (async fallback after a fault: seconds of backlog).
CATCH_UP_S = 30.0
RECHECK_S = 10.0  # before the second look at what differed, the replica catches up again

# mysql: schemas that are the server's own (or the operator's health checks), never the workload's
SYSTEM_SCHEMAS = ("mysql", "information_schema", "performance_schema", "sys", "kubeblocks")
# KubeBlocks' MySQL probe (lorry) upserts its probe time into this table on the primary every probe
OPERATOR_TABLES = ("kb_health_check",)
TABLES_SQL = ("SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES WHERE TABLE_TYPE = 'BASE TABLE' "
              f"AND TABLE_SCHEMA NOT IN ({', '.join(repr(s) for s in SYSTEM_SCHEMAS)}) "
              f"AND TABLE_NAME NOT IN ({', '.join(repr(t) for t in OPERATOR_TABLES)}) "
              "ORDER BY TABLE_SCHEMA, TABLE_NAME")

# redis: one digest per key of its type and content, read-only (EVAL_RO runs on a replica). Content, not
# DUMP: a replica loaded from an RDB may encode the same hash or set differently (listpack vs
# hashtable, member order), and DUMP's bytes follow the encoding. TTLs are ignored (they tick).
REDIS_DIGEST_LUA = (
    "local out = {} "
    "for i, k in ipairs(KEYS) do "
    "local t = redis.call('TYPE', k)['ok'] local p = {} "
    "local function add(s) p[#p + 1] = #s .. ':' .. s end "
    "if t == 'string' then add(redis.call('GET', k)) "
    "elseif t == 'hash' then local a = redis.call('HGETALL', k) local f = {} "
    "for j = 1, #a, 2 do f[#f + 1] = #a[j] .. ':' .. a[j] .. #a[j + 1] .. ':' .. a[j + 1] end "
    "table.sort(f) for _, s in ipairs(f) do add(s) end "
    "elseif t == 'set' then local m = redis.call('SMEMBERS', k) table.sort(m) for _, s in ipairs(m) do add(s) end "
    "elseif t == 'zset' then for _, s in ipairs(redis.call('ZRANGE', k, 0, -1, 'WITHSCORES')) do add(s) end "
    "elseif t == 'list' then for _, s in ipairs(redis.call('LRANGE', k, 0, -1)) do add(s) end "
    "elseif t == 'stream' then for _, e in ipairs(redis.call('XRANGE', k, '-', '+')) do add(e[1]) "
    "for _, s in ipairs(e[2]) do add(s) end end end "
    "out[i] = t .. ':' .. redis.sha1hex(table.concat(p)) end "
    "return out")
REDIS_DIGEST_BATCH = 100  # keys per EVAL_RO: one script call stays well under a millisecond per key
REDIS_ABSENT = "none:da39a3ee5e6b4b0d3255bfef95601890afd80709"  # the digest of a key that is not there


@dataclass(frozen=True)
class Comparison:
    """One look at a replica and its primary: what was compared and every name that differed."""

    compared: int
    differing: tuple[str, ...]  # all of them, sorted (the report keeps the first MAX_NAMED)
    detail: str = ""


def sample(names: Iterable[str], k: int = SAMPLE_KEYS) -> list[str]:
    """The `k` names with the smallest SHA-1: deterministic, and the same pick from two sides that hold
    the same names, so a name only one side has shows up only when it falls among the smallest."""
    return sorted(set(names), key=lambda n: (hashlib.sha1(n.encode()).digest(), n))[:k]


def differing(primary: Mapping[str, str], replica: Mapping[str, str], names: Iterable[str]) -> tuple[str, ...]:
    """The names whose digest differs, a name missing on one side included."""
    return tuple(sorted(n for n in set(names) if primary.get(n) != replica.get(n)))


def quote_table(schema: str, table: str) -> str:
    """`schema`.`table` with backticks doubled, for CHECKSUM TABLE / COUNT(*)."""
    return ".".join("`" + part.replace("`", "``") + "`" for part in (schema, table))


def checksum_sql(tables: Iterable[str]) -> str:
    """CHECKSUM TABLE of `schema.table` names (a table absent on the server answers NULL)."""
    return "CHECKSUM TABLE " + ", ".join(quote_table(*t.split(".", 1)) for t in tables)


def no_primary(replicas: Sequence[str], method: str, why: str) -> list[ReplicaDivergence]:
    return [ReplicaDivergence("?", r, method, 0, (NO_PRIMARY,), why) for r in replicas]


Wait = Callable[[str, Callable[[], bool], float], None]  # (what, ready, timeout_s): raises when it gave up


def check_replicas(primary: str, replicas: Sequence[str], method: str, *, lag: Callable[[str], str | None],
                   compare: Callable[[str, Collection[str] | None], Comparison], wait: Wait,
                   catch_up_s: float = CATCH_UP_S, clock: Callable[[], float] = time.monotonic) -> list[ReplicaDivergence]:
    """Waits (up to `catch_up_s`) until each replica has applied what the primary wrote, then compares it.

    `lag(replica)`: None once caught up, else the positions (why not yet). `compare(replica, only)`: one
    look, restricted to `only` on the second one. A difference counts only when it is there on both
    looks, each after a catch-up: a write that landed between the two sides' reads is not divergence.
    A replica that never caught up is reported as such, with its positions, and not compared."""
    pending = list(replicas)
    behind: dict[str, str] = {}
    took: dict[str, float] = {}
    t0 = clock()

    def caught_up() -> bool:
        for r in list(pending):
            why = lag(r)
            if why is None:
                pending.remove(r)
                took[r] = clock() - t0
            else:
                behind[r] = why
        return not pending

    _wait(wait, f"every replica applied what {primary} wrote", caught_up, catch_up_s)
    out: list[ReplicaDivergence] = []
    for r in replicas:
        if r in pending:
            out.append(ReplicaDivergence(primary, r, method, 0, (NOT_CAUGHT_UP,),
                                         f"not caught up within {catch_up_s:g} s: {behind.get(r, '?')}"))
            continue
        try:
            out.append(_compared(primary, r, method, lag, compare, wait, took[r]))
        except HarnessError as e:
            out.append(ReplicaDivergence(primary, r, method, 0, (NOT_COMPARED,), str(e)))
    return out


def _compared(primary: str, replica: str, method: str, lag: Callable[[str], str | None],
              compare: Callable[[str, Collection[str] | None], Comparison], wait: Wait, took: float) -> ReplicaDivergence:
    first = compare(replica, None)
    found, note = first.differing, ""
    if found:
        again = _wait(wait, f"{replica} applied what {primary} wrote (again, before the re-check)",
                      lambda: lag(replica) is None, RECHECK_S)
        if again:
            second = set(compare(replica, found).differing)
            gone = [n for n in found if n not in second]
            found = tuple(n for n in found if n in second)
            note = "; re-checked after a second catch-up" + (f": {len(gone)} equal by then, not counted" if gone else "")
        else:
            note = "; not re-checked (the replica fell behind again)"
    named = found[:MAX_NAMED]
    more = f"; {len(found)} differ, the first {MAX_NAMED} named" if len(found) > MAX_NAMED else ""
    return ReplicaDivergence(primary, replica, method, first.compared, named,
                             f"caught up after {took:.2f} s; {first.detail}{more}{note}")


def _wait(wait: Wait, what: str, ready: Callable[[], bool], timeout_s: float) -> bool:
    try:
        wait(what, ready, timeout_s)
    except (HarnessError, DeployError):
        return False
    return True
