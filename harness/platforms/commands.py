"""The one runner every external command of the kind/k8s platforms goes through.

`RealRunner` executes; `DryRunRunner` prints each step instead and returns canned output, so
`harness run --dry-run` shows the whole plan without touching anything. Both record the steps
they saw, which is what the tests compare against. Standard input (manifests, possibly Secrets)
is never printed or recorded: a step shows only a label for it.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from harness.errors import DeployError, HarnessError


@dataclass(frozen=True)
class Step:
    """One thing the platform did (or would do): a command, a wait, or a note."""

    kind: str  # "run" | "wait" | "note"
    text: str  # the printable form: the command line, what is waited for, or the note
    timeout_s: float | None = None  # a wait's deadline

    def __str__(self) -> str:
        prefix = {"run": "$ ", "wait": "wait: ", "note": "# "}[self.kind]
        suffix = f" (up to {self.timeout_s:.0f} s)" if self.kind == "wait" and self.timeout_s is not None else ""
        return prefix + self.text + suffix


@dataclass(frozen=True)
class CommandResult:
    returncode: int
    stdout: str
    stderr: str = field(default="", repr=False)


def render_argv(argv: Sequence[str], stdin_label: str | None = None) -> str:
    text = shlex.join(argv)
    if stdin_label:
        text += f" < {stdin_label}"
    return text


class Runner(Protocol):
    """What the platforms need from a command runner."""

    dry_run: bool
    steps: list[Step]

    def run(
        self,
        argv: Sequence[str],
        *,
        stdin: str | None = None,
        stdin_label: str | None = None,
        check: bool = True,
        timeout_s: float = 120.0,
        quiet: bool = False,
        record: bool = True,
    ) -> CommandResult:
        """`quiet`: keep captured output out of errors (secrets); `record=False`: not in the step log
        (a background poll that would repeat one line every second)."""
        ...

    def wait(self, what: str, ready: Callable[[], bool], timeout_s: float, interval_s: float = 2.0) -> None: ...

    def note(self, text: str) -> None: ...


class LogWriter:
    """A text stream that sends each complete line to a logger, so commands land in run.log."""

    def __init__(self, logger_name: str = "harness.commands"):
        import logging

        self._log = logging.getLogger(logger_name)
        self._buf = ""

    def write(self, text: str) -> int:
        self._buf += text
        while "\n" in self._buf:
            line, self._buf = self._buf.split("\n", 1)
            if line:
                self._log.info("%s", line)
        return len(text)

    def flush(self) -> None:
        pass


class TextSink(Protocol):
    """Where steps are echoed: a text stream (sys.stdout) or a LogWriter (run.log)."""

    def write(self, text: str, /) -> object: ...

    def flush(self) -> object: ...


class _StepRecorder:
    """Keeps every step in order and echoes it to a stream (the terminal, or run.log)."""

    def __init__(self, sink: TextSink | None):
        self.steps: list[Step] = []
        self._sink = sink

    def _record(self, step: Step) -> None:
        self.steps.append(step)
        if self._sink is not None:
            print(step, file=self._sink, flush=True)

    def note(self, text: str) -> None:
        self._record(Step("note", text))


class RealRunner(_StepRecorder):
    """Executes commands; `quiet` keeps captured output (e.g. a Secret's value) out of errors."""

    dry_run = False

    def __init__(self, echo: TextSink | None = None):
        super().__init__(echo)

    def run(
        self,
        argv: Sequence[str],
        *,
        stdin: str | None = None,
        stdin_label: str | None = None,
        check: bool = True,
        timeout_s: float = 120.0,
        quiet: bool = False,
        record: bool = True,
    ) -> CommandResult:
        if record:
            self._record(Step("run", render_argv(argv, stdin_label if stdin is not None else None)))
        try:
            proc = subprocess.run(
                list(argv), input=stdin, capture_output=True, text=True, timeout=timeout_s, check=False
            )
        except FileNotFoundError as e:
            raise HarnessError(f"{argv[0]} not found; run `harness doctor --platform kind` for what to install") from e
        except subprocess.TimeoutExpired as e:
            raise DeployError(f"`{render_argv(argv)}` did not finish within {timeout_s:.0f} s") from e
        result = CommandResult(proc.returncode, proc.stdout, proc.stderr)
        if check and proc.returncode != 0:
            detail = "" if quiet else f": {proc.stderr.strip()[-500:]}"
            raise DeployError(f"`{render_argv(argv)}` failed with exit {proc.returncode}{detail}")
        return result

    def wait(self, what: str, ready: Callable[[], bool], timeout_s: float, interval_s: float = 2.0) -> None:
        """Polls `ready` until it is true; gives up after `timeout_s` naming what did not happen."""
        self._record(Step("wait", what, timeout_s))
        deadline = time.monotonic() + timeout_s
        while True:
            if ready():
                return
            if time.monotonic() >= deadline:
                raise DeployError(f"timed out after {timeout_s:.0f} s waiting for {what}")
            time.sleep(interval_s)


Responder = Callable[[Sequence[str]], "CommandResult | None"]


class DryRunRunner(_StepRecorder):
    """Prints every step and executes nothing.

    `responder` may return canned output for a command (tests use it as a fake cluster);
    otherwise a command "succeeds" with empty output. Waits are printed, never polled.
    """

    dry_run = True

    def __init__(self, out: TextSink | None = sys.stdout, responder: Responder | None = None):
        super().__init__(out)
        self._responder = responder

    def run(
        self,
        argv: Sequence[str],
        *,
        stdin: str | None = None,
        stdin_label: str | None = None,
        check: bool = True,
        timeout_s: float = 120.0,
        quiet: bool = False,
        record: bool = True,
    ) -> CommandResult:
        if record:
            self._record(Step("run", render_argv(argv, stdin_label if stdin is not None else None)))
        if self._responder is not None:
            canned = self._responder(argv)
            if canned is not None:
                if check and canned.returncode != 0:
                    raise DeployError(f"`{render_argv(argv)}` failed with exit {canned.returncode}")
                return canned
        return CommandResult(0, "")

    def wait(self, what: str, ready: Callable[[], bool], timeout_s: float, interval_s: float = 2.0) -> None:
        self._record(Step("wait", what, timeout_s))
