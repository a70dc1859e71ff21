"""Helpers for the workload tests: run ops without Locust, recording them in a history."""

from __future__ import annotations

from pathlib import Path

from harness.checker import check
from harness.history import HistoryWriter, acked_writes, now_us
from harness.workload.base import Actor
from harness.workload.readback import read_back


def drive(client, actor: Actor, writer: HistoryWriter, op: str, n: int) -> list[dict]:
    """n ops in a row, each recorded invoke -> outcome like the Locust user does."""
    values = []
    for _ in range(n):
        write = client.ops[op]
        o = writer.invoke(actor.process, op, write)
        partial: dict = {}
        try:
            v = client.run(op, actor, partial)
            writer.complete(o, "ok", v)
            values.append(v)
        except Exception as e:  # noqa: BLE001
            writer.complete(o, client.classify(e, write), partial or None, repr(e))
    return values


def check_paths(endpoint, engine: str, paths: list[Path], start_us: int, fault=None):
    rb = read_back(endpoint, engine, acked_writes(paths))
    return rb, check(paths, load_start_us=start_us, load_end_us=now_us(), fault=fault, readback=rb)
