"""Pure readers for the replica divergence check on kind/k8s: what the engines' clients print over
`kubectl exec` (mysql -N -B, redis-cli's raw output, mongosh's JSON line), and the redis-cli command
lines the digest step feeds in. No I/O; tested on real client output and on canned output."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable

from harness.contracts import PodInfo
from harness.errors import HarnessError
from harness.platforms.k8s_day2_parse import _kv, _names_pod, load_json
from harness.platforms.replica_compare import REDIS_DIGEST_BATCH, REDIS_DIGEST_LUA, quote_table

# -- mysql ---------------------------------------------------------------------------------------
# MySQL 8 prints long GTID sets with a newline after each comma; the query removes them (batch mode
# would print them as a literal \n).
MYSQL_POSITION_SQL = "SELECT 'gtid_executed', REPLACE(@@global.gtid_executed, '\\n', '');\n"


def gtid_set(text: str) -> dict[str, list[tuple[int, int]]]:
    """MySQL's `uuid:1-5:7,uuid2:1-3` (8.4's tagged `uuid:tag:1-5` too) -> source -> intervals."""
    out: dict[str, list[tuple[int, int]]] = {}
    for part in text.replace("\n", "").split(","):
        fields = [f.strip() for f in part.strip().split(":")]
        if not fields[0]:
            continue
        source, tag = fields[0].lower(), ""
        for f in fields[1:]:
            if f and not f[0].isdigit():
                tag = f
                continue
            lo, _, hi = f.partition("-")
            out.setdefault(f"{source}:{tag}" if tag else source, []).append((int(lo), int(hi or lo)))
    return out


def gtid_missing(written: dict[str, list[tuple[int, int]]], applied: dict[str, list[tuple[int, int]]]) -> int:
    """How many transactions of `written` are not in `applied` (both as gtid_set returns them)."""
    missing = 0
    for source, intervals in written.items():
        have = applied.get(source, [])
        for lo, hi in intervals:
            covered = sum(max(0, min(hi, h) - max(lo, low) + 1) for low, h in have)
            missing += (hi - lo + 1) - covered
    return missing


def _tagged(text: str, tag: str) -> list[list[str]]:
    """Rows of `mysql -N -B` output whose first column is `tag`, without it."""
    return [line.split("\t")[1:] for line in text.splitlines() if line.split("\t", 1)[0] == tag]


def mysql_lag(primary_out: str, replica_out: str) -> str | None:
    """None when the replica's gtid_executed holds every transaction of the primary's."""
    p, r = _tagged(primary_out, "gtid_executed"), _tagged(replica_out, "gtid_executed")
    if not p or not r:
        return f"no answer from mysql on the {'primary' if not p else 'replica'}"
    written, applied = (rows[0][0] if rows[0] else "" for rows in (p, r))
    behind = gtid_missing(gtid_set(written), gtid_set(applied))
    if not behind:
        return None
    return f"primary gtid_executed {written or '-'}, replica gtid_executed {applied or '-'} ({behind} transactions behind)"


def mysql_tables(out: str) -> set[str]:
    """`schema<TAB>table` rows (replica_compare.TABLES_SQL) -> {"schema.table"}."""
    return {f"{row[0]}.{row[1]}" for row in (line.split("\t") for line in out.splitlines()) if len(row) == 2}


def mysql_checksums(out: str, tables: Collection[str]) -> dict[str, str]:
    """`CHECKSUM TABLE` rows -> table -> checksum (NULL: the pod has no such table, left out). Every asked
    table answers a row: fewer means the statement failed part-way."""
    rows = [line.split("\t") for line in out.splitlines() if "\t" in line]
    if len(rows) < len(tables):
        raise HarnessError(f"CHECKSUM TABLE answered {len(rows)} of {len(tables)} tables")
    return {row[0]: row[1] for row in rows if row[1] != "NULL"}


def mysql_counts_sql(tables: Iterable[str]) -> str:
    """One tagged COUNT(*) per table (run with --force: a table one side lacks only loses its row)."""
    return "".join(f"SELECT 'rows', '{t.replace(chr(39), chr(39) * 2)}', COUNT(*) FROM {quote_table(*t.split('.', 1))};\n"
                   for t in tables)


def mysql_counts(out: str) -> dict[str, str]:
    return {row[0]: row[1] for row in _tagged(out, "rows") if len(row) == 2}


# -- redis ---------------------------------------------------------------------------------------
_DIGEST = re.compile(r"^[a-z]+:[0-9a-f]{40}$")


def redis_lag(primary_info: str, replica_info: str, primary: PodInfo) -> str | None:
    """From both pods' `INFO replication`: None once the replica, linked to the primary, has applied
    the primary's master_repl_offset (read before the replica's)."""
    p, r = _kv(primary_info, ":"), _kv(replica_info, ":")
    written = p.get("master_repl_offset", "")
    if p.get("role") != "master" or not written.isdigit():
        return f"{primary.name} answers no master offset (role {p.get('role', '?')})"
    if r.get("role") != "slave" or not _names_pod(r.get("master_host", ""), primary):
        return f"not a replica of {primary.name} (role {r.get('role', '?')}, master_host {r.get('master_host', '?')})"
    applied = r.get("slave_repl_offset", "")
    if r.get("master_link_status") == "up" and applied.isdigit() and int(applied) >= int(written):
        return None
    return (f"primary master_repl_offset {written}, replica slave_repl_offset {applied or '?'} "
            f"(link {r.get('master_link_status', '?')})")


def redis_keys(out: str) -> tuple[int | None, set[str]]:
    """`DBSIZE` then `--scan`'s keys, one per line -> (DBSIZE, keys)."""
    lines = out.split("\n")
    size = lines[0].strip()
    return (int(size) if size.isdigit() else None), {k for k in lines[1:] if k}


