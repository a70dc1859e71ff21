"""What the kind/k8s platforms record during a fault, and the pure parsers of kubectl's JSON it needs.

A node that is stopped or disconnected keeps its pods Ready, and a dead primary keeps its
`kubeblocks.io/role` label (KubeBlocks relabels a pod only from that pod's own role-probe events,
`pkg/controller/instanceset/pod_role_event_handler.go`), until the node controller marks the node
NotReady after `node-monitor-grace-period`. Meanwhile the Service keeps sending part of the new
connections to the dead address. That is what OpenIM itself would see, so it is measured here,
not masked: the client Service's EndpointSlices over time (`FaultWatch`), the primary changes on
the role labels with KubeBlocks' own event time, and the grace period in effect. Also: which
image pulls made a deploy slow. Everything but `FaultWatch` is pure (tested on canned output).
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from harness.manifests.common import COMPONENT_LABEL, ROLE_LABEL, client_service

if TYPE_CHECKING:
    from harness.contracts import Deployment
    from harness.platforms.kubernetes import K8sHandle, KubernetesPlatform

ROLE_SNAPSHOT_ANNOTATION = "apps.kubeblocks.io/last-role-snapshot-version"  # the role event's time, in µs
ROLE_EVENT_CLOCK_SKEW_S = 5.0  # a role event stamped this far after we saw its label is not believed


class SeenPrimary(NamedTuple):
    """A primary the harness saw on the role label: since when (the role event's own time when the pod
    carries it, else when the harness saw the label) and how that time was known."""

    at_wall: float
    pod: str
    source: str


class FaultWatch:
    """From just before a fault until its evidence is read: the client Service's EndpointSlices and the
    deployment's role labels, sampled every `interval_s` on a background thread (see the module
    docstring for why). Polls after the first are not echoed to the step log (one a second would
    drown it); `interval_s <= 0` means no thread, samples only on demand (tests)."""

    def __init__(self, platform: KubernetesPlatform, dep: Deployment, hit: tuple[str, ...], interval_s: float):
        self.platform = platform
        self.dep = dep
        self.hit = hit
        self.interval_s = interval_s
        self.service = client_service(dep.engine, dep.mode)
        self.injected_at_wall: float | None = None
        self.timeline: list[tuple[float, list[dict[str, Any]]]] = []  # (wall, endpoints) on change
        self.polls = 0
        self.errors = 0
        self.last_error: str | None = None
        self.last_wall: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def sample(self, record: bool = True) -> None:
        """One poll of the EndpointSlices and the role labels (also what the dry run prints)."""
        h: K8sHandle = self.dep.handle
        wall = self.platform.clock()
        r = self.platform.kubectl(
            "get", "endpointslices", "-n", h.namespace, "-l", f"kubernetes.io/service-name={self.service}",
            "-o", "json", check=False, record=record,
        )  # fmt: skip
        endpoints = parse_endpoint_slices(r.stdout) if r.returncode == 0 else None
        with self._lock:
            self.polls += 1
            self.last_wall = wall
            if endpoints is None:
                self.errors += 1
                self.last_error = (r.stderr or "").strip()[-200:] or f"exit {r.returncode}"
            elif not self.timeline or self.timeline[-1][1] != endpoints:
                self.timeline.append((wall, endpoints))
        if self.dep.mode == "kubeblocks":
            self.platform.observe_roles(self.dep, record=record)

    def start(self) -> None:
        if self.interval_s <= 0 or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name=f"fault-watch-{self.dep.id}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.sample(record=False)
            except Exception as e:  # noqa: BLE001 - evidence is best effort; the next poll retries
                with self._lock:
                    self.errors += 1
                    self.last_error = f"{type(e).__name__}: {e}"[:200]

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=30)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def evidence(self, grace_s: float | None, grace_source: str) -> dict[str, Any]:
        """The record for results.json: every change of the endpoints, and when the fault's pods left them."""
        with self._lock:
            timeline = list(self.timeline)
            polls, errors, last = self.polls, self.errors, self.last_wall
        t0 = self.injected_at_wall if self.injected_at_wall is not None else (timeline[0][0] if timeline else 0.0)
        before = [w for w in timeline if w[0] <= t0]
        at_injection = before[-1][1] if before else (timeline[0][1] if timeline else [])
        ready_then = sorted({e["pod"] for e in at_injection if e["ready"]})
        hit = [p for p in ready_then if p in self.hit]
        removed: dict[str, float | None] = {}
        for pod in hit:
            gone = next((w for w, eps in timeline if w > t0 and not any(e["pod"] == pod and e["ready"] for e in eps)), None)
            removed[pod] = None if gone is None else round(gone - t0, 3)
        most, multiple_s = 0, 0.0
        for i, (w, eps) in enumerate(timeline):
            n = sum(e["ready"] for e in eps)
            most = max(most, n)
            if n > 1 and w >= t0:
                end = timeline[i + 1][0] if i + 1 < len(timeline) else (last or w)
                multiple_s += max(0.0, end - w)
        times = [t for t in removed.values() if t is not None]
        return {
            "service": self.service,
            "source": f"EndpointSlices kubernetes.io/service-name={self.service}, polled every {self.interval_s:g} s "
                      "from just before the fault until the cell's read-back",
            "node_monitor_grace_period_s": grace_s,
            "grace_period_source": grace_source,
            "ready_at_injection": ready_then,
            "hit": hit,
            "removed_after_s": removed,
            "endpoint_removal_s": max(times) if times and len(times) == len(removed) else None,
            "max_ready_endpoints": most,
            "multiple_ready_s": round(multiple_s, 3),
            "watched_s": None if last is None else round(last - t0, 3),
            "polls": polls,
            "poll_errors": errors,
            "last_poll_error": self.last_error,
            "timeline": [{"after_injection_s": round(w - t0, 3), "endpoints": eps} for w, eps in timeline],
        }


