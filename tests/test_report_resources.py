"""The report's configs / capacity / footprint / connections / divergence tables, from synthetic results
(pure: the blocks' numbers as results.json holds them; the real runs are in test_capacity and the
platforms' own tests)."""

from __future__ import annotations

from harness.report import resources as R
from harness.report import tables as T


def _cell(mode: str, **blocks):
    return {"scenario": blocks.pop("scenario", "steady"), "engine": blocks.pop("engine", "mysql"), "mode": mode,
            "status": "ok", "repeat": 0, "consistency": {"acked_writes": 10, "lost_writes": 0, "duplicate_seqs": 0,
                                                         "seq_regressions": 0}, **blocks}


def test_config_rows_show_only_what_differs_with_the_notes_and_the_read_back():
    kb = _cell("kubeblocks", config={"source": "KubeBlocks addon", "cpu": "0.5", "memory": "0.5Gi",
                                     "params": {"max_connections": "83", "sync_binlog": "1"},
                                     "notes": {"max_connections": "(memory limit / 4) / 1605632"},
                                     "applied": {"mysql-0": {"max_connections": "83"}}, "mismatches": []})
    sts = _cell("statefulset", config={"source": "OpenIM ships none", "params": {"max_connections": "151",
                                                                              "sync_binlog": "1"},
                                       "mismatches": ["mysql-0: max_connections rendered 151, running 100"]})
    rows, sources = R.config_rows({"cells": [kb, sts]}, "mysql")
    assert rows == [("`max_connections`", "83", "151", "(memory limit / 4) / 1605632")]
    assert any("read back from the running server(s) (mysql-0)" in s for s in sources)
    assert any("**running values differ from the rendered ones**" in s for s in sources)


def test_capacity_rows_say_generator_bound_and_never_give_it_as_the_databases_number():
    steps = [{"offered_ops_s": 100, "sustained": True, "p99_ms": 3.0, "errors": 0, "error_fraction": 0.0},
             {"offered_ops_s": 200, "sustained": False, "bound": "generator", "errors": 0, "error_fraction": 0.0,
              "why": "the busiest load worker used 97 % of a core"}]
    cell = _cell("kubeblocks", scenario="capacity", capacity={
        "steps": steps, "max_sustained_ops_s": 100, "bound": "generator", "bound_at_ops_s": 200,
        "summary": "generator-bound at 200 ops/s"})
    (row,) = R.capacity_rows({"cells": [cell]}, "mysql")
    assert row[0] == "kubeblocks" and row[1] == "100 (generator-bound at 200)"
    first, second = R.step_rows(T.as_results({"cells": [cell]}).cells[0])
    assert first[-2] == "yes" and second[-2] == "**no** (generator)"


def test_footprint_rows_and_what_ha_costs():
    def fp(pods):
        return {"window_s": 10.0, "limits": {"enforced": True, "how": "cgroup v1 x: paths", "cpu": "0.5",
                                             "memory": "0.5Gi"}, "pods": pods}
    kb = _cell("kubeblocks", footprint=fp([
        {"pod": "mysql-0", "kind": "data", "cpu_s": 2.0, "peak_rss_bytes": 100 * 2**20, "volume_bytes": 2**30},
        {"pod": "mysql-1", "kind": "data", "cpu_s": 1.0, "peak_rss_bytes": 100 * 2**20, "volume_bytes": 2**30}]))
    sts = _cell("statefulset", footprint=fp([
        {"pod": "mysql-0", "kind": "data", "cpu_s": 1.5, "peak_rss_bytes": 100 * 2**20, "volume_bytes": 2**30}]))
    rows = R.footprint_rows({"cells": [kb, sts]})
    assert rows[0][:6] == ("mysql", "kubeblocks", "mysql-0, mysql-1", "3.00 (0.30)", "200.0 MiB", "2.0 GiB")
    assert rows[0][6] == "0.5 CPU / 0.5Gi enforced (cgroup v1 x)"
    (cost,) = R.ha_cost_rows({"cells": [kb, sts]})
    assert cost == ("mysql", "×2.0 (3.00 CPU s vs 1.50 CPU s)", "×2.0 (200.0 MiB vs 100.0 MiB)",
                    "×2.0 (2.0 GiB vs 1.0 GiB)")
    unmeasured = _cell("statefulset", footprint=fp([{"pod": "mysql-0", "kind": "data", "cpu_s": None}]))
    assert R.ha_cost_rows({"cells": [kb, unmeasured]})[0][1] == "not measured in both modes"


