"""The typed view of results.json that the report, compare, the notebook and the verdict record read.

results.json itself is unchanged (harness.results writes and schema-validates it); this module is the
reading side only. `load_results` validates a file (or an already parsed document) against the JSON
schema exactly as `read_results` does, then parses it into `Results`.

Tolerant by construction, so a results.json from before a block existed still reads: every field has a
default and unknown keys are kept (`extra="allow"`, available as `model_extra`), never an error. A
measure block that is absent or null in the file is an *absent* block, not None: its fields read as
None (`cell.measures.latency_ms.p99` never raises) and the block itself is falsy (`if cell.fault:`), so
"was this block recorded" and "what does it say" are both one expression. Numbers keep the type the
file has (`int | float`: a JSON 0 stays int), because the report formats an int and a float differently.

In the file the measure blocks sit flat on the cell (`cell["latency_ms"]`); here they are grouped under
`Cell.measures` (`cell.measures.latency_ms`), the rest of the cell's record beside them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from harness.contracts import OPERATION_KINDS
from harness.results import SCHEMA_ID, read_results, validate

Num = int | float  # never coerced: 0 and 0.0 render differently


def _absent_nulls(cls: type[BaseModel], data: Any) -> Any:
    """Before validation: a null Block field becomes that block's absent instance (a missing one is
    absent by its default); a null list field is an empty list."""
    if not isinstance(data, Mapping):
        return data
    out = dict(data)
    for name, f in cls.model_fields.items():
        tp = f.annotation
        if name in out and out[name] is None and isinstance(tp, type) and issubclass(tp, Block):
            out[name] = tp.absent()
        elif name in out and out[name] is None and f.default_factory is list:
            del out[name]  # a null list (steps, reasons, pods, ...) reads as empty
    return out


class Record(BaseModel):
    """A record of results.json: unknown keys kept; its Block fields absent (never None) when null."""

    model_config = ConfigDict(extra="allow")

    @model_validator(mode="before")
    @classmethod
    def _nulls_are_absent(cls, data: Any) -> Any:
        return _absent_nulls(cls, data)


class Block(Record):
    """A block of a record. `Block.absent()` stands for a block the file does not have (or has as null):
    it is falsy and every field reads as its default (None)."""

    _present: bool = PrivateAttr(default=True)

    @classmethod
    def absent(cls) -> Self:
        b = cls()
        b._present = False
        return b

    @property
    def present(self) -> bool:
        return self._present

    def __bool__(self) -> bool:
        return self._present

    def as_dict(self) -> dict[str, Any]:
        """The block as the file has it: only the keys it was given, unknown ones included."""
        return self.model_dump(exclude_unset=True) if self._present else {}


# -- the run block -----------------------------------------------------------------------------------
class Host(Block):
    cpus: int | None = None
    memory_gb: Num | None = None
    os: str | None = None


class Run(Record):
    id: str = ""
    platform: str | None = None
    platform_reason: str | None = None
    profile: str | None = None
    seed: int | None = None
    started_at: str | None = None
    finished_at: str | None = None
    status: str | None = "finished"  # absent in files from before interrupted runs were recorded
    harness_version: str | None = None
    git_sha: str | None = None
    host: Host = Field(default_factory=Host.absent)
    software: dict[str, str | None] = Field(default_factory=dict)  # server and client versions, in file order
    emulation: bool | None = None


# -- a cell's blocks ---------------------------------------------------------------------------------
class Topology(Block):
    replicas: int | None = None
    zones: list[str] = Field(default_factory=list)


class Fault(Block):
    kind: str | None = None
    target: str | None = None
    instance: str | None = None
    instances: list[str] = Field(default_factory=list)
    zone: str | None = None
    injected_at: str | None = None
    injected_at_s: Num | None = None
    duration_s: Num | None = None
    recovered_at_s: Num | None = None


class Ops(Block):
    total: Num | None = None
    ok: Num | None = None
    failed: Num | None = None
    unknown: Num | None = None


class Phases(Block):
    """A number per load phase: steady window, fault in force, after recovery."""

    steady: Num | None = None
    during_fault: Num | None = None
    after_recovery: Num | None = None


class Percentiles(Block):
    p50: Num | None = None
    p95: Num | None = None
    p99: Num | None = None
    max: Num | None = None


class Availability(Block):
    write_gap_s: Num | None = None
    rto_s: Num | None = None
    recovered: bool | None = None
    write_gap_window_s: list[Num] | None = None


class Consistency(Block):
    acked_writes: Num | None = None
    lost_writes: Num | None = None
    duplicate_seqs: Num | None = None
    seq_regressions: Num | None = None


class Generator(Block):
    """The load generator's own evidence (did it keep its schedule); absent before it was recorded."""

    valid: bool | None = None
    reasons: list[str] | None = None
    offered_ops_s: Num | None = None
    delivered_ops_s: Phases = Field(default_factory=Phases.absent)
    delivered_fraction: Phases = Field(default_factory=Phases.absent)
    schedule_lag_ms: Percentiles = Field(default_factory=Percentiles.absent)
    longest_stall_s: Num | None = None
    hub_block_s: Num | None = None


