"""Alert rules equivalent to the KubeBlocks addons' examples (examples/{mysql,redis}/alert-rules.yaml):
down, missing primary, restarted, replication broken or lagging.

The expressions keep the `deployment` and `pod` labels, so an alert says which pod. `for` is 0 s
everywhere: the time to alert then measures detection (scrape + evaluation), and an SRE's own `for:`
adds to it. The same rules go to the local Prometheus and into the in-cluster one's ConfigMap.
"""

from __future__ import annotations

import json
from typing import Any

from harness.observe.metrics import METRICS, EngineMetrics

LAG_THRESHOLD_S = 30  # the addons' replication-lag threshold
RESTARTED_UPTIME_S = 60  # the addons' MysqlRestarted `uptime < 60`
# the critical ones, that the time to alert counts: `Restarted` also fires through a fresh deployment's
# first minute and `ReplicationLag` is a warning
FAULT_ALERTS = ("Down", "MissingPrimary", "TooManyPrimaries", "ReplicationBroken")


def alert_name(engine: str, kind: str) -> str:
    """`Down` -> `MysqlDown`, as the addons name them."""
    return engine.capitalize() + kind


def _rule(engine: str, kind: str, expr: str, severity: str, summary: str) -> dict[str, Any]:
    return {"alert": alert_name(engine, kind), "expr": expr, "for": "0s",
            "labels": {"severity": severity, "engine": engine, "fault_alert": kind},
            "annotations": {"summary": summary}}


def _primaries(m: EngineMetrics, engine: str) -> str:
    """Primaries per deployment, 0 (not absent) while the exporters answer but no server is primary."""
    return (f"(sum by (deployment) ({m.primary}) or on (deployment) "
            f"(max by (deployment) (up{{engine=\"{engine}\"}}) * 0))")


def engine_rules(engine: str) -> dict[str, Any]:
    m = METRICS[engine]
    return {"name": f"{engine}-alerts", "interval": "1s", "rules": [
        _rule(engine, "Down", f"{m.up} == 0 or up{{engine=\"{engine}\"}} == 0", "critical",
              "the server (or its exporter's node) does not answer"),
        _rule(engine, "MissingPrimary", f"{_primaries(m, engine)} < 1", "critical", "no pod is primary"),
        _rule(engine, "TooManyPrimaries", f"{_primaries(m, engine)} > 1", "critical", "more than one pod is primary"),
        _rule(engine, "Restarted", f"{m.uptime} < {RESTARTED_UPTIME_S}", "info",
              f"the server started less than {RESTARTED_UPTIME_S} s ago"),
        _rule(engine, "ReplicationBroken", f"{m.replication_ok} == 0", "critical", "a replica's replication link is down"),
        _rule(engine, "ReplicationLag", f"{m.lag} > {LAG_THRESHOLD_S}", "warning",
              f"a replica lags more than {LAG_THRESHOLD_S} s"),
    ]}


def rules_file(engines: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The Prometheus rule file for these engines (every engine with an exporter by default)."""
    names = [e for e in (engines or tuple(METRICS)) if e in METRICS]
    return {"groups": [engine_rules(e) for e in names]}


def rules_text(engines: tuple[str, ...] | None = None) -> str:
    """YAML is a superset of JSON: Prometheus reads this as its rule file."""
    return json.dumps(rules_file(engines), indent=1)
