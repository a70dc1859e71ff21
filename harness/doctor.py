"""`harness doctor`: what this machine has for a platform (with versions) and what is missing
(with the command that installs it), then the client libraries this interpreter imports.
Exit 0 when the platform can run, 1 when not."""

from __future__ import annotations

import platform as _pyplatform
import sys

from rich.console import Console
from rich.table import Table

from harness import platforms
from harness.contracts import Check
from harness.software import CLIENT_DISTRIBUTIONS, client_versions


def render(platform: str, checks: list[Check], console: Console) -> None:
    table = Table(title=f"harness doctor --platform {platform}")
    for col in ("check", "status", "version", "detail / install with"):
        table.add_column(col)
    for c in checks:
        if c.ok:
            status = "[green]found[/green]"
        elif c.required:
            status = "[red]missing[/red]"
        else:
            status = "[yellow]missing (optional)[/yellow]"
        table.add_row(c.name, status, c.version or "", c.fix if not c.ok and c.fix else c.detail)
    console.print(table)


def render_clients(console: Console) -> None:
    """The client libraries this interpreter imports (what a run records in results.json), with versions."""
    table = Table(title="client libraries (this interpreter)")
    for col in ("library", "version", "distribution / interpreter"):
        table.add_column(col)
    table.add_row("python", _pyplatform.python_version(), sys.executable)
    for key, v in client_versions().items():
        table.add_row(key, v or "[yellow]not installed[/yellow]", CLIENT_DISTRIBUTIONS[key])
    console.print(table)


def can_run(checks: list[Check]) -> bool:
    """Pure: every required check is ok."""
    return all(c.ok for c in checks if c.required)


def doctor(platform_name: str, console: Console | None = None) -> int:
    console = console or Console()
    if platform_name not in platforms.REGISTRY:
        console.print(f"doctor: unknown platform {platform_name!r}; accepted: {', '.join(platforms.REGISTRY)}")
        return 1
    try:
        checks = platforms.preflight(platform_name)
    except (ImportError, AttributeError) as e:
        console.print(f"doctor: the {platform_name} platform module is not available ({e})")
        return 1
    render(platform_name, checks, console)
    render_clients(console)
    ok = can_run(checks)
    missing = [c for c in checks if not c.ok and not c.required]
    if ok:
        note = f"; optional missing: {', '.join(c.name for c in missing)}" if missing else ""
        console.print(f"doctor: the {platform_name} platform can run{note}")
    else:
        console.print(f"doctor: the {platform_name} platform cannot run: install what is marked missing")
    return 0 if ok else 1
