"""The report's "Day-2 operations" section and the notebook's drill-down into one operation.

Pure functions over the typed results (harness.results_model), no I/O: one row per operation and engine,
kubeblocks beside statefulset, each side in words with its numbers; the steps, the end state and the
marks the timeline figure draws. An operation the checker found invalid shows its reasons and never a
number that would read as fine; a side that was not measured shows its status and reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.report.tables import MODES, engines_in, fmt, gap_verdict
from harness.results_model import Cell, Operation, Results, as_cell, as_results, is_day2, operation_verdict
from harness.verdict_record import verdict_of

ResultsLike = Results | Mapping[str, Any]
CellLike = Cell | Mapping[str, Any]

DAY2_HEADER = ("operation", "kubeblocks", "statefulset", "verdict")
STEP_HEADER = ("#", "pod", "action", "start s", "done s", "took s", "ok", "detail")
END_STATE_HEADER = ("pod", "role", "healthy", "detail")
MEASURED = ("ok", "invalid")  # statuses with numbers behind them

DAY2_NOTE = ("A day-2 operation is run to its end under the same load as a fault: its window is from its start to "
             "its end. Per side: how long it took, the longest write gap from its start, acknowledged writes lost, "
             "the p99 latency of ok ops completed during it, the primary changes, and the end state judged from the "
             "engines' own status (one primary, every replica replicating and caught up), not from the operator's "
             "word. For a backup: its duration and size; for the restore: whether the restored copy held every "
             "write acknowledged before the backup's consistent point (a write missing there is a hole). In the "
             "timelines, teal band: the operation in progress; dotted lines: its steps, labelled with the pod.")


def day2_cells(results: ResultsLike) -> list[Cell]:
    return [c for c in as_results(results).cells if is_day2(c)]


def day2_scenarios(results: ResultsLike) -> list[str]:
    return list(dict.fromkeys(c.scenario for c in day2_cells(results)))


def day2_engines(results: ResultsLike) -> list[str]:
    return engines_in(day2_cells(results))


# -- one side of a row, in words ------------------------------------------------------------------
def _size(n: Any) -> str:
    if not isinstance(n, int | float) or isinstance(n, bool):
        return "size unknown"
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{int(n)} B"


def _primaries_text(op: Operation) -> str:
    n = op.primary_changes
    before, after = op.primary_before, op.primary_after
    moved = f" ({before} → {after})" if before and after and before != after else (
        f" (stays {before})" if before and before == after else "")
    return f"primary changes {fmt(n)}{moved}"


def end_state_text(op: Operation) -> str:
    es = op.end_state
    if not es:
        return "end state not checked"
    if es.healthy:
        settled = es.settled_s
        return "end state healthy" + (f" (settled {settled:.1f} s after)" if isinstance(settled, int | float) else "")
    why = "; ".join(es.reasons) or "no reason recorded"
    return f"end state **not healthy**: {why}"


def backup_text(op: Operation) -> str | None:
    b = op.backup
    if not b:
        return None
    src = " from ".join(x for x in (b.method, b.source_pod) if x)
    point = f", consistent point {b.consistent_point}" if b.consistent_point else ""
    return f"backup {fmt(b.duration_s, ' s', 1)}, {_size(b.size_bytes)}" + (f" ({src}{point})" if src or point else "")


def restore_text(op: Operation) -> str | None:
    """The restored copy read back: holes (acknowledged before the consistent point, absent) are data
    loss; writes acknowledged after the point are missing from any backup and said so, not counted."""
    r = op.restore
    if not r:
        return None
    head = f"restore {fmt(r.duration_s, ' s', 1)}"
    at = f" ({r.consistent_point_s:.1f} s)" if isinstance(r.consistent_point_s, int | float) else ""
    holes = r.holes
    if r.valid is False or (isinstance(holes, int) and holes > 0):
        first = r.first_holes[0] if r.first_holes else None
        ex = (f" (first: {first.stream}/{first.id}, acknowledged at {fmt(first.ack_s, ' s', 1)})"
              if first is not None else "")
        what = (f"{holes} write(s) acknowledged before its consistent point{at} are **missing**{ex}"
                if isinstance(holes, int) and holes > 0 else "the restored copy **failed its check**")
        return f"{head}: {what}"
    if holes is None:
        return f"{head}: restored copy not checked"
    after = f"; {r.missing} acknowledged after it, not in any backup" if r.missing else ""
    stale = f"; stale by {r.stale_s:.1f} s" if isinstance(r.stale_s, int | float) and r.stale_s > 0 else ""
    return (f"{head}: every write acknowledged before its consistent point{at} held "
            f"({fmt(r.found)} of {fmt(r.checked)} checked found{after}{stale})")


def _gap_text(c: Cell) -> str:
    av = c.measures.availability
    if not verdict_of(c).recovered:
        return "**writes did not resume** in the window"
    if av.rto_s == 0:
        return f"no write pause (longest gap {fmt(av.write_gap_s, ' s', 2)})"
    return f"write gap {fmt(av.write_gap_s, ' s', 2)}"


def _lost_text(c: Cell) -> str:
    lost = c.measures.consistency.lost_writes
    return f"**{lost} lost writes**" if isinstance(lost, int | float) and lost > 0 else f"lost writes {fmt(lost)}"


def operation_text(cell: CellLike) -> str:
    """One side of the table: the operation's outcome in words, its numbers only when it held."""
    c = as_cell(cell)
    if c.status not in MEASURED:
        return f"{c.status}: {c.reason or 'no reason recorded'}"
    if c.status == "invalid":
        why = (c.reason or "").removeprefix("the harness could not measure this cell: ")
        return f"**not measured properly**: {why or 'no reason recorded'}"
    op = c.operation
    valid, reasons = operation_verdict(c)
    lost = c.measures.consistency.lost_writes
    if valid is False:
        extra = [r for r in op.end_state.reasons if r not in reasons] if op.end_state.healthy is False else []
        bad = [*reasons, *extra] or ["no reason recorded"]  # then only what is itself bad news
        if isinstance(lost, int | float) and lost > 0:
            bad.append(_lost_text(c))
        if (op.restore.holes or 0) > 0 or op.restore.valid is False:
            bad.append(restore_text(op) or "")
        return "**operation failed**: " + "; ".join(bad)
    if not op:
        return f"no operation record; {_gap_text(c)}; {_lost_text(c)}"
    dur = f"done in {fmt(op.duration_s, ' s', 1)}"
    if op.within_load is False:
        dur += " (**after the load had ended**: its end was not measured under load)"
    parts = [dur, _gap_text(c), _lost_text(c), f"p99 during {fmt(op.latency_during_ms.p99, ' ms', 1)}",
             _primaries_text(op), end_state_text(op)]
    if failed_steps := [f"{s.action} {s.pod}" for s in op.steps if s.ok is False]:
        parts.append("**step(s) failed**: " + ", ".join(failed_steps))
    if op.new_pods:
        parts.append("added " + ", ".join(op.new_pods))
    parts += [t for t in (backup_text(op), restore_text(op)) if t]
    if op.source:
        parts.append(f"via {op.source}" + (f", phase {op.phase}" if op.phase else ""))
    return ("not judged by the operation checker; " if valid is None else "") + "; ".join(parts)


