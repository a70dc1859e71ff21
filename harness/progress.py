"""Live progress of a run: a rich status line on a terminal, one plain line per cell otherwise.

On a TTY: the current cell, its phase, elapsed / planned time of the run, ok/s and failed/s.
Not a TTY (CI, `make poc > log`): only the start banner and one line per finished cell.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from harness.plan import fmt_duration


class Progress:
    """Base: plain, line-oriented output."""

    def __init__(self, total_cells: int, planned_s: float, stream: TextIO | None = None):
        self.total_cells = total_cells
        self.planned_s = planned_s
        self.stream = stream or sys.stdout
        self.started = time.monotonic()
        self.index = 0
        self.cell = ""
        self.phase = ""
        self.ok_s = 0.0
        self.failed_s = 0.0

    def elapsed_s(self) -> float:
        return time.monotonic() - self.started

    def print(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def cell_started(self, index: int, key: str) -> None:
        self.index, self.cell, self.phase, self.ok_s, self.failed_s = index, key, "", 0.0, 0.0

    def update(self, phase: str | None = None, ok_s: float | None = None, failed_s: float | None = None) -> None:
        if phase is not None:
            self.phase = phase
        if ok_s is not None:
            self.ok_s = ok_s
        if failed_s is not None:
            self.failed_s = failed_s

    def cell_finished(self, record: dict[str, Any]) -> None:
        self.print(cell_line(self.index, self.total_cells, record, self.elapsed_s()))

    def close(self) -> None:
        pass


def cell_line(index: int, total: int, rec: dict[str, Any], elapsed_s: float) -> str:
    """`[3/20] pod-kill-primary redis/kubeblocks ok  rto 2.1 s  lost 0  (1 min 40 s)`."""
    head = f"[{index}/{total}] {rec['scenario']} {rec['engine']}/{rec['mode']}"
    if rec.get("repeat"):
        head += f" #{rec['repeat']}"
    status = rec["status"]
    if status != "ok":
        return f"{head} {status}: {rec.get('reason')}  ({fmt_duration(elapsed_s)})"
    if conns := rec.get("connections"):
        return (f"{head} ok  opened {conns.get('opened')} of {conns.get('wanted')}, refused {conns.get('refused')}  "
                f"({fmt_duration(elapsed_s)})")
    av = rec.get("availability") or {}
    cons = rec.get("consistency") or {}
    thr = rec.get("throughput_ops_s") or {}
    parts = [f"{head} ok", f"steady {thr.get('steady') or 0:.0f} ops/s"]
    if cap := rec.get("capacity"):
        parts = [f"{head} ok", f"sustained {cap.get('max_sustained_ops_s') or 0:g} ops/s ({cap.get('bound')} at "
                               f"{cap.get('bound_at_ops_s') or 0:g})"]
    if rec.get("fault"):
        rto = av.get("rto_s")
        if rto is not None:
            parts.append(f"rto {rto:.1f} s")
        elif av.get("recovered") is False:
            parts.append("NOT recovered")
        parts.append(f"write gap {av.get('write_gap_s') or 0:.1f} s")
    parts.append(f"lost {cons.get('lost_writes', 0)}")
    return "  ".join(parts) + f"  ({fmt_duration(elapsed_s)})"


class RichProgress(Progress):
    """A live status line (rich) refreshed a few times a second; finished cells scroll above it."""

    def __init__(self, total_cells: int, planned_s: float, stream: TextIO | None = None):
        super().__init__(total_cells, planned_s, stream)
        from rich.console import Console
        from rich.live import Live

        self.console = Console(file=self.stream)
        self.live = Live(self._render(), console=self.console, refresh_per_second=4, transient=True,
                         get_renderable=self._render)
        self.live.start()

    def _render(self) -> Any:
        from rich.text import Text

        t = Text()
        t.append(f"[{self.index}/{self.total_cells}] ", style="bold")
        t.append(self.cell or "starting", style="cyan")
        if self.phase:
            t.append(f"  {self.phase}", style="yellow")
        t.append(f"  {fmt_duration(self.elapsed_s())} / {fmt_duration(self.planned_s)} planned")
        t.append(f"  ok {self.ok_s:.0f}/s", style="green")
        t.append(f"  failed {self.failed_s:.0f}/s", style="red" if self.failed_s else "dim")
        return t

    def print(self, text: str) -> None:
        self.live.console.print(text, highlight=False, markup=False)

    def close(self) -> None:
        self.live.stop()


def make_progress(total_cells: int, planned_s: float, stream: TextIO | None = None) -> Progress:
    stream = stream or sys.stdout
    if stream.isatty():
        return RichProgress(total_cells, planned_s, stream)
    return Progress(total_cells, planned_s, stream)
