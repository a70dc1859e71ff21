"""results.json: the shipped JSON Schema accepts the design's shape, refuses broken documents, and
writes are atomic. (A real run directory is validated in test_runloop / test_report.)"""

from __future__ import annotations

import copy
import json

import pytest

from harness.errors import HarnessError
from harness.results import (
    SCHEMA_ID,
    cell_record,
    new_results,
    read_results,
    schema,
    schema_errors,
    write_results,
)

RUN = {"id": "r1", "platform": "local", "profile": "quick", "seed": 1, "started_at": "2026-01-01T00:00:00+00:00",
       "finished_at": None, "harness_version": "0.1.0", "git_sha": None, "host": {"cpus": 2, "memory_gb": 23.4},
       "software": {"mariadb": "10.11.19", "redis": "7.0.15", "mongodb": None, "kubeblocks": None,
                    "kubernetes": None, "kind": None}}

MEASURES = {
    "ops": {"total": 10, "ok": 9, "failed": 1, "unknown": 0},
    "throughput_ops_s": {"steady": 100.0, "during_fault": 0.0, "after_recovery": 99.0},
    "latency_ms": {"p50": 1.0, "p95": 2.0, "p99": 3.0, "max": 4.0},
    "availability": {"write_gap_s": 1.2, "rto_s": 1.2, "recovered": True},
    "consistency": {"acked_writes": 5, "lost_writes": 0, "duplicate_seqs": 0, "seq_regressions": 0},
}
FAULT = {"kind": "pod-kill", "target": "primary", "instance": "redis-0", "injected_at": "2026-01-01T00:00:06+00:00",
         "injected_at_s": 6.0, "duration_s": 0}


def doc():
    d = new_results(RUN)
    d["cells"].append(cell_record(scenario="pod-kill-primary", engine="redis", mode="kubeblocks", status="ok",
                                  topology={"replicas": 2, "zones": ["zone-a", "zone-b"]}, fault=FAULT,
                                  measures=MEASURES))
    d["cells"].append(cell_record(scenario="pod-kill-secondary", engine="redis", mode="statefulset",
                                  status="not-applicable", reason="one instance"))
    return d


def test_schema_is_shipped_in_the_package_and_names_v1():
    assert schema()["$id"] == SCHEMA_ID
    assert schema_errors(doc()) == []


@pytest.mark.parametrize(
    ("mutate", "where"),
    [
        (lambda d: d.update(schema="other/v2"), "schema"),
        (lambda d: d["cells"][0].update(status="great"), "cells/0/status"),
        (lambda d: d["cells"][0].pop("availability"), "cells/0"),
        (lambda d: d["cells"][0]["consistency"].update(lost_writes=-1), "cells/0/consistency/lost_writes"),
        (lambda d: d["cells"][1].update(reason=None), "cells/1/reason"),
        (lambda d: d["cells"][0].update(ops=None), "cells/0/ops"),  # an ok cell must carry its measures
        (lambda d: d["run"].update(platform="moon"), "run/platform"),
    ],
)
def test_schema_refuses_broken_documents(mutate, where):
    d = copy.deepcopy(doc())
    mutate(d)
    errs = schema_errors(d)
    assert errs and any(e.startswith(where) for e in errs), errs


def test_write_is_atomic_and_read_back_equal(tmp_path):
    p = tmp_path / "results.json"
    write_results(p, doc())
    assert read_results(tmp_path) == doc()
    assert [x.name for x in tmp_path.iterdir()] == ["results.json"]  # no temp file left
    bad = doc()
    bad["cells"][0]["status"] = "great"
    with pytest.raises(HarnessError, match="not a valid openim-kb-poc/results/v1 document: cells/0/status"):
        write_results(p, bad)
    assert read_results(p) == doc()  # the previous, valid file is untouched


def test_read_errors_are_one_line(tmp_path):
    with pytest.raises(HarnessError, match="no such file"):
        read_results(tmp_path)
    (tmp_path / "results.json").write_text("{not json")
    with pytest.raises(HarnessError, match="not JSON"):
        read_results(tmp_path)
    (tmp_path / "results.json").write_text(json.dumps({"schema": "x/v9", "run": {}, "cells": []}))
    with pytest.raises(HarnessError, match="schema 'x/v9' is not openim-kb-poc/results/v1"):
        read_results(tmp_path)


def test_cell_record_refuses_unknown_status():
    with pytest.raises(ValueError):
        cell_record(scenario="s", engine="redis", mode="kubeblocks", status="meh")
