"""What the orchestrator tells one load worker: the typed form of the worker's config file.

`harness.workload.driver` builds a `WorkerConfig` per worker and writes `to_json()` into a 0600 file
(it holds the endpoint password); the worker process (`harness.workload.worker`) reads it back with
`from_json()`. Both sides use this one class, so a key renamed on one side cannot be read as absent
on the other: a config with a missing or unknown key is refused with one error naming them.
Imports neither locust nor any client library (the orchestrator imports it too).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from harness.contracts import Endpoint
from harness.errors import HarnessError
from harness.workload.model import SeedInfo


class WorkerConfigError(HarnessError):
    """A load worker's config file does not have exactly the keys a WorkerConfig has."""


@dataclass(frozen=True)
class WorkerConfig:
    engine: str
    mix: Mapping[str, float]  # op name -> weight
    users: int  # this worker's users
    rate_ops_s: float  # this worker's share of the offered load
    duration_s: float  # the measured window, after the warm-up
    seed: int
    worker: int  # index: op ids of worker w start at w * OP_ID_STRIDE
    op_timeout_s: float
    endpoint: Endpoint  # with its password
    seed_info: SeedInfo
    history_path: Path
    progress_path: Path
    summary_path: Path
    locust_csv_prefix: str | None  # Locust's own stats CSVs; None: not written
    go_path: Path  # the orchestrator's common start
    hub_path: Path
    warmup_s: float
    warmup_history_path: Path | None  # where warm-up ops go (used only when warmup_s > 0)
    id_tag: str  # makes ids unique across load runs on one database
    code_fingerprint: str | None  # the harness code the orchestrator loaded (see driver.code_fingerprint)
    planted_stall: tuple[float, float] | None  # self-test only: (at_s into the window, block_s)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict, one key per field (the endpoint as its private JSON string)."""
        return {
            "engine": self.engine, "mix": dict(self.mix), "users": self.users, "rate_ops_s": self.rate_ops_s,
            "duration_s": self.duration_s, "seed": self.seed, "worker": self.worker,
            "op_timeout_s": self.op_timeout_s, "endpoint": self.endpoint.to_private_json(),
            "seed_info": self.seed_info.to_json(), "history_path": str(self.history_path),
            "progress_path": str(self.progress_path), "summary_path": str(self.summary_path),
            "locust_csv_prefix": self.locust_csv_prefix, "go_path": str(self.go_path),
            "hub_path": str(self.hub_path), "warmup_s": self.warmup_s,
            "warmup_history_path": None if self.warmup_history_path is None else str(self.warmup_history_path),
            "id_tag": self.id_tag, "code_fingerprint": self.code_fingerprint,
            "planted_stall": None if self.planted_stall is None
            else {"at_s": self.planted_stall[0], "block_s": self.planted_stall[1]},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WorkerConfig:
        """The inverse of `to_json`; a missing or unknown key is one WorkerConfigError naming them."""
        if not isinstance(data, Mapping):
            raise WorkerConfigError(f"worker config: expected a JSON object, got {type(data).__name__}")
        expected = {f.name for f in fields(cls)}
        missing, unknown = sorted(expected - set(data)), sorted(set(data) - expected)
        if missing or unknown:
            parts = ([f"missing {', '.join(missing)}"] if missing else []) + (
                [f"unknown {', '.join(unknown)}"] if unknown else [])
            raise WorkerConfigError(f"worker config: {'; '.join(parts)} (the orchestrator and the worker "
                                    "disagree on its keys)")
        stall = data["planted_stall"]
        try:
            return cls(
                engine=str(data["engine"]), mix={str(k): float(v) for k, v in data["mix"].items()},
                users=int(data["users"]), rate_ops_s=float(data["rate_ops_s"]),
                duration_s=float(data["duration_s"]), seed=int(data["seed"]), worker=int(data["worker"]),
                op_timeout_s=float(data["op_timeout_s"]), endpoint=Endpoint.from_private_json(data["endpoint"]),
                seed_info=SeedInfo.from_json(data["seed_info"]), history_path=Path(data["history_path"]),
                progress_path=Path(data["progress_path"]), summary_path=Path(data["summary_path"]),
                locust_csv_prefix=None if data["locust_csv_prefix"] is None else str(data["locust_csv_prefix"]),
                go_path=Path(data["go_path"]), hub_path=Path(data["hub_path"]), warmup_s=float(data["warmup_s"]),
                warmup_history_path=None if data["warmup_history_path"] is None
                else Path(data["warmup_history_path"]),
                id_tag=str(data["id_tag"]),
                code_fingerprint=None if data["code_fingerprint"] is None else str(data["code_fingerprint"]),
                planted_stall=None if stall is None else (float(stall["at_s"]), float(stall["block_s"])),
            )
        except (TypeError, ValueError, KeyError, AttributeError) as e:
            raise WorkerConfigError(f"worker config: a value of the wrong shape ({type(e).__name__}: {e})") from e
