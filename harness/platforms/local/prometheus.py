"""One real Prometheus per run on 127.0.0.1: it scrapes every deployment's exporter sidecars (file
service discovery: one targets file per deployment) every second and evaluates the addons' alert
rules (harness/observe/rules.py) every second.

Started at the first observed deploy, stopped when the platform closes; its TSDB lives under the
work dir. Missing or failing to start: the deployments run unobserved and `missing` says why.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from pathlib import Path

from harness.errors import HarnessError
from harness.observe.metrics import SCRAPE_INTERVAL_S
from harness.observe.promapi import answers, instant
from harness.observe.rules import rules_text
from harness.platforms.local.pods import free_port, server_errors
from harness.platforms.local.preflight import find_binary
from harness.procs import ProcessRegistry

READY_TIMEOUT_S = 30.0
FIRST_SCRAPE_TIMEOUT_S = 10.0
PORT_ATTEMPTS = 3


def config_text(targets_dir: Path, rules_file: Path) -> str:
    """prometheus.yml (JSON is YAML): one job over the targets files, 1 s scrape and evaluation."""
    interval = f"{SCRAPE_INTERVAL_S:g}s"
    return json.dumps({
        "global": {"scrape_interval": interval, "scrape_timeout": interval, "evaluation_interval": interval},
        "rule_files": [str(rules_file)],
        "scrape_configs": [{"job_name": "exporters", "file_sd_configs": [{"files": [str(targets_dir / "*.json")]}]}],
    }, indent=1)


class LocalPrometheus:
    def __init__(self, registry: ProcessRegistry, work_dir: Path, log_path: Path):
        self.registry = registry
        self.dir = Path(work_dir) / "prometheus"
        self.log_path = Path(log_path)
        self.url: str | None = None
        self.missing: str | None = None
        self.version: str | None = None
        self._proc: subprocess.Popen | None = None
        self._lock = threading.Lock()

    @property
    def targets_dir(self) -> Path:
        return self.dir / "targets"

    def ensure(self) -> str | None:
        """The base URL, starting Prometheus on first use; None (and `missing`) when it cannot run."""
        with self._lock:
            if self.url is None and self.missing is None:
                self._start()
            return self.url

    def _start(self) -> None:
        binary = find_binary("prometheus")
        if binary is None:
            self.missing = "prometheus not installed (sudo apt-get install -y prometheus)"
            return
        self.targets_dir.mkdir(parents=True, exist_ok=True)
        rules = self.dir / "rules.yml"
        rules.write_text(rules_text())
        conf = self.dir / "prometheus.yml"
        conf.write_text(config_text(self.targets_dir, rules))
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        why = ""
        for _ in range(PORT_ATTEMPTS):
            port = free_port()
            argv = [binary, f"--config.file={conf}", f"--storage.tsdb.path={self.dir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=2d",
                    "--log.level=warn", "--web.enable-lifecycle"]
            proc = self.registry.spawn(argv, "prometheus", log_path=self.log_path, cwd=self.dir)
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + READY_TIMEOUT_S
            while proc.poll() is None and time.monotonic() < deadline:
                if _ready(url):
                    self._proc, self.url = proc, url
                    return
                time.sleep(0.1)
            why = server_errors(self.log_path, limit=2)
            self.registry.stop(proc.pid, 2.0)
        self.missing = f"prometheus did not start: {why}"[:300]

    def set_targets(self, name: str, entries: list[dict]) -> None:
        """Atomically (a half-written file would be read as no targets)."""
        tmp = self.targets_dir / f".{name}.tmp"
        tmp.write_text(json.dumps(entries))
        os.replace(tmp, self.targets_dir / f"{name}.json")

    def wait_scraped(self, name: str, targets: int, timeout_s: float = FIRST_SCRAPE_TIMEOUT_S) -> bool:
        """Until every target of deployment `name` has been scraped once (file discovery, then the
        scrape's offset within the interval)."""
        deadline = time.monotonic() + timeout_s
        while self.url is not None:
            try:
                if len(instant(self.url, f'up{{deployment="{name}"}}')) >= targets:
                    return True
            except HarnessError:
                pass
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)
        return False

    def drop_targets(self, name: str) -> None:
        (self.targets_dir / f"{name}.json").unlink(missing_ok=True)

    def stop(self) -> None:
        with self._lock:
            if self._proc is not None:
                self.registry.stop(self._proc.pid, 5.0)
                self._proc = None
            self.url = None


def _ready(url: str) -> bool:
    return answers(f"{url}/-/ready")
