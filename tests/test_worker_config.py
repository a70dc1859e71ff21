"""The load worker's config: one typed class both the orchestrator and the worker use, through JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import fields, replace
from pathlib import Path

import pytest

from harness.contracts import Endpoint
from harness.workload.model import SeedInfo, SeedSize, plan_seed
from harness.workload.worker_config import WorkerConfig, WorkerConfigError


def _config(tmp_path: Path, **over) -> WorkerConfig:
    ep = Endpoint(engine="redis", mode="kubeblocks", addresses=(("127.0.0.1", 26380), ("127.0.0.1", 26381)),
                  password="s3cret-pw", sentinel_master="mymaster", sentinel_password="s3nt")
    info = plan_seed("redis", SeedSize(users=4, friends_per_user=1, groups=1, group_size=2), seed=7)
    base = WorkerConfig(
        engine="redis", mix={"send_message": 8.0, "login": 1.0}, users=3, rate_ops_s=12.5, duration_s=4.0,
        seed=7, worker=1, op_timeout_s=1.0, endpoint=ep, seed_info=info,
        history_path=tmp_path / "history-w1.jsonl", progress_path=tmp_path / ".progress-w1.json",
        summary_path=tmp_path / "load-summary-w1.json", locust_csv_prefix=str(tmp_path / "locust-w1"),
        go_path=tmp_path / ".go.json", hub_path=tmp_path / "hub-w1.json", warmup_s=0.5,
        warmup_history_path=tmp_path / "warmup" / "history-w1.jsonl", id_tag=".abc", code_fingerprint="0123456789abcdef",
        planted_stall=(1.5, 0.25),
    )
    return replace(base, **over)


def _through_a_file(cfg: WorkerConfig) -> WorkerConfig:
    return WorkerConfig.from_json(json.loads(json.dumps(cfg.to_json())))


def test_round_trip_through_json_is_the_same_config(tmp_path):
    cfg = _config(tmp_path)
    assert _through_a_file(cfg) == cfg
    data = cfg.to_json()
    assert set(data) == {f.name for f in fields(WorkerConfig)}
    assert json.loads(data["endpoint"])["password"] == "s3cret-pw"  # the worker needs it (0600 file)
    assert data["planted_stall"] == {"at_s": 1.5, "block_s": 0.25}


@pytest.mark.parametrize("over", [
    {"planted_stall": None}, {"warmup_history_path": None, "warmup_s": 0.0}, {"locust_csv_prefix": None},
    {"code_fingerprint": None},
])
def test_round_trip_of_the_optional_fields(tmp_path, over):
    cfg = _config(tmp_path, **over)
    assert _through_a_file(cfg) == cfg


def test_seed_info_survives_with_its_conversations(tmp_path):
    cfg = _config(tmp_path)
    assert isinstance(cfg.seed_info, SeedInfo) and cfg.seed_info.conversations
    assert _through_a_file(cfg).seed_info.conversations == cfg.seed_info.conversations


def test_a_missing_or_unknown_key_is_one_error_naming_them(tmp_path):
    data = _config(tmp_path).to_json()
    del data["go_path"]
    data["hub"] = "renamed on one side"
    with pytest.raises(WorkerConfigError) as e:
        WorkerConfig.from_json(data)
    msg = str(e.value)
    assert "missing go_path" in msg and "unknown hub" in msg and "\n" not in msg
    assert "s3cret-pw" not in msg


def test_a_value_of_the_wrong_shape_is_one_error(tmp_path):
    data = _config(tmp_path).to_json()
    data["users"] = "three"
    with pytest.raises(WorkerConfigError, match="wrong shape"):
        WorkerConfig.from_json(data)
    with pytest.raises(WorkerConfigError, match="expected a JSON object"):
        WorkerConfig.from_json([1, 2])  # type: ignore[arg-type]  # what a corrupt file could hold


@pytest.mark.server  # a load worker process (it refuses before any load; importing locust here would patch pytest)
def test_a_worker_given_a_bad_config_refuses_in_one_line(tmp_path):
    path = tmp_path / ".load-w0.json"
    data = _config(tmp_path).to_json()
    del data["seed"]
    path.write_text(json.dumps(data))
    proc = subprocess.run([sys.executable, "-m", "harness.workload.worker", str(path)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 3, proc.stderr
    assert proc.stderr.startswith("load worker refused to start: worker config: missing seed"), proc.stderr
    assert proc.stderr.count("\n") == 1 and "s3cret-pw" not in proc.stderr
    assert not path.exists(), "the config (it holds the password) is removed once read"