def rfc3339_to_unix(stamp: str) -> float:
    s = stamp.rstrip("Z")
    main, _, frac = s.partition(".")
    offset = "+00:00"
    for sign in ("+", "-"):  # an explicit offset after the seconds (`...05.123+08:00`)
        head, sep, tail = frac.rpartition(sign) if frac else main[19:].rpartition(sign)
        if sep and ":" in tail:
            offset = sign + tail
            if frac:
                frac = head
            else:
                main = main[:19]
            break
    base = datetime.fromisoformat(main + offset).timestamp()
    return base + (float("0." + frac) if frac else 0.0)


def role_event_wall(value: str | None) -> float | None:
    """`apps.kubeblocks.io/last-role-snapshot-version` as unix seconds.

    KubeBlocks 1.0 writes the role event's time in microseconds (`strconv.FormatInt(EventTime.UnixMicro())`);
    older releases wrote RFC 3339. Anything else (a snapshot version that is no time) is None."""
    if not value:
        return None
    v = value.strip()
    if v.isdigit():
        n = int(v)
        for scale in (1e6, 1e3, 1.0):  # µs, ms, s: the first that lands after 2001-09-09
            if n / scale >= 1e9:
                t = n / scale
                return t if t < 4e9 else None
        return None
    try:
        return rfc3339_to_unix(v)
    except ValueError:
        return None


def labelled_primaries(pods_json: str, component: str) -> dict[str, float | None]:
    """pod -> its role event time, for every live pod of `component` labelled primary."""
    data = json.loads(pods_json or '{"items": []}')
    out: dict[str, float | None] = {}
    for p in data.get("items", []):
        meta = p.get("metadata", {})
        labels = meta.get("labels", {})
        if labels.get(COMPONENT_LABEL) != component or labels.get(ROLE_LABEL) != "primary" or meta.get("deletionTimestamp"):
            continue
        out[meta["name"]] = role_event_wall((meta.get("annotations") or {}).get(ROLE_SNAPSHOT_ANNOTATION))
    return out


def next_primary(seen: list[SeenPrimary], labelled: dict[str, float | None], observed_at: float) -> SeenPrimary | None:
    """The primary change `labelled` shows after `seen`, or None.

    The old primary may keep its label after it died (KubeBlocks relabels a pod only from that pod's
    own role probe): with two pods labelled, the new one is the other, newest by its role event; the
    stale label of the old one is never read as a change back."""
    last = seen[-1] if seen else None
    if last is not None and last.pod in labelled:
        new = [n for n in labelled if n != last.pod and (labelled[n] or 0.0) > last.at_wall]
    else:
        new = list(labelled)
    if not new:
        return None
    pick = max(new, key=lambda n: labelled[n] or 0.0)
    event = labelled[pick]
    after = last.at_wall if last else float("-inf")
    if event is not None and after <= event <= observed_at + ROLE_EVENT_CLOCK_SKEW_S:
        at, source = event, f"{ROLE_LABEL} label, role event time"
    else:
        at, source = observed_at, f"{ROLE_LABEL} label seen by polling"
    if len(labelled) > 1:
        source += f" ({len(labelled)} pods labelled primary)"
    return SeenPrimary(at, pick, source)


