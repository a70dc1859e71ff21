"""The composition root's one object: everything a run hands to the parts it builds.

Built once by the run loop (or by a test) and passed down explicitly; nothing reads it from a
global. A dry run gets a scratch `run_dir`, a `VirtualClock` and `dry_run=True`.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from harness.clock import Clock, RealClock
from harness.config import Settings
from harness.procs import ProcessRegistry
from harness.results import ResultsWriter
from harness.signals import SignalGate


@dataclass
class RunContext:
    settings: Settings
    run_dir: Path  # the run's directory (a dry run: a scratch directory, deleted after)
    work_dir: Path  # servers' data directories and sockets (local)
    registry: ProcessRegistry | None = None  # every process the run starts, for cleanup after a kill
    clock: Clock = field(default_factory=RealClock)
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("harness.run"))
    out: TextIO = field(default_factory=lambda: sys.stdout)  # the terminal (a dry run prints its plan here)
    gate: SignalGate | None = None  # SIGINT/SIGTERM: raises Interrupted while armed, remembered while held
    results: ResultsWriter | None = None  # results.json, rewritten after every cell
    dry_run: bool = False
    install_kubeblocks: bool = False  # k8s: move an installed KubeBlocks of another version to the pinned one
    data_protection: bool = False  # a selected scenario takes backups: kind/k8s enable KubeBlocks' backup controller
