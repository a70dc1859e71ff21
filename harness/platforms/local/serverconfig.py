"""The rendered server configuration as the local platform runs it: the few values this machine
cannot honour are changed (each with a note saying why), and the result is recorded, without
secrets, in the deployment's log directory (`config.json`) next to each pod's config file."""

from __future__ import annotations

import contextlib
import json
import os
import resource
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from harness.contracts import RenderedConfig
from harness.platforms.local.pods import Pod
from harness.platforms.local.state import LocalHandle

LOCAL = "local platform: "  # the prefix of a note that says what this platform changed
CAP_SYS_RESOURCE = 24


def adjusted(rendered: RenderedConfig, changes: list[tuple[str, str | None, str]]) -> RenderedConfig:
    """`rendered` with each (param, new value or None to drop, why) applied; a param the render
    lacks is added. The notes say what changed, so the record shows rendered and run side by side."""
    params = dict(rendered.params)
    notes = list(rendered.notes)
    for param, value, why in changes:
        before = params.get(param)
        if value is None:
            params.pop(param, None)
            notes.append((param, f"{LOCAL}dropped ({before}): {why}"))
        else:
            params[param] = value
            notes.append((param, f"{LOCAL}{value}" + (f" instead of {before}" if before is not None else "") + f": {why}"))
    return replace(rendered, params=tuple(params.items()), notes=tuple(notes))


def record(handle: LocalHandle, rendered: RenderedConfig) -> None:
    """`<log_dir>/config.json`: the pure render and what the servers here run (no secrets in either)."""
    assert handle.config is not None
    run = handle.config
    data = {"engine": run.engine, "mode": run.mode, "cpu": run.cpu, "memory": run.memory, "source": run.source,
            "params": dict(run.params), "rendered": dict(rendered.params),
            "notes": [{"param": p, "note": n} for p, n in run.notes]}
    handle.log_dir.mkdir(parents=True, exist_ok=True)
    (handle.log_dir / "config.json").write_text(json.dumps(data, indent=1) + "\n")


def write_pod_copy(handle: LocalHandle, pod_name: str, suffix: str, text: str) -> None:
    """A pod's server config file as started, secrets already left out by the caller."""
    handle.log_dir.mkdir(parents=True, exist_ok=True)
    (handle.log_dir / f"config-{pod_name}{suffix}").write_text(text)


def o_direct_works(directory: Path) -> bool:
    """Whether files in `directory` open with O_DIRECT (tmpfs and some overlay setups refuse it)."""
    flag = getattr(os, "O_DIRECT", 0)
    if not flag:
        return False
    directory.mkdir(parents=True, exist_ok=True)
    probe = directory / ".o_direct_probe"
    try:
        fd = os.open(probe, os.O_RDWR | os.O_CREAT | flag, 0o600)
    except OSError:
        return False
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()
    os.close(fd)
    return True


def open_files_cap() -> int | None:
    """The most open files a server started from here can get: the hard RLIMIT_NOFILE, unless this
    process may raise it (CAP_SYS_RESOURCE); None when there is no cap."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard == resource.RLIM_INFINITY or _has_cap(CAP_SYS_RESOURCE):
        return None
    return int(hard)


def _has_cap(bit: int) -> bool:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("CapEff:"):
                return bool(int(line.split()[1], 16) >> bit & 1)
    except OSError:
        pass
    return False


def read_back(handle: LocalHandle, live_values: Callable[[Pod], dict[str, str]], errors: tuple[type[BaseException], ...],
              same_value: Callable[[str, str, str], bool], absent: str) -> dict[str, dict[str, str]]:
    """Each answering data pod's live value of every parameter it was started with, in the rendered
    notation when it means the same (128M for 134217728, ON for 1): `rendered == applied` is then a
    plain comparison. A pod that is down, frozen or refuses the query is left out."""
    if handle.config is None:
        return {}
    out: dict[str, dict[str, str]] = {}
    for pod in handle.data_pods():
        if not pod.alive() or pod.frozen:
            continue
        try:
            live = live_values(pod)
        except errors:
            continue
        have = {name: live.get(name, absent) for name, _ in handle.config.params}
        out[pod.name] = {name: want if same_value(name, want, have[name]) else have[name]
                         for name, want in handle.config.params}
    return out
