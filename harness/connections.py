"""The connection-limit cell's measurement: OpenIM's pools opened process by process against the
server's limit, with the server's own counters as the independent source.

No load runs in this cell. The harness's own connection (the monitor that reads the counters, opened
first) and any other client of the deployment (a replica, Sentinels, a role controller) are in the
baseline: they take slots from OpenIM just as they would in production.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from harness import engines
from harness.errors import HarnessError
from harness.openim_pools import pool_of
from harness.workload.connpool import ConnectionMonitor, HeldConnections, ensure_fd_budget

if TYPE_CHECKING:
    from harness.contracts import Endpoint
    from harness.engines.base import Engine

# Bounds of a plan: the settings' limits (harness/config.py quotes them in its error line)
PROCESSES_BOUNDS = (1, 200)  # OpenIM's own deployment has 6-20 processes per database
POOL_BOUNDS = (1, 1000)  # up to OpenIM v3.4's MySQL maxOpenConn
WANTED_MAX = 50_000  # connections held at once: a socket each here, and a server thread each on MariaDB
CONNECT_TIMEOUT_S = 5.0  # one connect + auth on loopback / in-cluster takes milliseconds; a refusal is immediate
SETTLE_TIMEOUT_S = 30.0  # closed connections leave the server's count: MariaDB's threads end asynchronously
SETTLE_POLL_S = 0.05


@dataclass(frozen=True)
class ConnectionsPlan:
    """How many OpenIM processes share the database and how many connections each one's pool opens."""

    processes: int
    pool: int
    source: str  # where the two numbers come from

    def __post_init__(self) -> None:
        for name, value, (lo, hi) in (("processes", self.processes, PROCESSES_BOUNDS), ("pool", self.pool, POOL_BOUNDS)):
            if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
                raise HarnessError(f"connections.{name} must be an integer in [{lo}, {hi}], got {value!r}")
        if self.wanted > WANTED_MAX:
            raise HarnessError(f"connections: processes x pool = {self.wanted} exceeds {WANTED_MAX} connections")

    @property
    def wanted(self) -> int:
        return self.processes * self.pool

    @classmethod
    def default(cls, engine: str) -> ConnectionsPlan:
        """OpenIM's own deployment: every replica of every service that opens the pool, at OpenIM's size."""
        return cls.from_settings(engine)

    @classmethod
    def from_settings(cls, engine: str, processes: int | None = None, pool: int | None = None) -> ConnectionsPlan:
        """Settings where given, OpenIM's own numbers (harness/openim_pools.py) for the rest."""
        facts = pool_of(engine)
        own_processes = f"{facts.services} services x replicas = {facts.processes} processes ({facts.openim})"
        own_pool = f"{facts.setting} {facts.pool}"
        parts = [f"processes {processes} from settings (OpenIM's deployment: {facts.processes})" if processes is not None
                 else own_processes,
                 f"pool {pool} from settings (OpenIM: {own_pool})" if pool is not None else own_pool]
        return cls(processes=facts.processes if processes is None else processes,
                   pool=facts.pool if pool is None else pool, source="; ".join(parts))


@dataclass(frozen=True)
class ServerLimit:
    name: str  # the server's own name: max_connections, maxclients, connections.current+available
    value: int
    reserve: int  # admitted beyond `value` for the harness's user (MariaDB: 1 for SUPER / CONNECTION ADMIN)
    reserve_note: str


