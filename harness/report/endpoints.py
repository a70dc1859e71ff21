"""The report's sentence about a kind/k8s cell's client Service during the fault (its `service_endpoints`
evidence, recorded by harness/platforms/k8s_evidence.py): read from results.json, never from a cluster."""

from __future__ import annotations

from typing import Any


def endpoint_evidence_summary(ev: dict[str, Any], rto_s: float | None) -> str | None:
    """One sentence for the report: how long the Service kept sending new connections to the dead
    primary, next to when clients resumed writing. None when the fault hit no endpoint."""
    hit = ev.get("hit") or []
    if not hit:
        return None
    grace = ev.get("node_monitor_grace_period_s")
    grace_txt = f"; node-monitor-grace-period {grace:g} s" if isinstance(grace, int | float) else ""
    removal = ev.get("endpoint_removal_s")
    svc = ev.get("service", "the Service")
    if removal is None:
        watched = ev.get("watched_s")
        txt = (f"service {svc} still listed {', '.join(hit)} as a ready endpoint when the watch ended"
               + (f", {watched:.0f} s after injection" if isinstance(watched, int | float) else ""))
    else:
        txt = f"service {svc} kept {', '.join(hit)} as a ready endpoint until {removal:.1f} s after injection"
    most = ev.get("max_ready_endpoints")
    if isinstance(most, int) and most > 1:
        txt += f" ({most} ready endpoints at once for {ev.get('multiple_ready_s', 0):.0f} s)"
    txt += grace_txt
    if rto_s is not None:
        txt += f"; clients resumed writing {rto_s:.1f} s after injection"
    return txt + "."

