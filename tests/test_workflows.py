"""The GitHub workflows are valid and only run commands the Makefile has."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))


def makefile_targets() -> set[str]:
    text = (REPO / "Makefile").read_text()
    return set(re.findall(r"^([A-Za-z][\w.-]*):", text, flags=re.M))


def workflow_run_lines(path: Path) -> list[str]:
    doc = yaml.safe_load(path.read_text())
    lines = []
    for job in doc["jobs"].values():
        for step in job["steps"]:
            lines += str(step.get("run", "")).splitlines()
    return lines


def test_both_workflows_exist():
    assert {p.name for p in WORKFLOWS} >= {"ci.yml", "nightly.yml"}


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_validates_against_githubs_schema(path):
    exe = shutil.which("check-jsonschema", path=str(Path(sys.executable).parent)) or shutil.which("check-jsonschema")
    assert exe, "check-jsonschema is a dev dependency (pyproject.toml)"
    proc = subprocess.run(
        [exe, "--builtin-schema", "vendor.github-workflows", str(path)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_schema_check_rejects_a_broken_workflow(tmp_path):
    """The validation above can fail: a job without `runs-on` or `steps` is refused."""
    bad = tmp_path / "bad.yml"
    bad.write_text("name: x\non: push\njobs:\n  a:\n    step: []\n")
    exe = shutil.which("check-jsonschema", path=str(Path(sys.executable).parent)) or shutil.which("check-jsonschema")
    proc = subprocess.run([exe, "--builtin-schema", "vendor.github-workflows", str(bad)], capture_output=True)
    assert proc.returncode != 0


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_make_command_is_a_makefile_target(path):
    targets = makefile_targets()
    used = [m for line in workflow_run_lines(path) for m in re.findall(r"\bmake\s+([A-Za-z][\w.-]*)", line)]
    assert used, f"{path.name} runs no make target"
    missing = sorted(set(used) - targets)
    assert not missing, f"{path.name} runs make targets the Makefile lacks: {missing}"


def test_nightly_runs_kind_compares_and_uploads():
    doc = yaml.safe_load((REPO / ".github" / "workflows" / "nightly.yml").read_text())
    triggers = doc.get("on") or doc.get(True)  # YAML 1.1 reads a bare `on` as True
    assert "schedule" in triggers and "workflow_dispatch" in triggers
    text = "\n".join(workflow_run_lines(REPO / ".github" / "workflows" / "nightly.yml"))
    assert "make poc PLATFORM=kind" in text
    assert "make compare" in text
    steps = [s for job in doc["jobs"].values() for s in job["steps"]]
    assert any(str(s.get("uses", "")).startswith("actions/upload-artifact") for s in steps)


def test_ci_runs_make_lint_then_make_test():
    lines = workflow_run_lines(REPO / ".github" / "workflows" / "ci.yml")
    assert "make lint" in lines and "make test" in lines
    assert lines.index("make lint") < lines.index("make test")
    script = [ln.strip() for ln in (REPO / ".ci" / "run").read_text().splitlines()]
    assert script.index("make lint") < script.index("make test")
