"""Run settings: a profile's defaults, optionally overridden by a YAML file, validated once.

Every bad value becomes one `HarnessError` line naming the field, the value and what is
accepted, so a typo in a settings file never surfaces as a traceback in the middle of a run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness.contracts import DeploySpec
from harness.errors import HarnessError

PROFILES: tuple[str, ...] = ("quick", "full", "nightly")
Profile = Literal["quick", "full", "nightly"]

MAX_DURATION_S = 3600.0  # no phase of a cell may last longer than an hour


def _dur(default: float | None, *, allow_zero: bool = False, maximum: float = MAX_DURATION_S) -> Any:
    """A duration field: positive (or >= 0 where 0 means "instantaneous") and bounded."""
    if allow_zero:
        return Field(default, ge=0, le=maximum)
    return Field(default, gt=0, le=maximum)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Timings(_Strict):
    """The phases of one cell, in seconds. The load runs `before_fault + fault + observe`."""

    warmup_s: float = _dur(3.0)
    before_fault_s: float = _dur(6.0)  # the steady window the "steady" throughput is measured in
    fault_s: float = _dur(0.0, allow_zero=True)  # how long the fault is in force (0: one-shot kill)
    observe_s: float = _dur(15.0, allow_zero=True)  # after recovery, to see writes resume

    @property
    def load_s(self) -> float:
        return self.before_fault_s + self.fault_s + self.observe_s


class TimingsOverride(_Strict):
    """Per-scenario override from a settings file; unset fields keep the scenario's value."""

    warmup_s: float | None = _dur(None)
    before_fault_s: float | None = _dur(None)
    fault_s: float | None = _dur(None, allow_zero=True)
    observe_s: float | None = _dur(None, allow_zero=True)

    def apply(self, t: Timings) -> Timings:
        return t.model_copy(update={k: v for k, v in self.model_dump().items() if v is not None})


class LoadSettings(_Strict):
    """How hard the OpenIM-like clients push. Open-loop: `rate_ops_s` is offered, not hoped for."""

    rate_ops_s: float = Field(200.0, gt=0, le=20000)
    users: int = Field(200, ge=1, le=1_000_000)
    workers: int = Field(1, ge=1, le=32)
    op_timeout_s: float = _dur(1.0, maximum=30.0)


class ValiditySettings(_Strict):
    """When the harness refuses to vouch for a cell's numbers (status `invalid`, see harness.checker)."""

    min_delivered: float = Field(0.95, gt=0, le=1)  # of the offered rate, in the steady window
    max_lag_p99_s: float = Field(0.5, gt=0, le=60)  # the generator's own lateness in starting ops
    max_stall_s: float = Field(0.5, gt=0, le=60)  # no invoke at all while ops were due
    max_hub_block_s: float = Field(0.5, gt=0, le=60)  # the load worker's event loop could not run


class SeedSettings(_Strict):
    """How much data exists before the load starts (users, conversations, groups)."""

    users: int = Field(200, ge=2, le=1_000_000)
    friends_per_user: int = Field(5, ge=1, le=1000)
    groups: int = Field(10, ge=0, le=100_000)
    group_size: int = Field(20, ge=2, le=10_000)


class CapacitySettings(_Strict):
    """The capacity search (scenario `capacity`): offered rates from `start_ops_s`, times `factor`,
    up to `max_ops_s`; a step is sustained while its p99 response time stays within `slo_p99_ms`,
    at most `max_error_fraction` of its ops fail, and the generator vouches for it."""

    start_ops_s: float = Field(100.0, gt=0, le=20000)
    factor: float = Field(2.0, gt=1, le=10)
    max_ops_s: float = Field(6400.0, gt=0, le=20000)
    slo_p99_ms: float = Field(50.0, gt=0, le=60000)
    max_error_fraction: float = Field(0.01, ge=0, lt=1)


class ConnectionSettings(_Strict):
    """The connection-limits scenario: how many OpenIM processes share the database and each one's pool.
    Unset: OpenIM's own Kubernetes deployment and pool sizes (harness/openim_pools.py, cited there)."""

    processes: int | None = Field(None, ge=1, le=1000)
    pool: int | None = Field(None, ge=1, le=1000)


class DeployOverrides(_Strict):
    """Overrides of DeploySpec. Profiles leave these unset (KubeBlocks' own defaults); tests shorten them."""

    restart_delay_s: float | None = _dur(None, maximum=600)
    sentinel_down_after_ms: int | None = Field(None, ge=100, le=600_000)
    sentinel_failover_timeout_ms: int | None = Field(None, ge=1000, le=3_600_000)
    sentinel_quorum: int | None = Field(None, ge=1, le=3)
    redis_appendonly: bool | None = None
    role_probe_period_s: float | None = _dur(None, maximum=60)
    role_probe_failure_threshold: int | None = Field(None, ge=1, le=100)
    semi_sync_timeout_ms: int | None = Field(None, ge=1, le=3_600_000)
    ready_timeout_s: float | None = _dur(None)
    # each pod's CPU and memory limit (Kubernetes quantities); unset: what the kind manifests request.
    # kubeblocks mode renders KubeBlocks' addon parameters from them (harness/configs/)
    cpu: str | None = Field(None, pattern=r"^(?:[0-9]+(?:\.[0-9]+)?|[0-9]+m)$", max_length=16)
    memory: str | None = Field(None, pattern=r"^[0-9]+(?:\.[0-9]+)?(?:Ki|Mi|Gi|Ti|k|M|G|T)?$", max_length=16)

    def apply(self, spec: DeploySpec) -> DeploySpec:
        return spec.replace(**{k: v for k, v in self.model_dump().items() if v is not None})