@dataclass(frozen=True)
class ConnectionsResult:
    """What the cell measured; `disagreements` says where the client's counts and the server's differ."""

    processes: int
    pool: int
    source: str
    wanted: int
    opened: int
    refused: int  # the server's limit refusals, as the client saw them
    errors: int  # other failures (timeouts, resets): not refusals
    per_process_opened: tuple[int, ...]
    per_process_refused: tuple[int, ...]
    server_limit: ServerLimit
    baseline: int  # connections counted against the limit before the pools (the harness's monitor included)
    sockets_per_connection: int
    server_opened: int  # the server's own count: in use while the pools were held, minus the baseline
    server_refused: int | None  # the server's refusal counter's increase; None when it keeps none
    refused_counter: str | None
    returned_to_baseline: bool
    counters_before: dict[str, int] = field(default_factory=dict)
    counters_during: dict[str, int] = field(default_factory=dict)
    counters_after: dict[str, int] = field(default_factory=dict)
    first_refusal: str | None = None
    first_error: str | None = None
    openim_sees: str = ""
    disagreements: tuple[str, ...] = ()

    @property
    def headroom(self) -> int:
        """Connections the server had left for OpenIM: its limit (+ reserve) minus the baseline."""
        return self.server_limit.value + self.server_limit.reserve - self.baseline

    @property
    def expected_opened(self) -> int:
        return min(self.wanted, max(0, self.headroom) // self.sockets_per_connection)

    @property
    def agrees(self) -> bool:
        return not self.disagreements

    def spread(self) -> str:
        """Which processes got their pool: "processes 1-3 got all 100, process 4 got 47, processes 5-20 got none"."""
        return spread(self.per_process_opened, self.pool)

    def to_results(self) -> dict[str, Any]:
        return {
            "processes": self.processes, "pool": self.pool, "source": self.source, "wanted": self.wanted,
            "opened": self.opened, "refused": self.refused, "errors": self.errors,
            "per_process_opened": list(self.per_process_opened), "per_process_refused": list(self.per_process_refused),
            "spread": self.spread(),
            "server_limit": {"name": self.server_limit.name, "value": self.server_limit.value,
                             "reserve": self.server_limit.reserve, "reserve_note": self.server_limit.reserve_note},
            "baseline": self.baseline, "headroom": self.headroom, "expected_opened": self.expected_opened,
            "sockets_per_connection": self.sockets_per_connection,
            "server_opened": self.server_opened, "server_refused": self.server_refused,
            "refused_counter": self.refused_counter,
            "server_counters": {"before": dict(self.counters_before), "during": dict(self.counters_during),
                                "after": dict(self.counters_after)},
            "returned_to_baseline": self.returned_to_baseline, "agrees": self.agrees,
            "disagreements": list(self.disagreements),
            "first_refusal": self.first_refusal, "first_error": self.first_error, "openim_sees": self.openim_sees,
        }

    @classmethod
    def from_results(cls, data: dict[str, Any]) -> ConnectionsResult:
        """The inverse of `to_results` (derived fields are recomputed, not read)."""
        lim = data["server_limit"]
        counters = data.get("server_counters", {})
        return cls(
            processes=data["processes"], pool=data["pool"], source=data["source"], wanted=data["wanted"],
            opened=data["opened"], refused=data["refused"], errors=data["errors"],
            per_process_opened=tuple(data["per_process_opened"]),
            per_process_refused=tuple(data["per_process_refused"]),
            server_limit=ServerLimit(lim["name"], lim["value"], lim["reserve"], lim["reserve_note"]),
            baseline=data["baseline"], sockets_per_connection=data["sockets_per_connection"],
            server_opened=data["server_opened"], server_refused=data["server_refused"],
            refused_counter=data["refused_counter"], returned_to_baseline=data["returned_to_baseline"],
            counters_before=dict(counters.get("before", {})), counters_during=dict(counters.get("during", {})),
            counters_after=dict(counters.get("after", {})),
            first_refusal=data.get("first_refusal"), first_error=data.get("first_error"),
            openim_sees=data.get("openim_sees", ""), disagreements=tuple(data.get("disagreements", ())),
        )


def spread(per_process: tuple[int, ...] | list[int], pool: int) -> str:
    """Runs of processes by what they got, in order, numbered from 1."""
    runs: list[tuple[int, int, int]] = []  # (first, last, opened)
    for i, got in enumerate(per_process, start=1):
        if runs and runs[-1][2] == got and (got == pool or got == 0):
            runs[-1] = (runs[-1][0], i, got)
        else:
            runs.append((i, i, got))
    parts = []
    for first, last, got in runs:
        who = f"process {first}" if first == last else f"processes {first}-{last}"
        what = f"all {pool}" if got == pool else ("none" if got == 0 else f"{got} of {pool}")
        parts.append(f"{who} got {what}")
    return ", ".join(parts)


def measure_connections(endpoint: Endpoint, engine: str | Engine, plan: ConnectionsPlan,
                        timeout_s: float = CONNECT_TIMEOUT_S, settle_timeout_s: float = SETTLE_TIMEOUT_S,
                        hold_s: float = 0.0) -> ConnectionsResult:
    """Opens process 1's pool, then process 2's, ... all held at once; `hold_s` later (time for the
    deployment's own clients, a role probe or a Sentinel, to meet the full server) reads the server's
    counters; closes everything and waits for the server's count to return to baseline."""
    eng = engines.get(engine) if isinstance(engine, str) else engine
    ensure_fd_budget(plan.wanted)  # before any connection: each holds at least one socket here
    monitor = eng.connection_monitor(endpoint, timeout_s)
    held: list[HeldConnections] = []
    try:
        name, value = monitor.limit()
        reserve, reserve_note = monitor.reserve()
        before = monitor.counters()
        for _ in range(plan.processes):
            held.append(eng.open_connections(endpoint, plan.pool, timeout_s))
        if hold_s > 0:
            time.sleep(hold_s)  # a measured duration, not a wait for something
        during = monitor.counters()
        for h in held:
            h.close()
        after, settled = _settle(monitor, monitor.in_use(before), settle_timeout_s)
        baseline, in_use_during = monitor.in_use(before), monitor.in_use(during)
        refused_counter = monitor.refused_counter
    finally:
        for h in held:
            h.close()
        monitor.close()
    counted = refused_counter is not None and refused_counter in before and refused_counter in during
    result = ConnectionsResult(
        processes=plan.processes, pool=plan.pool, source=plan.source, wanted=plan.wanted,
        opened=sum(h.opened for h in held), refused=sum(h.refused for h in held), errors=sum(h.errors for h in held),
        per_process_opened=tuple(h.opened for h in held), per_process_refused=tuple(h.refused for h in held),
        server_limit=ServerLimit(name, value, reserve, reserve_note), baseline=baseline,
        sockets_per_connection=held[0].sockets_per_connection if held else 1,
        server_opened=in_use_during - baseline,
        server_refused=during[refused_counter] - before[refused_counter] if counted and refused_counter else None,
        refused_counter=refused_counter if counted else None, returned_to_baseline=settled,
        counters_before=before, counters_during=during, counters_after=after,
        first_refusal=next((h.first_refusal for h in held if h.first_refusal), None),
        first_error=next((h.first_error for h in held if h.first_error), None),
    )
    return replace(result, disagreements=disagreements(result, monitor.in_use(after)),
                   openim_sees=openim_sees(eng.name, result))


def _settle(monitor: ConnectionMonitor, baseline: int, timeout_s: float) -> tuple[dict[str, int], bool]:
    """Polls the server's counters until its count is back at `baseline` (True) or the deadline (False)."""
    deadline = time.monotonic() + timeout_s
    while True:
        counters = monitor.counters()
        if monitor.in_use(counters) <= baseline:
            return counters, True
        if time.monotonic() >= deadline:
            return counters, False
        time.sleep(SETTLE_POLL_S)


def disagreements(r: ConnectionsResult, in_use_after: int) -> tuple[str, ...]:
    """Where the client-side counts and the server's own differ, one line each."""
    out = []
    sockets = r.opened * r.sockets_per_connection
    if r.server_opened != sockets:
        out.append(f"the client holds {sockets} connections, the server counted {r.server_opened} more than "
                   f"its baseline of {r.baseline}")
    if r.server_refused is not None and r.server_refused != r.refused:
        others = (f": {r.server_refused - r.refused} refused connections were other clients' (a role probe, a Sentinel)"
                  if r.server_refused > r.refused else "")
        out.append(f"the client saw {r.refused} refusals, the server's {r.refused_counter} rose by {r.server_refused}"
                   + others)
    if r.errors == 0 and r.opened != r.expected_opened:
        out.append(f"{r.opened} opened where the limit leaves room for {r.expected_opened} ({r.server_limit.name} "
                   f"{r.server_limit.value} + {r.server_limit.reserve} reserved - {r.baseline} in use before)")
    if r.errors:
        out.append(f"{r.errors} connections failed for another reason than the limit (first: {r.first_error})")
    if not r.returned_to_baseline:
        out.append(f"after closing, the server still counts {in_use_after} connections (baseline {r.baseline})")
    return tuple(out)


def openim_sees(engine: str, r: ConnectionsResult) -> str:
    """One sentence: what OpenIM's processes would meet at this server with these pools."""
    limit = f"{r.server_limit.name} {r.server_limit.value}"
    if r.refused == 0 and r.opened == r.wanted:
        return (f"Every one of the {r.processes} processes gets its whole pool of {r.pool}: {r.wanted} connections "
                f"fit in the {r.headroom} that {limit} leaves; OpenIM sees no refusal.")
    return (f"Only {r.opened} of {r.wanted} pooled connections fit ({limit}, {r.baseline} already in use): "
            f"{r.spread()}; once a pool needs a connection it cannot get, {pool_of(engine).refusal_seen}.")