def test_a_diverged_replica_is_named_in_its_table_and_in_the_data_safety_verdict():
    diverged = {"checked": True, "diverged": 1, "replicas": [
        {"primary": "mysql-0", "replica": "mysql-1", "method": "CHECKSUM TABLE", "compared": 9,
         "differing": ["openIM_v3.users"], "detail": "50 rows on mysql-0, 51 on mysql-1"}]}
    kb = _cell("kubeblocks", divergence=diverged)
    sts = _cell("statefulset")
    rows, checked, unchecked = R.divergence_rows({"cells": [kb, sts]})
    assert (checked, unchecked) == (1, 0)
    assert rows[0][2] == "mysql-1 vs mysql-0" and "**openIM_v3.users**" in rows[0][4]
    cells = T.as_results({"cells": [kb, sts]}).cells
    assert "**diverged in 1**" in T.safety_text([cells[0]])
    assert T.safety_verdict([cells[0]], [cells[1]]).startswith("**kubeblocks replicas diverged**")
    not_checked = T.as_results({"cells": [_cell("kubeblocks", divergence={"checked": False, "reason": "x"})]}).cells
    assert "1 not compared" in T.safety_text(not_checked)


def test_connection_rows_bold_the_refusals():
    cell = _cell("kubeblocks", scenario="connection-limits", connections={
        "processes": 6, "pool": 100, "wanted": 600, "opened": 82, "refused": 518,
        "server_limit": {"name": "max_connections", "value": 83}, "openim_sees": "Error 1040"})
    assert R.connections_rows({"cells": [cell]}) == [
        ("mysql", "kubeblocks", "6 x 100 = 600", "82", "**518**", "max_connections = 83", "Error 1040")]
    assert T.ordered_scenarios({"cells": [cell]}) == []  # no load behind it: not in the load tables


def _capacity(mode, best, bound, at):
    return _cell(mode, scenario="capacity", capacity={"steps": [], "max_sustained_ops_s": best, "bound": bound,
                                                      "bound_at_ops_s": at, "summary": ""})


def test_capacity_verdict_ranks_a_generator_floor_only_above_a_lower_real_limit():
    rows = {r[0]: r for r in T.verdict_rows({"cells": [_capacity("kubeblocks", 400, "saturated", 800),
                                                       _capacity("statefulset", 800, "generator", 1600)]}, "mysql")}
    row = rows["capacity: highest sustained offered rate"]
    assert row[3] == "**statefulset** sustains more (800 vs 400 ops/s)" and "**generator-bound**" in row[2]
    assert not any(k.startswith("availability: capacity") for k in rows)  # no fault: no availability row
    flipped = T.verdict_rows({"cells": [_capacity("kubeblocks", 800, "slo", 1600),
                                        _capacity("statefulset", 400, "generator", 800)]}, "mysql")
    assert next(r for r in flipped if r[0].startswith("capacity"))[3].startswith("not comparable")


def test_connection_cells_keep_their_scenario_out_of_the_load_tables_even_beside_a_skipped_engine():
    skipped = {"scenario": "connection-limits", "engine": "mongodb", "mode": "kubeblocks", "status": "skipped",
               "reason": "no mongod", "repeat": 0}
    measured = _cell("kubeblocks", scenario="connection-limits", connections={"wanted": 1})
    assert T.ordered_scenarios({"cells": [measured, skipped, _cell("kubeblocks")]}) == ["steady"]