class Settings(_Strict):
    """Everything a run needs besides the CLI's choice of scenarios/engines/modes/platform."""

    profile: Profile = "quick"
    seed: int = Field(1, ge=0, le=2**31 - 1)
    repeat: int = Field(1, ge=1, le=50)
    load: LoadSettings = LoadSettings()
    seed_data: SeedSettings = SeedSettings()
    validity: ValiditySettings = ValiditySettings()
    deploy: DeployOverrides = DeployOverrides()
    capacity: CapacitySettings = CapacitySettings()
    connections: ConnectionSettings = ConnectionSettings()
    timings: dict[str, TimingsOverride] = Field(default_factory=dict)  # scenario name (or "*") -> override
    cell_overhead_s: float = _dur(12.0, maximum=600)  # deploy + seed + read-back + teardown, for the plan
    cell_timeout_s: float = _dur(600.0)  # a cell taking longer than its plan plus this fails

    def deploy_spec(self) -> DeploySpec:
        return self.deploy.apply(DeploySpec())

    def timings_for(self, scenario: str, base: Timings) -> Timings:
        t = base
        for key in ("*", scenario):
            if key in self.timings:
                t = self.timings[key].apply(t)
        return t


# Profiles: only load and repetition differ; each scenario declares its own timings per profile.
PROFILE_DEFAULTS: dict[str, dict[str, Any]] = {
    "quick": {"repeat": 1, "load": {"rate_ops_s": 200, "users": 200}},
    "full": {"repeat": 3, "load": {"rate_ops_s": 300, "users": 1000, "workers": 2},
             "seed_data": {"users": 2000, "groups": 50}},
    "nightly": {"repeat": 1, "load": {"rate_ops_s": 200, "users": 500}, "cell_overhead_s": 90},
}


def _one_line(err: ValidationError, source: str) -> str:
    """The first problem of a pydantic error as `source: field x = value: accepted ...`."""
    e = err.errors()[0]
    # a key from a settings file may hold a newline: quoted, so the error stays one line
    loc = ".".join(p if p.isprintable() else repr(p) for p in map(str, e["loc"])) or "(top level)"
    if e["type"] == "extra_forbidden":
        parent = loc.rpartition(".")[0]
        return f"{source}: unknown field `{loc}`; accepted: {', '.join(_fields_at(parent))}"
    value = e.get("input")
    msg = e["msg"].replace("Input should be", "must be")
    accepted = _bounds(loc)
    if e["type"] == "literal_error":
        msg = msg.replace("must be", "accepted:")
    elif accepted:
        msg = f"{msg}; accepted: {accepted}"
    return f"{source}: {loc} = {value!r}: {msg}"


def _model_at(dotted: str) -> Any:
    """The model class holding the fields at a dotted location (dict values are TimingsOverride)."""
    model: Any = Settings
    for part in [p for p in dotted.split(".") if p]:
        field = model.model_fields.get(part)
        ann = getattr(field, "annotation", None)
        model = ann if ann is not None and hasattr(ann, "model_fields") else TimingsOverride
    return model


def _fields_at(dotted: str) -> list[str]:
    return sorted(_model_at(dotted).model_fields)


def _bounds(loc: str) -> str:
    """`> 0 and <= 3600` for a numeric field, from its own constraints (one source of truth)."""
    parent, _, name = loc.rpartition(".")
    field = _model_at(parent).model_fields.get(name)
    if field is None:
        return ""
    parts = []
    for m in field.metadata:
        for attr, sym in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
            v = getattr(m, attr, None)
            if v is not None:
                exact = int(v) if float(v).is_integer() and abs(v) < 1e15 else v  # 2147483647, not 2.14748e+09
                parts.append(f"{sym} {exact}")
    return " and ".join(parts)


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def build_settings(profile: str, seed: int | None = None, overrides: dict[str, Any] | None = None,
                   source: str = "settings") -> Settings:
    """The profile's defaults, then `overrides` (a settings file's content), then `--seed`."""
    if profile not in PROFILES:
        raise HarnessError(f"profile = {profile!r}: accepted: {', '.join(PROFILES)}")
    if overrides is not None and not isinstance(overrides, dict):
        raise HarnessError(f"{source}: must be a mapping of settings, got {type(overrides).__name__}")
    chosen = (overrides or {}).get("profile", profile)
    if chosen != profile:
        raise HarnessError(f"{source}: profile = {chosen!r} conflicts with --profile {profile!r}; "
                           "choose the profile with --profile (a settings file only overrides its values)")
    data = _merge(PROFILE_DEFAULTS[profile], overrides or {})
    data["profile"] = profile
    if seed is not None:
        data["seed"] = seed
    try:
        return Settings.model_validate(data)
    except ValidationError as err:
        raise HarnessError(_one_line(err, source).replace("\n", "\\n")) from None  # one line, whatever the keys


def load_settings_file(path: Path) -> dict[str, Any]:
    """A YAML settings file as a dict; unreadable or malformed files are one clear line."""
    try:
        text = Path(path).read_text()
    except OSError as e:
        raise HarnessError(f"settings file {path}: {e.strerror or e}") from None
    try:
        data = yaml.safe_load(text)
    except (yaml.YAMLError, ValueError, RecursionError) as e:  # ValueError: e.g. a date `2001-13-01`
        first = str(e).splitlines()[0] if str(e) else "malformed YAML"
        raise HarnessError(f"settings file {path}: not valid YAML ({first})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise HarnessError(f"settings file {path}: must be a mapping of settings, got {type(data).__name__}")
    return data


def settings_to_json(settings: Settings) -> dict[str, Any]:
    """The exact settings used, as written into the run directory (no secrets exist here)."""
    data = settings.model_dump(mode="json")
    data["deploy_spec"] = {k: v for k, v in vars(settings.deploy_spec()).items()}
    return data