def redis_quote(text: str) -> str:
    """A double-quoted argument as redis-cli splits its input lines (sdssplitargs: \\" \\\\ \\n \\xHH)."""
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif " " <= ch <= "~":
            out.append(ch)
        else:
            out.extend(f"\\x{b:02x}" for b in ch.encode())
    return '"' + "".join(out) + '"'


def redis_digest_commands(keys: list[str]) -> str:
    """redis-cli's stdin: one `EVAL_RO <digest script> n keys...` line per batch."""
    lua = redis_quote(REDIS_DIGEST_LUA)
    return "".join(f"EVAL_RO {lua} {len(batch)} {' '.join(redis_quote(k) for k in batch)}\n"
                   for batch in (keys[i:i + REDIS_DIGEST_BATCH] for i in range(0, len(keys), REDIS_DIGEST_BATCH)))


def redis_digests(keys: list[str], out: str) -> dict[str, str]:
    """redis-cli's raw answers (one digest a line, in the keys' order) -> key -> digest."""
    lines = [line.strip() for line in out.splitlines() if line.strip()]
    digests = [line for line in lines if _DIGEST.match(line)]
    if len(digests) != len(keys):
        odd = next((line for line in lines if not _DIGEST.match(line)), "")
        raise HarnessError(f"redis-cli gave {len(digests)} digests for {len(keys)} keys" + (f": {odd[:200]}" if odd else ""))
    return dict(zip(keys, digests, strict=True))


# -- mongodb -------------------------------------------------------------------------------------
def mongodb_lag(primary_out: str, replica_out: str) -> str | None:
    """From each member's lastWrite optime `{t, i}`: None once the replica's is not older."""
    p, r = (load_json(text.strip().splitlines()[-1] if text.strip() else "") for text in (primary_out, replica_out))
    if not isinstance(p.get("t"), int) or not isinstance(r.get("t"), int):
        return f"no optime from the {'primary' if not isinstance(p.get('t'), int) else 'replica'}"
    if (r["t"], r.get("i", 0)) >= (p["t"], p.get("i", 0)):
        return None
    return f"primary lastWrite {p['t']}.{p.get('i', 0)}, replica lastWrite {r['t']}.{r.get('i', 0)}"


def mongodb_hashes(out: str) -> dict[str, str]:
    """The `{"db.collection": md5}` line of the dbHash script."""
    data = load_json(out.strip().splitlines()[-1] if out.strip() else "")
    if not data:
        raise HarnessError("dbHash gave no answer")
    return {str(k): str(v) for k, v in data.items()}
