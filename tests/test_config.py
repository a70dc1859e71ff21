"""Settings: profiles build, every bad value is one HarnessError line naming field, value and what is accepted."""

from __future__ import annotations

import pytest

from harness.config import PROFILES, build_settings, load_settings_file
from harness.contracts import DeploySpec
from harness.errors import HarnessError


@pytest.mark.parametrize("profile", PROFILES)
def test_profiles_keep_kubeblocks_defaults(profile):
    s = build_settings(profile)
    assert s.profile == profile
    # make poc must not shorten KubeBlocks' own settings
    assert s.deploy_spec() == DeploySpec()


def test_full_profile_repeats_and_seed_override():
    assert build_settings("full").repeat > 1
    assert build_settings("quick", seed=7).seed == 7


def test_settings_file_seed_is_kept_unless_the_cli_gives_one():
    assert build_settings("quick", seed=None, overrides={"seed": 42}).seed == 42
    assert build_settings("quick", seed=7, overrides={"seed": 42}).seed == 7


def test_settings_file_profile_must_not_contradict_the_cli():
    assert build_settings("quick", overrides={"profile": "quick"}).profile == "quick"
    with pytest.raises(HarnessError, match=r"profile = 'full' conflicts with --profile 'quick'"):
        build_settings("quick", overrides={"profile": "full"})


def test_unknown_profile_names_accepted_values():
    with pytest.raises(HarnessError, match=r"profile = 'fast': accepted: quick, full, nightly"):
        build_settings("fast")


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ({"load": {"rate_ops_s": -1}}, r"load\.rate_ops_s = -1: .*accepted: > 0 and <= 20000"),
        ({"timings": {"steady": {"warmup_s": 0}}}, r"timings\.steady\.warmup_s = 0: .*accepted: > 0 and <= 3600"),
        ({"timings": {"*": {"observe_s": 99999}}}, r"timings\.\*\.observe_s = 99999: .*<= 3600"),
        ({"deploy": {"sentinel_quorum": 5}}, r"deploy\.sentinel_quorum = 5: .*accepted: >= 1 and <= 3"),
        ({"repeat": "many"}, r"repeat = 'many': .*integer"),
        ({"nonsense": 1}, r"unknown field `nonsense`; accepted: .*load.*timings"),
        ({"load": {"rps": 5}}, r"unknown field `load\.rps`; accepted: op_timeout_s, rate_ops_s, users, workers"),
    ],
)
def test_bad_values_are_one_line(override, expected):
    with pytest.raises(HarnessError, match=expected) as ei:
        build_settings("quick", overrides=override)
    assert "\n" not in str(ei.value)


def test_overrides_merge_into_profile_and_timings_apply_per_scenario():
    s = build_settings("full", overrides={"load": {"users": 5}, "timings": {"*": {"warmup_s": 1},
                                                                            "steady": {"before_fault_s": 2}}})
    assert s.load.users == 5 and s.load.rate_ops_s == 300  # the rest of the profile's load stays
    from harness.config import Timings

    base = Timings(warmup_s=10, before_fault_s=30, fault_s=0, observe_s=0)
    assert s.timings_for("steady", base) == Timings(warmup_s=1, before_fault_s=2, fault_s=0, observe_s=0)
    assert s.timings_for("zone-outage", base).before_fault_s == 30


def test_deploy_overrides_shorten_the_spec():
    s = build_settings("quick", overrides={"deploy": {"sentinel_down_after_ms": 1500}})
    assert s.deploy_spec().sentinel_down_after_ms == 1500
    assert s.deploy_spec().role_probe_period_s == DeploySpec().role_probe_period_s


def test_settings_file_errors_are_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("load: [unclosed\n")
    with pytest.raises(HarnessError, match="not valid YAML"):
        load_settings_file(bad)
    lst = tmp_path / "list.yaml"
    lst.write_text("- 1\n- 2\n")
    with pytest.raises(HarnessError, match="must be a mapping"):
        load_settings_file(lst)
    with pytest.raises(HarnessError, match="no such file|No such file"):
        load_settings_file(tmp_path / "missing.yaml")
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert load_settings_file(empty) == {}
