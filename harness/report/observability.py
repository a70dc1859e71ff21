"""The report's "Server view (Prometheus)" section: what one Prometheus scraping the engines' exporters saw,
next to what the clients saw: the time from injection to the first alert, the exporter's command counters
against the client's acknowledged ops, the primary changes against the servers' own evidence, every
disagreement, the collection notes, and one figure per observed fault cell.

Pure functions over the typed results (the figures are drawn by harness.report.figures). A cell with no
`observability` block (an old run, a cell that did not deploy) is "not observed", never an empty "0".
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.observe.collect import CROSS_CHECK_PREFIX
from harness.report.doc import Bullets, Document, Figure, Heading, Para, Table
from harness.report.tables import MODES, engines_in, fmt
from harness.results_model import Cell, Results, as_results

ResultsLike = Results | Mapping[str, Any]

NOT_OBSERVED = "not observed in this run"
CROSS_CHECK_HEADER = ("command", "expected (client acks)", "observed (exporter counter)", "diff %", "agree")
ROLE_HEADER = ("scenario", "engine", "mode", "new primary", "servers' evidence at s", "Prometheus at s", "Δ s",
               "agree", "evidence")
SECTION_NOTE = ("One Prometheus scraped every pod's exporter (the engines' own Prometheus exporters, the versions "
                "below) during each cell, on the cell's time axis (t=0: the measured load start). The alert rules "
                "are the KubeBlocks addons' examples with `for: 0s`, so the time to alert is detection only "
                "(scrape + evaluation); an SRE's own `for:` adds to it. The exporter's command counters are "
                "checked against the ops the clients had acknowledged: where the two disagree, it is said so below.")


def observed_cells(results: ResultsLike) -> list[Cell]:
    """Cells with an observability block (observed or not, with its reason)."""
    return [c for c in as_results(results).cells if c.observability]


def _who(c: Cell) -> str:
    return f"{c.label} {c.engine}/{c.mode}"


def _num(x: Any, digits: int = 1) -> str:
    return fmt(x, "", digits) if isinstance(x, int | float) and not isinstance(x, bool) else "–"


# -- time to alert ---------------------------------------------------------------------------------
def alert_text(c: Cell) -> str:
    obs = c.observability
    if not obs:
        return "not observed"
    if not obs.observed:
        return f"not observed: {obs.missing or 'no reason recorded'}"
    tta = obs.time_to_alert
    if tta and isinstance(tta.s, int | float):
        return f"{tta.s:.1f} s ({tta.alert}" + (f" on {tta.pod})" if tta.pod else ")")
    return "no alert"


def time_to_alert_table(results: ResultsLike) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    """(header, rows): one row per fault scenario, one column per engine x mode; repeats joined by `; `."""
    r = as_results(results)
    faulted = [c for c in r.cells if c.fault]
    engines = engines_in(faulted)
    columns = [(e, m) for e in engines for m in MODES]
    header = ("scenario", *(f"{e} / {m}" for e, m in columns))
    rows: list[tuple[str, ...]] = []
    for sc in dict.fromkeys(c.scenario for c in faulted):
        row = [sc]
        for e, m in columns:
            cs = [c for c in faulted if c.scenario == sc and c.engine == e and c.mode == m]
            row.append("; ".join(alert_text(c) for c in cs) if cs else "–")
        rows.append(tuple(row))
    return header, rows


# -- cross-check -----------------------------------------------------------------------------------
def cross_check_rows(c: Cell) -> list[tuple[str, ...]]:
    cc = c.observability.cross_check
    rows: list[tuple[str, ...]] = []
    for k in cc.commands:
        diff = f"{k.diff_fraction * 100:.2f} %" if isinstance(k.diff_fraction, int | float) else "–"
        agree = "yes" if k.agree else "**no**" if k.agree is False else "–"
        rows.append((f"`{k.command}`", _num(k.expected, 0), _num(k.observed, 0), diff, agree))
    return rows


def cross_check_caption(c: Cell) -> str:
    cc = c.observability.cross_check
    w = cc.window
    where = ""
    if w:
        where = f" over {_num(w.from_s)}–{_num(w.to_s)} s" + (f" on {w.pod}" if w.pod else "") + (
            f" ({w.why})" if w.why else "")
    tol = f", tolerance {cc.tolerance * 100:g} %" if isinstance(cc.tolerance, int | float) else ""
    verdict = "agree" if cc.valid else "**DISAGREE**"
    return f"cross-check {_who(c)}{where}{tol}: {verdict}"


def cross_check_disagreement(c: Cell) -> str | None:
    """A failed cross-check in words (it is listed with the disagreements, never only in its table)."""
    cc = c.observability.cross_check
    if not cc or cc.valid is not False:
        return None
    bad = [f"`{k.command}` expected {_num(k.expected, 0)}, observed {_num(k.observed, 0)}"
           + (f" ({k.diff_fraction * 100:.2f} %)" if isinstance(k.diff_fraction, int | float) else "")
           for k in cc.commands if k.agree is False]
    why = "; ".join([*bad, *cc.reasons]) or "no reason recorded"
    return f"{_who(c)}: the exporter's counters disagree with the client's acknowledged ops: {why}"


# -- role changes ----------------------------------------------------------------------------------
def role_rows(results: ResultsLike) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for c in observed_cells(results):
        for rc in c.observability.role_changes:
            ev = _num(rc.evidence_at_s) if rc.evidence_at_s is not None else "only Prometheus saw it"
            pr = _num(rc.prometheus_at_s) if rc.prometheus_at_s is not None else "**never seen by Prometheus**"
            agree = "yes" if rc.agree else "**no**" if rc.agree is False else "–"
            rows.append((c.label, c.engine, c.mode, rc.new_primary, ev, pr, _num(rc.delta_s), agree, rc.source or ""))
    return rows


def disagreements(results: ResultsLike) -> list[str]:
    """Every disagreement between the client's and the server's view: a failed cross-check summed up
    in one line, then the block's own (where the harness words the role-change mismatches; derived from
    `role_changes` for a block that lists none)."""
    out: list[str] = []
    for c in observed_cells(results):
        obs = c.observability
        if (d := cross_check_disagreement(c)) is not None:
            out.append(d)
        own = [x for x in obs.disagreements if not x.startswith(CROSS_CHECK_PREFIX)]
        out += [f"{_who(c)}: {x}" for x in own]
        if obs.disagreements:
            continue
        for rc in obs.role_changes:
            if rc.agree is False:
                out.append(f"{_who(c)}: primary change to {rc.new_primary}: the servers' evidence at "
                           f"{_num(rc.evidence_at_s)} s, Prometheus at {_num(rc.prometheus_at_s)} s")
    return list(dict.fromkeys(out))


def notes(results: ResultsLike) -> list[str]:
    return list(dict.fromkeys(n for c in observed_cells(results) for n in c.observability.notes))


def exporters(results: ResultsLike) -> list[str]:
    seen: dict[str, set[str]] = {}
    for c in observed_cells(results):
        for version in c.observability.exporters.values():
            seen.setdefault(version, set()).add(f"{c.engine}/{c.mode}")
    return [f"{v}: {', '.join(sorted(where))}" for v, where in seen.items()]


def figure_cells(results: ResultsLike) -> list[Cell]:
    """The fault cells drawn in the section: observed and with a fault."""
    return [c for c in observed_cells(results) if c.fault and c.observability.observed]


# -- the section -----------------------------------------------------------------------------------
def add_section(doc: Document, run_dir: Path, results: ResultsLike) -> list[Path]:
    """Appends the section to `doc`; returns the figures written."""
    from harness.report import figures as F

    r = as_results(results)
    doc.add(Heading("Server view (Prometheus)"))
    cells = observed_cells(r)
    if not cells:
        doc.add(Para(f"The servers' own metrics were {NOT_OBSERVED} (no cell has an `observability` block)."))
        return []
    doc.add(Para(SECTION_NOTE))
    if ex := exporters(r):
        doc.add(Bullets(tuple(ex)))
    header, rows = time_to_alert_table(r)
    if rows:
        doc.add(Heading("Time to alert", 3),
                Para("Seconds from the fault's injection to the first alert firing, and which alert."),
                Table(header, tuple(rows), caption="time to alert per fault scenario"))
    checked = [c for c in cells if c.observability.cross_check]
    unchecked = [c for c in cells if c.observability.observed and not c.observability.cross_check]
    doc.add(Heading("Cross-check: the exporter's counters vs the client's acknowledged ops", 3))
    for c in checked:
        doc.add(Table(CROSS_CHECK_HEADER, tuple(cross_check_rows(c)), caption=cross_check_caption(c)))
    if unchecked:
        doc.add(Para("Not checkable: " + ", ".join(_who(c) for c in unchecked) + " (why: in the disagreements)."))
    if not checked and not unchecked:
        doc.add(Para("No observed cell."))
    roles = role_rows(r)
    if roles:
        doc.add(Heading("Primary changes: the servers' evidence vs Prometheus", 3), Table(ROLE_HEADER, tuple(roles)))
    doc.add(Heading("Disagreements", 3))
    dis = disagreements(r)
    doc.add(Bullets(tuple(dis)) if dis else Para("None: where both saw it, the clients and Prometheus agree."))
    not_obs = [c for c in cells if not c.observability.observed]
    if not_obs:
        doc.add(Para("Not observed: " + "; ".join(f"{_who(c)} ({c.observability.missing or 'no reason recorded'})"
                                                  for c in not_obs)))
    if ns := notes(r):
        doc.add(Heading("Notes", 3), Bullets(tuple(ns)))
    figs: list[Path] = []
    for c in figure_cells(r):
        name = F.server_figure_name(c)
        p = F.server_figure(run_dir, c, run_dir / "figures" / name)
        if p:
            figs.append(p)
            doc.add(Figure(p, f"figures/{name}", f"{_who(c)}: client ok/failed per second vs the servers' "
                                                 "commands/s, clients, role and replication lag per pod; "
                                                 "dash-dotted red: an alert firing"))
    return figs


# -- the notebook's drill-in -----------------------------------------------------------------------
def drill_rows(c: Cell) -> list[tuple[str, str]]:
    """(what, value) for one cell: the time to alert, the cross-check's verdict, the disagreements."""
    obs = c.observability
    if not obs:
        return [("observability", NOT_OBSERVED)]
    rows = [("time to alert", alert_text(c))]
    if obs.cross_check:
        rows.append(("cross-check", cross_check_caption(c).split(": ", 1)[1]))
    for rc in obs.role_changes:
        rows.append(("primary change", f"{rc.new_primary}: evidence {_num(rc.evidence_at_s)} s, Prometheus "
                                       f"{_num(rc.prometheus_at_s)} s, Δ {_num(rc.delta_s)} s"))
    if (d := cross_check_disagreement(c)) is not None:
        rows.append(("disagreement", d))
    rows += [("disagreement", d) for d in obs.disagreements]
    return rows
