"""results.json (schema `openim-kb-poc/results/v1`): build, validate, write atomically, read.

The file is rewritten after every cell through a temp file + rename, so an interrupted run
(or a reader in the middle of a run) always sees a complete, valid document.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from harness.errors import HarnessError

SCHEMA_ID = "openim-kb-poc/results/v1"
RESULTS_FILE = "results.json"
STATUSES = ("ok", "invalid", "skipped", "not-applicable", "failed")
MEASURE_KEYS = ("ops", "throughput_ops_s", "latency_ms", "availability", "consistency")


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    """The JSON Schema shipped inside the package (harness/results_schema.json)."""
    return json.loads(resources.files("harness").joinpath("results_schema.json").read_text())


def schema_errors(data: Any) -> list[str]:
    """Every schema violation as `path: message`, best first; empty when valid."""
    from jsonschema import Draft202012Validator

    v = Draft202012Validator(schema())
    out = []
    for e in v.iter_errors(data):
        # an `anyOf` (value or null) failure: report the deepest concrete reason instead
        while e.context:
            e = max(e.context, key=lambda c: len(c.absolute_path))
        out.append((list(map(str, e.absolute_path)), e.message))
    out.sort(key=lambda x: (len(x[0]), x[0]))
    return [f"{'/'.join(p) or '(top)'}: {m}" for p, m in out]


def validate(data: Any, source: str = "results") -> None:
    """Raises HarnessError with one line naming the first violation."""
    errs = schema_errors(data)
    if errs:
        more = f" (and {len(errs) - 1} more)" if len(errs) > 1 else ""
        raise HarnessError(f"{source}: not a valid {SCHEMA_ID} document: {errs[0][:300]}{more}")


def new_results(run: dict[str, Any]) -> dict[str, Any]:
    return {"schema": SCHEMA_ID, "run": dict(run), "cells": []}


def cell_record(
    *,
    scenario: str,
    engine: str,
    mode: str,
    status: str,
    reason: str | None = None,
    repeat: int = 0,
    topology: dict[str, Any] | None = None,
    fault: dict[str, Any] | None = None,
    measures: dict[str, Any] | None = None,
    artifacts: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """One cell in the schema's shape; measure blocks are null when nothing was measured."""
    if status not in STATUSES:
        raise ValueError(f"status {status!r} not in {STATUSES}")
    rec: dict[str, Any] = {
        "scenario": scenario,
        "engine": engine,
        "mode": mode,
        "repeat": repeat,
        "status": status,
        "reason": reason,
        "topology": topology,
        "fault": fault,
    }
    measures = measures or {}
    for k in MEASURE_KEYS:
        rec[k] = measures.get(k)
    for k, v in measures.items():  # fields the checker adds beyond the v1 minimum
        rec.setdefault(k, v)
    rec["artifacts"] = artifacts or {"history": None, "timeline": None, "logs": None}
    rec.update(extra)
    return rec


def write_results(path: Path, data: dict[str, Any]) -> None:
    """Validates, then replaces `path` atomically (temp file in the same directory + rename)."""
    validate(data, str(path))
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w") as fh:
        json.dump(data, fh, indent=1, allow_nan=False)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def read_results(path: Path) -> dict[str, Any]:
    """A run's results: a run directory or the file itself. Bad files are one clear line."""
    path = Path(path)
    if path.is_dir():
        path = path / RESULTS_FILE
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise HarnessError(f"{path}: no such file (is this a run directory?)") from None
    except OSError as e:
        raise HarnessError(f"{path}: {e.strerror or e}") from None
    try:
        data = json.loads(text)
    except ValueError as e:
        raise HarnessError(f"{path}: not JSON ({e})") from None
    if isinstance(data, dict) and data.get("schema") not in (None, SCHEMA_ID):
        raise HarnessError(f"{path}: schema {data.get('schema')!r} is not {SCHEMA_ID}")
    validate(data, str(path))
    return data


class ResultsWriter:
    """One run's results.json, kept current: rewritten whole (validated, atomically) after every change,
    so an interrupted run keeps everything it measured and a reader never sees half a file."""

    def __init__(self, path: Path, run: dict[str, Any]):
        self.path = Path(path)
        self.data = new_results(run)

    @property
    def cells(self) -> list[dict[str, Any]]:
        cells: list[dict[str, Any]] = self.data["cells"]
        return cells

    def update_run(self, **fields: Any) -> None:
        self.data["run"].update(fields)
        self.write()

    def add_cell(self, rec: dict[str, Any]) -> None:
        self.data["cells"].append(rec)
        self.write()

    def write(self) -> None:
        write_results(self.path, self.data)