def _verdict(kb: list[Cell], sts: list[Cell]) -> str:
    """Which side came through the operation better; only measured, valid sides are compared."""
    def held(cs: list[Cell]) -> bool:
        return bool(cs) and all(c.status == "ok" and operation_verdict(c)[0] is not False for c in cs)

    failed = [m for m, cs in zip(MODES, (kb, sts), strict=True)
              if any(c.status == "ok" and operation_verdict(c)[0] is False for c in cs)]
    if failed:
        return " and ".join(failed) + ": operation failed"
    a, b = held(kb), held(sts)
    if not a and not b:
        return "not measured"
    if a != b:
        return ("kubeblocks" if a else "statefulset") + " only"
    lost = [f"{m} lost {n} writes" for m, cs in zip(MODES, (kb, sts), strict=True)
            for n in [sum(int(c.measures.consistency.lost_writes or 0) for c in cs)] if n]
    return "; ".join([*lost, gap_verdict(kb, sts)])


def day2_rows(results: ResultsLike, engine: str) -> list[tuple[str, ...]]:
    """operation | kubeblocks | statefulset | verdict: one row per day-2 scenario (and repeat)."""
    cells = [c for c in day2_cells(results) if c.engine == engine]
    rows: list[tuple[str, ...]] = []
    for sc in day2_scenarios(results):
        for r in sorted({c.repeat for c in cells if c.scenario == sc}):
            side = {m: [c for c in cells if c.scenario == sc and c.mode == m and c.repeat == r] for m in MODES}
            label = sc + (f" #{r}" if r else "")
            texts = [" / ".join(operation_text(c) for c in side[m]) or "not run" for m in MODES]
            rows.append((label, *texts, _verdict(side["kubeblocks"], side["statefulset"])))
    return rows


