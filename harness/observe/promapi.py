"""A minimal client of Prometheus' HTTP API (stdlib only), loopback addresses only: the harness never
sends traffic beyond 127.0.0.0/8 (the in-cluster Prometheus is reached through a host port on 127.0.0.1)."""

from __future__ import annotations

import ipaddress
import json
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from harness.errors import HarnessError

TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Series:
    metric: str
    labels: dict[str, str]
    t: list[float]  # unix seconds
    v: list[float]


def check_loopback(url: str) -> str:
    host = urllib.parse.urlsplit(url).hostname or ""
    try:
        ok = ipaddress.ip_address(host).is_loopback
    except ValueError:
        ok = host == "localhost"
    if not ok:
        raise HarnessError(f"refusing to query {url}: the harness only talks to 127.0.0.0/8")
    return url.rstrip("/")


def answers(url: str, timeout_s: float = 1.0) -> bool:
    """A loopback HTTP endpoint answers 200 (an exporter's /metrics, Prometheus' /-/ready)."""
    try:
        with urllib.request.urlopen(check_loopback(url), timeout=timeout_s) as r:  # noqa: S310 - loopback only
            return bool(r.status == 200)
    except OSError:
        return False


def _get(url: str, path: str, params: dict[str, str]) -> Any:
    full = f"{check_loopback(url)}{path}?{urllib.parse.urlencode(params)}"
    try:
        with urllib.request.urlopen(full, timeout=TIMEOUT_S) as r:  # noqa: S310 - loopback only (checked)
            body = json.loads(r.read())
    except (OSError, ValueError) as e:
        raise HarnessError(f"prometheus query failed: {type(e).__name__}: {e}") from e
    if body.get("status") != "success":
        raise HarnessError(f"prometheus query failed: {body.get('error', body)}")
    return body["data"]


def raw_samples(url: str, selector: str, start: float, end: float) -> list[Series]:
    """Every scraped sample of the matching series in [start, end] (a range selector, no resampling)."""
    window = max(1, int(end - start + 1.999))
    data = _get(url, "/api/v1/query", {"query": f"{selector}[{window}s]", "time": f"{end:.3f}"})
    out = []
    for r in data.get("result", []):
        labels = dict(r["metric"])
        name = labels.pop("__name__", "")
        pts = [(float(t), float(v)) for t, v in r.get("values", []) if float(t) >= start - 1e-6]
        if pts:
            out.append(Series(name, labels, [p[0] for p in pts], [p[1] for p in pts]))
    return out


def instant(url: str, query: str, at: float | None = None) -> list[dict[str, Any]]:
    params = {"query": query} | ({"time": f"{at:.3f}"} if at is not None else {})
    return list(_get(url, "/api/v1/query", params).get("result", []))