class CheckerResult(BaseModel):
    """One checker of the persisted verdict: valid, reasons, and its evidence (every other key)."""

    model_config = ConfigDict(extra="allow")

    valid: bool | None = None
    reasons: list[str] = Field(default_factory=list)

    @property
    def evidence(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class Verdict(Block):
    """The checker's composed verdict as persisted; absent in results written before it was kept."""

    valid: bool | None = None
    anomaly_types: list[str] = Field(default_factory=list)
    checkers: dict[str, CheckerResult] | None = None


class Measures(Record):
    """The measure blocks of a cell (flat on the cell in results.json)."""

    ops: Ops = Field(default_factory=Ops.absent)
    throughput_ops_s: Phases = Field(default_factory=Phases.absent)
    latency_ms: Percentiles = Field(default_factory=Percentiles.absent)
    latency_steady_ms: Percentiles = Field(default_factory=Percentiles.absent)
    response_time_ms: Percentiles = Field(default_factory=Percentiles.absent)
    availability: Availability = Field(default_factory=Availability.absent)
    consistency: Consistency = Field(default_factory=Consistency.absent)
    generator: Generator = Field(default_factory=Generator.absent)
    verdict: Verdict = Field(default_factory=Verdict.absent)


MEASURES = tuple(Measures.model_fields)


class RoleChange(BaseModel):
    """A primary change the servers themselves recorded (Sentinel, the role controller, the operator)."""

    model_config = ConfigDict(extra="allow")

    new_primary: str = "?"
    source: str = "?"
    at_s: Num | None = None  # seconds since load start


class Load(Block):
    load_start_us: Num | None = None
    load_end_us: Num | None = None
    offered_ops_s: Num | None = None


class Artifacts(Block):
    history: str | None = None
    timeline: str | None = None
    logs: str | None = None
    cell_log: str | None = None


class CellTimings(Block):
    warmup_s: Num | None = None
    before_fault_s: Num | None = None
    fault_s: Num | None = None
    observe_s: Num | None = None


# -- a day-2 operation (cell["operation"], next to the usual blocks; absent for a fault scenario) -------
class OperationStep(Record):
    """One pod's part of the operation: seconds from the measured load's start."""

    pod: str = "?"
    action: str = "?"  # restart | switchover | join | backup | restore | upgrade
    at_s: Num | None = None
    done_s: Num | None = None
    ok: bool | None = None
    detail: str = ""


class PodState(Record):
    pod: str = "?"
    role: str | None = None
    healthy: bool | None = None
    detail: str = ""


class EndState(Block):
    """After the operation, from the engines' own status: one primary, every replica caught up."""

    healthy: bool | None = None
    primaries: int | None = None
    settled_s: Num | None = None
    reasons: list[str] = Field(default_factory=list)
    pods: list[PodState] = Field(default_factory=list)


class Backup(Block):
    method: str | None = None
    source_pod: str | None = None
    size_bytes: int | None = None
    consistent_point: str | None = None
    duration_s: Num | None = None


class Hole(Record):
    """A write acknowledged before the backup's consistent point that the restored copy lacks."""

    stream: str | None = None
    id: str | None = None
    ack_s: Num | None = None


class Restore(Block):
    """The restored copy read back: `holes` are the ones that count (acknowledged before its consistent
    point); `missing` also counts writes acknowledged after it, which no backup can hold."""

    valid: bool | None = None
    duration_s: Num | None = None
    checked: int | None = None
    found: int | None = None
    missing: int | None = None
    holes: int | None = None
    consistent_point_s: Num | None = None
    stale_s: Num | None = None
    first_holes: list[Hole] = Field(default_factory=list)


class Operation(Block):
    """What a day-2 operation did and how it ended; its verdict is also verdict.checkers.operation."""

    valid: bool | None = None
    reasons: list[str] = Field(default_factory=list)
    kind: str | None = None
    source: str | None = None
    phase: str | None = None
    started_at_s: Num | None = None
    done_at_s: Num | None = None
    duration_s: Num | None = None
    within_load: bool | None = None
    steps: list[OperationStep] = Field(default_factory=list)
    primary_before: str | None = None
    primary_after: str | None = None
    primary_changes: int | None = None
    latency_during_ms: Percentiles = Field(default_factory=Percentiles.absent)
    end_state: EndState = Field(default_factory=EndState.absent)
    new_pods: list[str] = Field(default_factory=list)
    backup: Backup = Field(default_factory=Backup.absent)
    restore: Restore = Field(default_factory=Restore.absent)


class CapacityStep(Record):
    offered_ops_s: Num = 0
    delivered_ops_s: Num | None = None
    p50_ms: Num | None = None
    p99_ms: Num | None = None
    service_p99_ms: Num | None = None
    ops: int = 0
    errors: int = 0
    error_fraction: Num = 0
    generator_valid: bool = True
    generator_reasons: list[str] = Field(default_factory=list)
    generator_cpu_share: Num | None = None
    busiest_worker_cpu: Num | None = None
    server_cpu_share: Num | None = None
    sustained: bool = False
    bound: str | None = None
    why: str = ""


class Capacity(Block):
    """The capacity search (harness/capacity.py): every step and the highest sustained rate."""

    steps: list[CapacityStep] = Field(default_factory=list)
    max_sustained_ops_s: Num | None = None
    bound: str | None = None
    bound_at_ops_s: Num | None = None
    summary: str | None = None


class Config(Block):
    """The server parameters a deployment ran with (rendered) and read back live per pod (applied)."""

    source: str | None = None
    cpu: str | None = None
    memory: str | None = None
    params: dict[str, str] = Field(default_factory=dict)
    notes: dict[str, str] = Field(default_factory=dict)
    applied: dict[str, dict[str, Any]] | None = None
    mismatches: list[str] = Field(default_factory=list)


class PodUse(Record):
    pod: str = ""
    kind: str = "data"
    cpu_s: Num | None = None
    peak_rss_bytes: int | None = None
    volume_bytes: int | None = None
    source: str | None = None


class LimitsUsed(Block):
    enforced: bool | None = None
    how: str | None = None
    cpu: str | None = None
    memory: str | None = None


class Footprint(Block):
    """Each pod's CPU seconds and peak RSS in the steady window, its volume at the end."""

    window_s: Num | None = None
    limits: LimitsUsed = Field(default_factory=LimitsUsed.absent)
    pods: list[PodUse] = Field(default_factory=list)
    error: str | None = None


class ReplicaCompared(Record):
    primary: str = ""
    replica: str = ""
    method: str = ""
    compared: int = 0
    differing: list[str] = Field(default_factory=list)
    detail: str | None = None


class Divergence(Block):
    """Every replica compared with the primary after the cell (a data-safety finding)."""

    checked: bool | None = None
    reason: str | None = None
    diverged: int | None = None
    replicas: list[ReplicaCompared] = Field(default_factory=list)


class ObservedAlert(Record):
    alert: str = ""
    kind: str | None = None
    pod: str | None = None
    severity: str | None = None
    firing_from_s: Num | None = None
    resolved_at_s: Num | None = None  # None: still firing at the end


class TimeToAlert(Block):
    alert: str | None = None
    kind: str | None = None
    pod: str | None = None
    s: Num | None = None


class CheckWindow(Block):
    from_s: Num | None = None
    to_s: Num | None = None
    pod: str | None = None
    why: str | None = None


class CommandCheck(Record):
    command: str = ""
    expected: Num | None = None
    observed: Num | None = None
    diff_fraction: Num | None = None
    agree: bool | None = None


class CrossCheck(Block):
    """The client's acknowledged ops against the exporter's counters over one window."""

    valid: bool | None = None
    tolerance: Num | None = None
    reasons: list[str] = Field(default_factory=list)
    window: CheckWindow = Field(default_factory=CheckWindow.absent)
    commands: list[CommandCheck] = Field(default_factory=list)


class ObservedRoleChange(Record):
    new_primary: str = ""
    evidence_at_s: Num | None = None  # None: only Prometheus saw it
    prometheus_at_s: Num | None = None  # None: Prometheus never saw it
    delta_s: Num | None = None
    agree: bool | None = None
    source: str | None = None


class Observability(Block):
    """What one Prometheus scraping the exporters saw during the cell (its series in `series_file`)."""

    observed: bool | None = None
    missing: str | None = None
    scrape_interval_s: Num | None = None
    load_start_wall: Num | None = None
    exporters: dict[str, str] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)
    series_file: str | None = None
    alerts: list[ObservedAlert] = Field(default_factory=list)
    time_to_alert: TimeToAlert = Field(default_factory=TimeToAlert.absent)
    cross_check: CrossCheck = Field(default_factory=CrossCheck.absent)
    role_changes: list[ObservedRoleChange] = Field(default_factory=list)
    disagreements: list[str] = Field(default_factory=list)