def parse_endpoint_slices(slices_json: str) -> list[dict[str, Any]]:
    """Every endpoint of the EndpointSlices (`kubectl get endpointslices -o json`), by pod."""
    data = json.loads(slices_json or '{"items": []}')
    out = []
    for sl in data.get("items", []):
        for ep in sl.get("endpoints") or []:
            cond = ep.get("conditions") or {}
            ready = cond.get("ready")
            out.append({
                "pod": (ep.get("targetRef") or {}).get("name", ""),
                "ip": ",".join(ep.get("addresses") or []),
                "ready": True if ready is None else bool(ready),  # nil means ready (the API's own rule)
                "serving": cond.get("serving"),
                "terminating": cond.get("terminating"),
                "node": ep.get("nodeName"),
            })
    return sorted(out, key=lambda e: (e["pod"], e["ip"]))


_GO_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|ms|us|µs|ns|m|s)")


_GO_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


def parse_go_duration(text: str) -> float | None:
    """Seconds of a Go duration (`50s`, `1m0s`, `2m3.5s`, `850ms`), None when it is not one."""
    t = text.strip()
    parts = _GO_DURATION.findall(t)
    if not parts or "".join(n + u for n, u in parts) != t:
        return None
    return sum(float(n) * _GO_UNITS[u] for n, u in parts)


def controller_manager_flag(pods_json: str, flag: str) -> tuple[bool, str | None]:
    """(kube-controller-manager visible?, the value of `flag` in its command line or None)."""
    data = json.loads(pods_json or '{"items": []}')
    pods = data.get("items", [])
    for p in pods:
        for c in p.get("spec", {}).get("containers", []):
            argv = list(c.get("command") or []) + list(c.get("args") or [])
            for i, arg in enumerate(argv):
                if arg.startswith(flag + "="):
                    return True, arg.split("=", 1)[1]
                if arg == flag and i + 1 < len(argv):
                    return True, argv[i + 1]
    return bool(pods), None


def default_node_monitor_grace_s(minor: int | None) -> float:
    """kube-controller-manager's default `--node-monitor-grace-period`: 50 s since Kubernetes 1.32, 40 s before."""
    return 50.0 if minor is None or minor >= 32 else 40.0


@dataclass(frozen=True)
class ImagePull:
    image: str
    state: str  # "pulled" | "present" | "pulling" | "failed"
    seconds: float | None  # pulled: how long; pulling: for how long so far


_PULLED = re.compile(r'Successfully pulled image "([^"]+)" in ([0-9a-zµ.]+)')


_IMAGE = re.compile(r'image "([^"]+)"')


def image_pulls(events_json: str, now_wall: float) -> list[ImagePull]:
    """What the kubelets said about image pulls (`kubectl get events -o json`), slowest first."""
    data = json.loads(events_json or '{"items": []}')
    pulled: dict[str, float] = {}
    present: set[str] = set()
    started: dict[str, float] = {}
    failed: set[str] = set()
    for ev in data.get("items", []):
        reason, msg = ev.get("reason", ""), ev.get("message", "")
        m = _IMAGE.search(msg)
        if not m:
            continue
        image = m.group(1)
        if reason == "Pulled":
            pm = _PULLED.search(msg)
            if pm:
                secs = parse_go_duration(pm.group(2))
                pulled[image] = max(pulled.get(image, 0.0), secs or 0.0)
            else:
                present.add(image)  # "already present on machine"
        elif reason == "Pulling":
            stamp = ev.get("firstTimestamp") or ev.get("eventTime") or ev.get("lastTimestamp")
            try:
                at = rfc3339_to_unix(stamp) if stamp else now_wall
            except ValueError:
                at = now_wall
            started[image] = min(started.get(image, at), at)
        elif reason in ("Failed", "BackOff", "ErrImagePull") and "pull" in msg.lower():
            failed.add(image)
    out = [ImagePull(i, "pulled", s) for i, s in pulled.items()]
    out += [ImagePull(i, "failed", None) for i in failed - set(pulled)]
    out += [ImagePull(i, "pulling", max(0.0, now_wall - t)) for i, t in started.items() if i not in pulled and i not in failed]
    out += [ImagePull(i, "present", 0.0) for i in present - set(pulled) - failed - set(started)]
    return sorted(out, key=lambda p: (p.state != "failed", -(p.seconds or 0.0), p.image))


def describe_pulls(pulls: list[ImagePull], limit: int = 5) -> str:
    words = {"pulled": "pulled in {s:.0f} s", "pulling": "still pulling after {s:.0f} s",
             "failed": "failed to pull", "present": "already present"}
    return "; ".join(f"{p.image} " + words[p.state].format(s=p.seconds or 0.0) for p in pulls[:limit])
