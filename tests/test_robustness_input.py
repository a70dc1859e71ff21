"""Issue 7, rule 3: bad input through the real `harness` executable is one line naming the problem
and the accepted values, exit status 2, never a traceback; and a hypothesis fuzz of the settings
parser (YAML text and parsed structures) that only ever accepts or fails with that clean error."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from _robustness import HARNESS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.config import (
    DeployOverrides,
    LoadSettings,
    SeedSettings,
    Settings,
    TimingsOverride,
    build_settings,
    load_settings_file,
)
from harness.errors import HarnessError


def harness(args: list[str], tmp: Path, env_extra: dict[str, str] | None = None, prefix: list[str] | None = None):
    env = {**os.environ, "HARNESS_STATE_DIR": str(tmp / "state"), "HARNESS_WORK_DIR": str(tmp / "work"),
           **(env_extra or {})}
    return subprocess.run([*(prefix or []), str(HARNESS), *args], env=env, capture_output=True, text=True,
                          timeout=120, cwd=tmp)


def assert_one_line(proc, *needles: str) -> str:
    err = proc.stderr
    assert proc.returncode == 2, f"exit {proc.returncode}\nstdout: {proc.stdout}\nstderr: {err}"
    assert "Traceback" not in err + proc.stdout, err
    assert err.count("\n") == 1 and err.startswith("error: "), f"not one line: {err!r}"
    for n in needles:
        assert n in err, f"{n!r} not in {err!r}"
    return err.strip()


SETTINGS_CASES = {
    "negative duration": ("timings: {'*': {warmup_s: -1}}", ["timings.*.warmup_s = -1", "accepted: > 0 and <= 3600"]),
    "absurd duration": ("timings: {steady: {observe_s: 1.0e9}}", ["timings.steady.observe_s", "<= 3600"]),
    "infinite duration": ("timings: {'*': {fault_s: .inf}}", ["timings.*.fault_s = inf", "<= 3600"]),
    "zero rate": ("load: {rate_ops_s: 0}", ["load.rate_ops_s = 0", "accepted: > 0 and <= 20000"]),
    "unknown field": ("lod: {users: 3}", ["unknown field `lod`", "accepted: capacity, cell_overhead_s", "load"]),
    "unknown nested field": ("deploy: {sentinel_quorom: 2}", ["unknown field `deploy.sentinel_quorom`",
                                                               "sentinel_quorum"]),
    "unknown scenario in timings": ("timings: {pod-kil: {warmup_s: 1}}", ["unknown scenario 'pod-kil'",
                                                                           "accepted: *, steady"]),
    "wrong type": ("repeat: many", ["repeat = 'many'", "integer"]),
    "malformed YAML": ("load: {users: [unclosed\n", ["not valid YAML"]),
    "impossible date": ("seed: 2001-13-01\n", ["not valid YAML", "month must be in 1..12"]),
    "not a mapping": ("- 1\n- 2\n", ["must be a mapping of settings, got list"]),
    "python tag": ("x: !!python/object/apply:os.system [id]\n", ["not valid YAML"]),
}


@pytest.mark.parametrize("case", SETTINGS_CASES)
def test_bad_settings_file_through_the_cli(tmp_path, case):
    text, needles = SETTINGS_CASES[case]
    f = tmp_path / "s.yaml"
    f.write_text(text)
    line = assert_one_line(harness(["run", "steady", "--platform", "local", "--settings", str(f), "--dry-run"],
                                   tmp_path), *needles)
    print(f"{case}: {line}")


ARG_CASES = {
    "unknown scenario": (["run", "pod-kil"], ["unknown scenario 'pod-kil'", "accepted: steady"]),
    "unknown engine": (["run", "--engines", "mysql,oracle"], ["unknown engine oracle", "accepted: mysql, redis, mongodb"]),
    "unknown mode": (["run", "--modes", "helm"], ["unknown mode helm", "accepted: kubeblocks, statefulset"]),
    "unknown platform": (["run", "--platform", "docker"], ["invalid choice: 'docker'", "auto", "local", "kind"]),
    "unknown profile": (["run", "--profile", "fast"], ["--profile 'fast'", "accepted: quick, full, nightly"]),
    "negative seed": (["run", "--seed", "-3", "--dry-run"], ["seed = -3", "accepted: >= 0"]),
    "missing settings file": (["run", "--settings", "/nonexistent/s.yaml"], ["/nonexistent/s.yaml", "No such file"]),
    "settings is a directory": (["run", "--settings", "/tmp", "--dry-run"], ["settings file /tmp", "directory"]),
    "unknown command": (["destroy"], ["invalid choice: 'destroy'", "run", "cleanup"]),
    "operation on a mode it does not apply to": (
        ["run", "switchover", "--modes", "statefulset", "--platform", "local", "--dry-run"],
        ["switchover does not apply to mysql,redis,mongodb x statefulset on local", "one instance"]),
    "operation a platform cannot do": (
        ["run", "upgrade", "--engines", "redis", "--platform", "local"],
        ["upgrade does not apply to redis x kubeblocks,statefulset on local", "one server version"]),
}


@pytest.mark.parametrize("case", ARG_CASES)
def test_bad_arguments_through_the_cli(tmp_path, case):
    args, needles = ARG_CASES[case]
    print(f"{case}: {assert_one_line(harness(args, tmp_path), *needles)}")


@pytest.mark.parametrize("out", ["FILE/sub", "/proc/harness-out"])
def test_unwritable_output_directory(tmp_path, out):
    (tmp_path / "FILE").write_text("a file, not a directory")
    target = str(tmp_path / out) if out.startswith("FILE") else out
    proc = harness(["run", "steady", "--platform", "local", "--engines", "redis", "--modes", "statefulset",
                    "--out", target], tmp_path)
    print(assert_one_line(proc, f"--out {target}", "cannot create the run directory", "writable"))
    assert not list((tmp_path / "state").glob("*.json")), "nothing started"


def test_unwritable_state_directory(tmp_path):
    proc = harness(["run", "steady", "--platform", "local", "--engines", "redis", "--modes", "statefulset",
                    "--out", str(tmp_path / "out")], tmp_path, {"HARNESS_STATE_DIR": "/proc/harness-state"})
    print(assert_one_line(proc, "HARNESS_STATE_DIR", "/proc/harness-state"))


@pytest.mark.skipif(shutil.which("unshare") is None or os.geteuid() != 0,
                    reason="needs root and unshare to hide a server binary in a private mount namespace")
def test_missing_server_binary(tmp_path):
    """mariadbd hidden (a non-executable file bind-mounted over it, in a private mount namespace)."""
    empty = tmp_path / "empty"
    empty.write_text("")
    script = (f"mount --bind {empty} /usr/sbin/mariadbd && exec {HARNESS} run steady --platform local "
              f"--engines redis --modes statefulset --out {tmp_path / 'out'}")
    proc = harness([], tmp_path, prefix=["unshare", "-m", "--propagation", "private", "sh", "-c", script])
    if "mount" in proc.stderr and proc.returncode != 2:
        pytest.skip(f"cannot bind-mount here: {proc.stderr.strip()}")
    print(assert_one_line(proc, "mariadbd missing", "fix: sudo apt-get install -y mariadb-server"))
    assert not list((tmp_path / "state").glob("*.json")), "nothing started, nothing left"


# -- fuzzing the settings parser ------------------------------------------------------------------
FIELDS = sorted({*Settings.model_fields, *LoadSettings.model_fields, *SeedSettings.model_fields,
                 *DeployOverrides.model_fields, *TimingsOverride.model_fields, "*", "steady", "zone-outage"})
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12), st.sampled_from(["1", "1e3", "-0", "quick"]),
)
keys = st.one_of(st.sampled_from(FIELDS), st.text(max_size=8), st.integers(-3, 3))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(keys, inner, max_size=4)), max_leaves=12)
overrides = st.dictionaries(keys, values, max_size=5)
# plausible documents: the real structure with random leaves, so the fuzz reaches deep validation
nested = st.fixed_dictionaries({}, optional={
    "load": st.dictionaries(st.sampled_from(sorted(LoadSettings.model_fields)), scalars, max_size=4),
    "seed_data": st.dictionaries(st.sampled_from(sorted(SeedSettings.model_fields)), scalars, max_size=4),
    "deploy": st.dictionaries(st.sampled_from(sorted(DeployOverrides.model_fields)), scalars, max_size=4),
    "timings": st.dictionaries(st.sampled_from(["*", "steady", "zone-outage"]),
                               st.dictionaries(st.sampled_from(sorted(TimingsOverride.model_fields)), scalars,
                                               max_size=4), max_size=3),
    "repeat": scalars, "seed": scalars, "cell_timeout_s": scalars, "cell_overhead_s": scalars,
})

TALLY = {"accepted": 0, "rejected": 0}
# Examples per fuzz test: 1500 in `make test`; `make test-fast` asks for fewer to stay under a minute.
FUZZ_EXAMPLES = int(os.environ.get("HARNESS_TEST_FUZZ_EXAMPLES", "1500"))


def _accepts_or_one_line(data, source="fuzz") -> None:
    try:
        s = build_settings("quick", overrides=data, source=source)
    except HarnessError as e:
        msg = str(e)
        assert msg and "\n" not in msg and msg.startswith(source), repr(msg)
        TALLY["rejected"] += 1
        return
    assert isinstance(s, Settings)
    s.deploy_spec()  # an accepted document also yields a DeploySpec
    TALLY["accepted"] += 1


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(overrides)
def test_fuzz_settings_any_structure(data):
    _accepts_or_one_line(data)


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(nested)
def test_fuzz_settings_plausible_structure(data):
    _accepts_or_one_line(data)


YAML_BITS = ["load:", " rate_ops_s:", " users:", "timings:", " '*':", "  warmup_s:", "deploy:", " -", "{", "}", "[",
             "]", ":", ",", "'", '"', "!!python/object:os.system", "!!binary", "&a", "*a", "? ", "2001-13-01",
             "1e9", "-1", ".nan", ".inf", "null", "yes", "\n", "\t", "  ", "%YAML 1.1", "---", "...", "#"]


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.one_of(st.sampled_from(YAML_BITS), st.text(max_size=6)), max_size=25).map("".join))
def test_fuzz_settings_file_text(tmp_path_factory, text):
    f = tmp_path_factory.getbasetemp() / "fuzz.yaml"
    f.write_text(text)
    try:
        data = load_settings_file(f)
    except HarnessError as e:
        assert "\n" not in str(e) and str(e).startswith(f"settings file {f}"), repr(str(e))
        TALLY["rejected"] += 1
        return
    _accepts_or_one_line(data, str(f))


def test_fuzz_tally_printed():
    """Runs after the fuzz tests (file order): the figures for the report."""
    total = TALLY["accepted"] + TALLY["rejected"]
    print(f"settings fuzz: {total} examples, {TALLY['accepted']} accepted, {TALLY['rejected']} rejected cleanly")
    assert total > 0


def test_yaml_dump_of_accepted_settings_round_trips(tmp_path):
    """A valid document written as YAML parses back to the same settings (the file path is the CLI's)."""
    s = build_settings("quick", overrides={"load": {"users": 7}, "timings": {"*": {"warmup_s": 0.5}}})
    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump({"load": {"users": 7}, "timings": {"*": {"warmup_s": 0.5}}}))
    assert build_settings("quick", overrides=load_settings_file(f)) == s