class Cell(Record):
    """One cell (scenario x engine x mode x repeat). Unknown keys (notes, by_op, wall_s, ...) are kept."""

    scenario: str = ""
    engine: str = ""
    mode: str = ""
    repeat: int = 0
    status: str = "?"
    reason: str | None = None
    topology: Topology = Field(default_factory=Topology.absent)
    fault: Fault = Field(default_factory=Fault.absent)
    operation: Operation = Field(default_factory=Operation.absent)  # a day-2 scenario's cell only
    capacity: Capacity = Field(default_factory=Capacity.absent)  # the capacity scenario's cell only
    config: Config = Field(default_factory=Config.absent)
    footprint: Footprint = Field(default_factory=Footprint.absent)
    divergence: Divergence = Field(default_factory=Divergence.absent)
    observability: Observability = Field(default_factory=Observability.absent)  # null: not deployed / old run
    connections: dict[str, Any] | None = None  # the connection-limits scenario's cell only
    measures: Measures = Field(default_factory=Measures)
    load: Load = Field(default_factory=Load.absent)
    role_changes: list[RoleChange] = Field(default_factory=list)
    service_endpoints: dict[str, Any] | None = None  # kind/k8s endpoint evidence, read by k8s_evidence
    artifacts: Artifacts = Field(default_factory=Artifacts.absent)
    timings: CellTimings = Field(default_factory=CellTimings.absent)

    @model_validator(mode="before")
    @classmethod
    def _group_measures(cls, data: Any) -> Any:
        """results.json keeps the measure blocks flat on the cell: gather them under `measures`."""
        if not isinstance(data, Mapping) or "measures" in data:
            return data
        out = {k: v for k, v in data.items() if k not in MEASURES}
        out["measures"] = {k: data[k] for k in MEASURES if k in data}
        if out.get("role_changes") is None:
            out.pop("role_changes", None)
        return out

    @property
    def key(self) -> tuple[str, str, str]:
        return self.scenario, self.engine, self.mode

    @property
    def label(self) -> str:
        """The scenario, with `#N` for a repeat after the first (as every per-cell table shows it)."""
        return self.scenario + (f" #{self.repeat}" if self.repeat else "")


