"""`harness report DIR`: report.md, self-contained report.html and figures/*.png from a run directory.

Order (design.md, Report): header -> verdict table per engine -> side-by-side per scenario ->
day-2 operations (when the run has any) -> resources -> per-cell timelines -> server view
(Prometheus) -> methodology -> skipped / not
applicable and why. Everything comes from the
run directory's own files (results.json, settings.json, cells/*/timeline.csv).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.config import ValiditySettings
from harness.contracts import DeploySpec
from harness.errors import HarnessError
from harness.report import day2 as D
from harness.report import observability as O
from harness.report import resources as R
from harness.report import tables as T
from harness.report.doc import Bullets, Document, Figure, Heading, Para, Pre, Table, to_html, to_markdown
from harness.report.endpoints import endpoint_evidence_summary
from harness.results_model import Results, as_results, load_results
from harness.verdict_record import verdict_of


def emulation_note(deploy_spec: dict[str, Any]) -> str:
    """The note every local report carries, with the failover settings this run actually used."""
    d = {**DEFAULT_SPEC, **deploy_spec}
    return ("On the `local` platform, `kubeblocks` is an emulation of KubeBlocks' topology and failover settings "
            f"(MySQL: 2 pods in 2 zones with GTID semi-sync (timeout {d['semi_sync_timeout_ms']} ms) and a role "
            f"controller probing every {d['role_probe_period_s']:g} s, failing over after "
            f"{d['role_probe_failure_threshold']} failed probes; Redis: 2 pods + 3 Sentinels with down-after "
            f"{d['sentinel_down_after_ms']} ms, failover-timeout {d['sentinel_failover_timeout_ms']} ms, quorum "
            f"{d['sentinel_quorum']}), run as real server processes on this machine. It is not KubeBlocks itself; "
            "`statefulset` is one server process restarted in place, as a plain StatefulSet would be.")


GENERATOR_NOTE = (
    "Every number below is only as good as the load that produced it. The load is open-loop: each simulated "
    "user has a fixed schedule, and each op records the slot it stood for. A cell is `invalid` (shown here "
    "first, and used for no verdict) when the load generator itself fell behind: it delivered under "
    "{min_delivered:.0f} % of the offered rate in the steady window, started ops late (schedule lag p99 over "
    "{lag_ms:.0f} ms), invoked nothing for over {stall:g} s while ops were due, or its event loop was blocked "
    "for over {hub:g} s. A database outage shows as ops invoked and failing; a generator stall as ops not "
    "invoked at all: the two are never mixed up."
)

METHODOLOGY = (
    "Timestamps: monotonic clock, microseconds, per op, streamed to each cell's `history/*.jsonl` "
    "(Jepsen-style `invoke` then `ok` / `fail` / `info`; `info` = outcome unknown).",
    "Throughput: ok ops/s in the steady window before the fault, during it, and after recovery.",
    "Latency: exact per-op latencies of `ok` ops into an HDR histogram (not Locust's rounded buckets): "
    "p50, p95, p99, max. This is service time (invoke -> ok); the response time from the schedule (from the "
    "slot the op stood for: the coordinated-omission correction of wrk2 / HdrHistogram) is shown beside it.",
    "Load: open-loop, a fixed offered rate spread over the users, each on a fixed schedule; the measured window "
    "opens only after every user is connected and the warm-up has run. At a fixed offered rate throughput is "
    "not a ranking: the question is only whether the offered rate was delivered.",
    "Client connections: plain TCP, no TLS, as OpenIM itself connects (its MySQL DSN sets no `tls` parameter; "
    "go-redis and the mongo driver get no TLS settings from OpenIM's config).",
    "`write_gap_s`: the longest interval after injection with no acknowledged write.",
    "`rto_s`: injection -> first acknowledged write that ends that gap; `null` when writes never resumed "
    "within the observation window (`recovered: false`); 0 when the longest gap is under 1 s (writes never "
    "stopped).",
    "`lost_writes`: acknowledged (`ok`) writes absent in the final read-back from the recovered primary; "
    "`duplicate_seqs`: a seq acknowledged for two different messages; `seq_regressions`: a seq acknowledged "
    "after failover that is <= one acknowledged before it.",
    "Independent evidence: primary changes the servers themselves recorded (Sentinel `+switch-master`, the "
    "role controller's promotions) are listed next to the client-side RTO.",
)


DEFAULT_SPEC: dict[str, Any] = dict(vars(DeploySpec()))


def render_run_dir(run_dir: Path) -> list[Path]:
    """Writes report.md, report.html and figures/*.png; returns their paths (report files first)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise HarnessError(f"{run_dir}: not a directory (expected a run directory such as reports/latest)")
    results = load_results(run_dir)
    settings = _read_json(run_dir / "settings.json")
    doc, figures = build_document(run_dir, results, settings)
    md = run_dir / "report.md"
    html = run_dir / "report.html"
    md.write_text(to_markdown(doc))
    html.write_text(to_html(doc))
    return [md, html, *figures]


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _scenario_info() -> dict[str, Any]:
    try:
        from harness import catalog as scenarios

        return scenarios.load_scenarios()
    except Exception:  # noqa: BLE001 - the report renders without the declarations
        return {}


def build_document(run_dir: Path, results: Results | Mapping[str, Any],
                   settings: dict[str, Any]) -> tuple[Document, list[Path]]:
    from harness.report import figures as F

    results = as_results(results)
    run = results.run
    doc = Document(f"OpenIM databases: KubeBlocks vs StatefulSet — run {run.id}")
    figs: list[Path] = []
    engines = T.engines_of(results)
    sc_info = _scenario_info()

    # header
    status = run.status
    doc.add(Table(("", ""), tuple(T.header_rows(run))))
    st = settings.get("settings") or {}
    if run.platform == "local":
        doc.add(Para(f"**Emulation.** {emulation_note(st.get('deploy_spec') or {})}"))
    if status != "finished":
        doc.add(Para(f"**This run did not finish ({status}).** The tables show the cells measured before it stopped."))

    # cells the harness cannot vouch for: first, and no verdict is drawn from them
    v = {**ValiditySettings().model_dump(), **(st.get("validity") or {})}
    invalid = T.invalid_rows(results)
    doc.add(Heading("Could the harness measure every cell?"))
    doc.add(Para(GENERATOR_NOTE.format(min_delivered=v["min_delivered"] * 100, lag_ms=v["max_lag_p99_s"] * 1000,
                                       stall=v["max_stall_s"], hub=v["max_hub_block_s"])))
    if invalid:
        doc.add(Para(f"**{len(invalid)} cell(s) could not be measured properly**; their numbers are kept in "
                     "results.json as evidence but no verdict below uses them:"),
                Table(("scenario", "engine", "mode", "why (the generator's own evidence)"), tuple(invalid)))
    else:
        doc.add(Para("Yes: in every measured cell the load generator kept its schedule (evidence per cell in "
                     "the methodology section)."))

    # headline + verdicts
    doc.add(Heading("Headline"), Table(T.HEADLINE_HEADER, tuple(T.headline_rows(results))))
    summary = F.summary_figure(results, engines, run_dir / "figures" / "summary-write-gap.png")
    if summary:
        figs.append(summary)
        doc.add(Figure(summary, "figures/summary-write-gap.png",
                       "Longest write gap after the fault, per scenario and mode (from results.json)."))
    doc.add(Heading("Verdict per engine and criterion"))
    for e in engines:
        rows = T.verdict_rows(results, e)
        doc.add(Heading(e, 3), Table(("criterion", "kubeblocks", "statefulset", "verdict"), tuple(rows)))

    # side by side
    doc.add(Heading("Scenarios side by side (kubeblocks vs statefulset)"))
    for sc in T.ordered_scenarios(results):
        decl = sc_info.get(sc)
        doc.add(Heading(sc, 3))
        if decl is not None:
            doc.add(Para(f"{decl.summary}. Expected: {decl.expectation}."))
        for e in engines:
            if not any(T.cells_for(results, sc, e, m, ok_only=False) for m in T.MODES):
                continue
            doc.add(Table(("metric", "kubeblocks", "statefulset", "Δ kubeblocks − statefulset"),
                          tuple(T.side_by_side_rows(results, sc, e)), caption=f"{sc}: {e}"))
            notes = _observations(results, sc, e)
            if notes:
                doc.add(Bullets(tuple(notes)))

    # day-2 operations: only when the run has them
    if D.day2_cells(results):
        doc.add(Heading("Day-2 operations"), Para(D.DAY2_NOTE))
        for e in D.day2_engines(results):
            doc.add(Heading(e, 3), Table(D.DAY2_HEADER, tuple(D.day2_rows(results, e)), caption=f"day-2 operations: {e}"))

    figs += _resources_section(doc, run_dir, results, engines, st)

    # timelines
    doc.add(Heading("Timelines per cell"),
            Para("Top: ok ops/s and failed ops/s per second (completion time). Bottom: p99 latency of the ok ops "
                 "completed in each second (log scale when a spike dwarfs the steady values). Red line: fault injected; red band: fault in force; "
                 "hatched: the longest write gap; dashed purple: a primary change the servers recorded."))
    repeats = sorted({c.repeat for c in results.cells})
    for sc in T.ordered_scenarios(results):
        for e in engines:
            for r in repeats:
                name = f"{sc}-{e}" + (f"-r{r}" if r else "") + ".png"
                p = F.timeline_figure(run_dir, results, sc, e, r, run_dir / "figures" / name)
                if p:
                    figs.append(p)
                    doc.add(Figure(p, f"figures/{name}", f"{sc}, {e}" + (f", repeat {r}" if r else "")))

    # the servers' own view (Prometheus), beside the clients' timelines
    figs += O.add_section(doc, run_dir, results)

    # methodology
    doc.add(Heading("Methodology"), Bullets(METHODOLOGY))
    gen = T.generator_rows(results)
    if gen:
        doc.add(Table(T.GENERATOR_HEADER, tuple(gen), caption="load generator evidence per cell (measured window)"))
    timings = settings.get("scenario_timings") or {}
    if timings:
        doc.add(Table(("scenario", "warm-up s", "before fault s", "fault s", "observe s"),
                      tuple((sc, *(f"{t.get(k, 0):g}" for k in ("warmup_s", "before_fault_s", "fault_s", "observe_s")))
                            for sc, t in timings.items()), caption="timings used"))
    if st:
        doc.add(Para("The exact settings used are in `settings.json`; load: "
                     + ", ".join(f"{k} {v}" for k, v in (st.get("load") or {}).items())
                     + "; deployment: " + ", ".join(f"{k} {v}" for k, v in (st.get("deploy_spec") or {}).items()
                                                    if k not in ("cpu", "memory", "storage"))))
    try:
        from harness import checker

        if checker.__doc__:
            doc.add(Para("The checker's own definitions (harness/checker.py):"), Pre(checker.__doc__.strip()))
    except Exception:  # noqa: BLE001 - optional detail
        pass

    # skipped etc.
    doc.add(Heading("Skipped, not applicable and failed cells"))
    rows = T.not_ok_rows(results)
    if rows:
        doc.add(Table(("scenario", "engine", "mode", "status", "why"), tuple(rows)))
    else:
        doc.add(Para("None: every cell ran and was measured."))
    return doc, figs


def _resources_section(doc: Document, run_dir: Path, results: Results, engines: list[str],
                       st: dict[str, Any]) -> list[Path]:
    """Configs, capacity, footprint, connection limits and replica divergence: each only when measured."""
    from harness.report import figures as F

    figs: list[Path] = []
    cfg_engines = R.config_engines(results)
    cap = R.capacity_cells(results)
    fp = R.footprint_rows(results)
    conns = R.connections_rows(results)
    div, checked, unchecked = R.divergence_rows(results)
    if not (cfg_engines or cap or fp or conns or checked or unchecked):
        return figs
    doc.add(Heading("Performance without tuning, and what each mode costs"))
    for e in cfg_engines:
        rows, sources = R.config_rows(results, e)
        doc.add(Heading(f"{e}: the configs each mode ran with", 3), Bullets(tuple(sources)))
        if rows:
            doc.add(Table(R.CONFIG_HEADER, tuple(rows), caption=f"{e}: parameters that differ between the modes"))
        else:
            doc.add(Para("The two modes ran with the same parameters."))
    if cap:
        slo = (st.get("capacity") or {}).get("slo_p99_ms")
        doc.add(Heading("Capacity", 3), Para(R.CAPACITY_NOTE))
        for e in T.engines_in(cap):
            doc.add(Table(R.CAPACITY_HEADER, tuple(R.capacity_rows(results, e)), caption=f"capacity: {e}"))
            for c in (c for c in cap if c.engine == e and c.capacity.steps):
                doc.add(Table(R.STEP_HEADER, tuple(R.step_rows(c)), caption=f"capacity steps: {e}/{c.mode}"))
        p = F.capacity_figure(results, engines, slo, run_dir / "figures" / "capacity.png")
        if p:
            figs.append(p)
            doc.add(Figure(p, "figures/capacity.png", "Delivered rate vs p99 response time per capacity step (label: "
                                                      "the offered rate; filled: sustained, hollow square: not, x: "
                                                      "generator-bound; dashed red: the SLO)."))
    if fp:
        doc.add(Heading("Footprint: what each pod cost", 3), Para(R.FOOTPRINT_NOTE),
                Table(R.FOOTPRINT_HEADER, tuple(fp), caption="footprint per engine and mode (steady window)"))
        ha = R.ha_cost_rows(results)
        if ha:
            doc.add(Table(R.HA_COST_HEADER, tuple(ha), caption="what HA costs: kubeblocks over statefulset"))
    if conns:
        doc.add(Heading("Connection limits", 3), Table(R.CONNECTIONS_HEADER, tuple(conns)))
    if checked or unchecked:
        doc.add(Heading("Replica divergence (data safety)", 3))
        head = (f"{checked} replicated cell(s) compared every replica with the primary after the load"
                + (f"; {unchecked} could not be compared (see results.json `divergence.reason`)" if unchecked else ""))
        if div:
            doc.add(Para(head + f": **{len(div)} replica(s) diverged** from their primary."),
                    Table(R.DIVERGENCE_HEADER, tuple(div)))
        else:
            doc.add(Para(head + ": every replica matched its primary."))
    return figs


def _observations(results: Results | Mapping[str, Any], scenario: str, engine: str) -> list[str]:
    """What the numbers say, in words: failovers seen by the servers vs writes seen by the clients."""
    results = as_results(results)
    out = []
    for mode in T.MODES:
        for c in T.cells_for(results, scenario, engine, mode):
            if not c.fault:
                continue
            rto = c.measures.availability.rto_s
            rcs = c.role_changes
            inj = c.fault.injected_at_s
            who = f"{engine}/{mode}"
            if ep := endpoint_evidence_summary(c.service_endpoints or {}, rto):
                out.append(f"{who}: {ep}")  # time-to-endpoint-removal next to the client's RTO (kind/k8s)
            if rcs:
                rc = rcs[0]
                rel = rc.at_s - inj if isinstance(rc.at_s, int | float) and isinstance(inj, int | float) else None
                txt = f"{who}: the servers recorded a primary change to {rc.new_primary} ({rc.source})"
                if rel is not None:
                    txt += f" {rel:.1f} s after injection"
                if rto is not None:
                    txt += f"; clients resumed writing {rto:.1f} s after injection"
                out.append(txt + ".")
            elif mode == "kubeblocks" and rto:
                out.append(f"{who}: no primary change was recorded — writes resumed after {rto:.1f} s on the "
                           "same primary (restarted in place or released), i.e. no failover happened.")
            held = c.fault.duration_s
            if (mode == "statefulset" and not rcs and rto and isinstance(held, int | float) and held > 0
                    and c.fault.kind in ("zone-outage", "zone-partition")):
                back = "came back" if c.fault.kind == "zone-outage" else "was released"
                out.append(f"{who}: writes resumed {rto:.1f} s after injection, only because the zone {back} "
                           f"after {held:.0f} s (the scenario's schedule). A plain StatefulSet does not move its "
                           "pod to another zone: a longer outage stops writes for as long.")
            verdict = verdict_of(c)
            if not verdict.recovered:
                out.append(f"{who}: writes did not resume within the observation window.")
            lost = verdict.evidence("lost", "lost_writes")
            if lost:
                out.append(f"{who}: {lost} acknowledged writes were missing in the final read-back.")
            errors = verdict.evidence("ops", "top_errors") or []
            if errors:
                out.append(f"{who}: what the clients saw: " + "; ".join(
                    f"{e['count']} × `{e['error']}`" for e in errors if isinstance(e, dict)) + ".")
    return out
