"""The platform-neutral part of the replica divergence check (harness/platforms/replica_compare.py):
the deterministic key sample, and the driver's catch-up / compare / re-check rules, on stand-ins."""

from __future__ import annotations

import itertools

import pytest

from harness import engines
from harness.contracts import DivergenceCheck
from harness.errors import CellNotApplicable, HarnessError
from harness.platforms.local.divergence import poll
from harness.platforms.replica_compare import (
    MAX_NAMED,
    NOT_CAUGHT_UP,
    NOT_COMPARED,
    Comparison,
    check_replicas,
    differing,
    sample,
)


def test_the_sample_is_deterministic_and_the_same_from_two_sides_holding_the_same_keys():
    keys = [f"MSG_CACHE:si_1_2:{i}" for i in range(2000)]
    a, b = sample(keys, 500), sample(reversed(keys), 500)
    assert a == b and len(a) == 500 and len(set(a)) == 500
    assert set(sample(keys[:10], 500)) == set(keys[:10]), "fewer keys than the sample size: all of them"
    extra = next(k for k in (f"planted:{i}" for i in itertools.count()) if sample([*keys, k], 500) != a)
    assert extra in sample([*keys, extra], 500), "a replica-only key among the smallest hashes is in its sample"


def test_differing_names_a_name_missing_on_one_side():
    assert differing({"a": "1", "b": "2"}, {"a": "1", "b": "3", "c": "4"}, ["a", "b", "c"]) == ("b", "c")


def _stand_in(lags, looks):
    """lag(replica) answers from `lags[replica]` (an iterator of answers); compare pops `looks`."""
    seen = []

    def lag(r):
        return next(lags[r])

    def compare(r, only):
        seen.append((r, None if only is None else tuple(only)))
        return looks.pop(0)

    return lag, compare, seen


def test_a_replica_that_catches_up_late_is_compared_and_one_that_never_does_is_reported():
    lags = {"r-1": iter([None]), "r-2": itertools.chain(["behind by 3"] * 2, itertools.repeat(None)),
            "r-3": itertools.repeat("primary at 0-101-9, replica at 0-101-4")}
    lag, compare, seen = _stand_in(lags, [Comparison(9, (), "9 tables"), Comparison(9, (), "9 tables")])
    out = check_replicas("p-0", ["r-1", "r-2", "r-3"], "CHECKSUM TABLE", lag=lag, compare=compare, wait=poll,
                         catch_up_s=0.5)
    assert [(d.replica, d.compared, d.differing) for d in out] == [("r-1", 9, ()), ("r-2", 9, ()), ("r-3", 0, (NOT_CAUGHT_UP,))]
    assert out[2].detail == "not caught up within 0.5 s: primary at 0-101-9, replica at 0-101-4"
    assert out[0].detail.startswith("caught up after ") and out[0].detail.endswith("; 9 tables")
    assert seen == [("r-1", None), ("r-2", None)], "the one behind is not compared"


def test_a_difference_counts_only_when_the_re_check_sees_it_again():
    lag, compare, seen = _stand_in({"r-1": itertools.repeat(None)},
                                   [Comparison(9, ("db.a", "db.b"), "9 tables"), Comparison(2, ("db.b",), "")])
    [d] = check_replicas("p-0", ["r-1"], "m", lag=lag, compare=compare, wait=poll)
    assert d.differing == ("db.b",) and d.compared == 9 and d.diverged
    assert seen == [("r-1", None), ("r-1", ("db.a", "db.b"))]
    assert "re-checked after a second catch-up: 1 equal by then, not counted" in d.detail


def test_at_most_ten_names_and_the_count_in_the_detail():
    names = tuple(f"k{i:02}" for i in range(25))
    lag, compare, _ = _stand_in({"r-1": itertools.repeat(None)}, [Comparison(500, names), Comparison(25, names)])
    [d] = check_replicas("p-0", ["r-1"], "m", lag=lag, compare=compare, wait=poll)
    assert d.differing == names[:MAX_NAMED] and "25 differ, the first 10 named" in d.detail


def test_a_failed_comparison_is_not_compared_and_a_replica_falling_behind_again_is_not_re_checked(monkeypatch):
    def broken(r, only):
        raise HarnessError("CHECKSUM TABLE on p-0 / r-1 failed: gone")

    [d] = check_replicas("p-0", ["r-1"], "m", lag=lambda r: None, compare=broken, wait=poll)
    assert (d.differing, d.detail) == ((NOT_COMPARED,), "CHECKSUM TABLE on p-0 / r-1 failed: gone")
    answers = itertools.chain([None], itertools.repeat("behind again"))
    lag, compare, seen = _stand_in({"r-1": answers}, [Comparison(3, ("db.a",), "3 tables")])
    monkeypatch.setattr("harness.platforms.replica_compare.RECHECK_S", 0.2)
    [d] = check_replicas("p-0", ["r-1"], "m", lag=lag, compare=compare, wait=poll)
    assert d.differing == ("db.a",) and "not re-checked (the replica fell behind again)" in d.detail
    assert len(seen) == 1


def test_the_engines_reach_their_local_check_through_the_adapter():
    for name in ("mysql", "redis"):
        check = engines.get(name).local_divergence()
        assert callable(check.lag) and callable(check.compare) and check.method(None)
    with pytest.raises(CellNotApplicable, match="no local replica divergence check for mongodb"):
        engines.get("mongodb").local_divergence()


def test_both_platform_families_offer_the_divergence_check(tmp_path):
    from harness.platforms.commands import DryRunRunner
    from harness.platforms.k8s_preflight import ClusterSettings
    from harness.platforms.kubernetes import KubernetesPlatform
    from harness.platforms.local import LocalPlatform
    from harness.procs import ProcessRegistry

    local = LocalPlatform(ProcessRegistry(tmp_path / "s.json", "t"), tmp_path / "run", tmp_path / "work")
    k8s = KubernetesPlatform(DryRunRunner(out=None), tmp_path, ClusterSettings(node_address="127.0.0.1", tools_dir=tmp_path))
    assert isinstance(local, DivergenceCheck) and isinstance(k8s, DivergenceCheck)