# -- one operation in detail (notebook, figure) ----------------------------------------------------
def step_rows(cell: CellLike) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for i, s in enumerate(as_cell(cell).operation.steps, 1):
        took = s.done_s - s.at_s if isinstance(s.at_s, int | float) and isinstance(s.done_s, int | float) else None
        rows.append((str(i), s.pod, s.action, fmt(s.at_s, "", 1), fmt(s.done_s, "", 1), fmt(took, "", 1),
                     fmt(s.ok), s.detail))
    return rows


def end_state_rows(cell: CellLike) -> list[tuple[str, ...]]:
    return [(p.pod, p.role or "no role", fmt(p.healthy), p.detail) for p in as_cell(cell).operation.end_state.pods]


@dataclass(frozen=True)
class StepMark:
    """A step as the timeline draws it: a vertical line at its start, labelled with its pod."""

    at_s: float
    action: str
    pod: str
    ok: bool

    @property
    def label(self) -> str:
        return f"{self.action} {self.pod}" + ("" if self.ok else " (failed)")


def operation_window(cell: CellLike) -> tuple[float, float] | None:
    op = as_cell(cell).operation
    a, b = op.started_at_s, op.done_at_s
    return (float(a), float(b)) if isinstance(a, int | float) and isinstance(b, int | float) else None


def step_marks(cell: CellLike) -> list[StepMark]:
    return [StepMark(float(s.at_s), s.action, s.pod, s.ok is not False)
            for s in as_cell(cell).operation.steps if isinstance(s.at_s, int | float)]


def pick_operation_cell(results: ResultsLike) -> Cell | None:
    """The drill-down's operation: the first day-2 cell with an operation record and numbers."""
    return next((c for c in day2_cells(results) if c.status in MEASURED and c.operation), None)


def drill_summary(cell: CellLike) -> list[tuple[str, str]]:
    """The drilled-into operation's facts, one (what, value) per line."""
    c = as_cell(cell)
    op = c.operation
    valid, reasons = operation_verdict(c)
    verdict = "valid" if valid else "not judged" if valid is None else "**invalid**: " + "; ".join(reasons)
    return [
        ("cell", f"{c.label} / {c.engine} / {c.mode}"),
        ("operation", f"{op.kind} via {op.source or 'unknown'}" + (f", phase {op.phase}" if op.phase else "")),
        ("checker", verdict),
        ("window", f"{fmt(op.started_at_s, ' s', 1)} → {fmt(op.done_at_s, ' s', 1)} since load start "
                   f"({fmt(op.duration_s, ' s', 1)})"),
        ("primary", _primaries_text(op)),
        ("end state", end_state_text(op)),
        ("outcome", operation_text(c)),
    ]