class Results(BaseModel):
    model_config = ConfigDict(extra="allow")

    schema_: str = Field(SCHEMA_ID, alias="schema")
    run: Run = Field(default_factory=Run)
    cells: list[Cell] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _null_run(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and data.get("run") is None and "run" in data:
            return {k: v for k, v in data.items() if k != "run"}
        return data


# The numbers both readers (report tables, compare) pick out of a cell; None: not measured.
def steady_throughput_ops_s(c: Cell) -> Any:
    return c.measures.throughput_ops_s.steady


def p99_ms(c: Cell) -> Any:
    return c.measures.latency_ms.p99


def rto_s(c: Cell) -> Any:
    return c.measures.availability.rto_s


def operation_kind(c: Cell) -> str | None:
    """The day-2 operation a cell stands for (its block's kind, else its fault's), None for a fault."""
    kind = c.operation.kind or c.fault.kind
    return kind if kind in OPERATION_KINDS else None


def is_day2(c: Cell) -> bool:
    """A day-2 scenario's cell, measured or not: a not-applicable one has no fault block, so its
    scenario name (the operation's, as every day-2 scenario is named) decides."""
    return operation_kind(c) is not None or c.scenario in OPERATION_KINDS


def operation_verdict(c: Cell) -> tuple[bool | None, tuple[str, ...]]:
    """(valid, reasons) of the operation checker: the block's own, else the persisted verdict's.
    None: not judged (no operation block and no operation checker)."""
    op = c.operation
    if op and op.valid is not None:
        return op.valid, tuple(op.reasons)
    checkers = c.measures.verdict.checkers or {}
    r = checkers.get("operation")
    if r is not None and r.valid is not None:
        return r.valid, tuple(r.reasons)
    return None, tuple(op.reasons)


def as_results(data: Results | Mapping[str, Any]) -> Results:
    """A Results as is; a parsed document (or a hand-made partial one) parsed without the schema check."""
    return data if isinstance(data, Results) else Results.model_validate(data)


def as_cell(cell: Cell | Mapping[str, Any]) -> Cell:
    return cell if isinstance(cell, Cell) else Cell.model_validate(cell)


def as_cells(cells: Iterable[Cell | Mapping[str, Any]]) -> list[Cell]:
    return [as_cell(c) for c in cells]


def load_results(source: Path | str | Mapping[str, Any]) -> Results:
    """A run directory, a results.json path or a parsed document: schema-validated as `read_results`
    does (a bad file is one HarnessError line), then typed."""
    if isinstance(source, Mapping):
        validate(source)
        return Results.model_validate(source)
    return Results.model_validate(read_results(Path(source)))

