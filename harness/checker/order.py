"""Seq order per stream: a seq acknowledged for two different ids (`duplicate_seqs`), and a seq
acknowledged at or below one acknowledged before its op was invoked (`seq_regressions`, real-time
order: includes "a seq acknowledged after failover <= one acknowledged before it").

Valid when there is neither.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from harness.checker.lost import is_acked_stream_write

MAX_EVIDENCE = 1000

AckedSeq = tuple[int, int, int, str]  # invoke_us, complete_us, seq, id


@dataclass(frozen=True)
class Duplicate:
    stream: str
    seq: int
    ids: tuple[str, ...]


@dataclass(frozen=True)
class Regression:
    stream: str
    seq: int
    id: str
    prior_max_seq: int
    invoked_at_us: int


def regressions(ops: list[AckedSeq], stream: str) -> list[Regression]:
    """Acked writes of one stream whose seq is <= the highest seq completed before they were invoked."""
    by_complete = sorted(ops, key=lambda o: o[1])
    out: list[Regression] = []
    j, prior_max = 0, None
    for inv, _c, seq, oid in sorted(ops):
        while j < len(by_complete) and by_complete[j][1] < inv:
            s = by_complete[j][2]
            prior_max = s if prior_max is None else max(prior_max, s)
            j += 1
        if prior_max is not None and seq <= prior_max:
            out.append(Regression(stream, seq, oid, prior_max, inv))
    return out


@dataclass(frozen=True)
class OrderResult:
    streams: int
    duplicate_seqs: int
    seq_regressions: int
    duplicates: tuple[Duplicate, ...] = field(default=())  # the first MAX_EVIDENCE
    regressions: tuple[Regression, ...] = field(default=())

    @property
    def valid(self) -> bool:
        return self.duplicate_seqs == 0 and self.seq_regressions == 0

    @property
    def reasons(self) -> tuple[str, ...]:
        out = []
        if self.duplicate_seqs:
            out.append(f"{self.duplicate_seqs} seqs were acknowledged for two or more different messages")
        if self.seq_regressions:
            out.append(f"{self.seq_regressions} acknowledged seqs were <= one acknowledged before them")
        return tuple(out)

    @property
    def anomalies(self) -> tuple[str, ...]:
        return tuple(k for k, n in (("duplicate_seqs", self.duplicate_seqs), ("seq_regressions", self.seq_regressions))
                     if n)

    def to_results(self) -> dict[str, Any]:
        return {"valid": self.valid, "reasons": list(self.reasons), "streams": self.streams,
                "duplicate_seqs": self.duplicate_seqs, "seq_regressions": self.seq_regressions}


def judge_order(streams: dict[str, list[AckedSeq]]) -> OrderResult:
    dups: list[Duplicate] = []
    regs: list[Regression] = []
    n_dups = n_regs = 0
    for stream, ops in streams.items():
        ids_by_seq: dict[int, set[str]] = defaultdict(set)
        for _i, _c, seq, oid in ops:
            ids_by_seq[seq].add(oid)
        for seq, ids in ids_by_seq.items():
            if len(ids) > 1:
                n_dups += 1
                if len(dups) < MAX_EVIDENCE:
                    dups.append(Duplicate(stream, seq, tuple(sorted(ids))))
        r = regressions(ops, stream)
        n_regs += len(r)
        regs.extend(r[: max(0, MAX_EVIDENCE - len(regs))])
    return OrderResult(len(streams), n_dups, n_regs, tuple(dups), tuple(regs))


class OrderChecker:
    name = "order"

    def __init__(self) -> None:
        self.streams: dict[str, list[AckedSeq]] = defaultdict(list)

    wants_invokes = False  # judged from completions only: the pass skips it for invokes

    def invoke(self, fi: int, r: dict[str, Any]) -> None:
        pass

    def complete(self, fi: int, r: dict[str, Any]) -> None:
        if is_acked_stream_write(r):
            v = r["value"]
            if v.get("seq") is not None:
                self.streams[v["stream"]].append((r["inv_us"], r["t_us"], int(v["seq"]), str(v["id"])))

    def result(self) -> OrderResult:
        return judge_order(self.streams)
