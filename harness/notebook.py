"""`python -m harness.notebook RUN_DIR`: executes notebooks/review.ipynb against a run directory
and writes the executed copy into it as `review.ipynb` (what `make notebook` does).

The kernel is always this interpreter (the venv's): a fresh clone needs no `ipykernel install`,
and a `python3` kernelspec elsewhere on the machine (another Python without the harness) can't
be picked up by mistake.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.errors import HarnessError

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "review.ipynb"
OUTPUT_NAME = "review.ipynb"
CELL_TIMEOUT_S = 300


def _kernel_manager_class() -> type:
    """An AsyncKernelManager whose kernelspec is ipykernel's own for sys.executable."""
    from ipykernel.kernelspec import RESOURCES, get_kernel_dict
    from jupyter_client.kernelspec import KernelSpec
    from jupyter_client.manager import AsyncKernelManager

    class CurrentPythonKernelManager(AsyncKernelManager):
        @property
        def kernel_spec(self) -> KernelSpec:  # type: ignore[override]
            if self._kernel_spec is None:
                self._kernel_spec = KernelSpec(resource_dir=RESOURCES, **get_kernel_dict())
            return self._kernel_spec

    return CurrentPythonKernelManager


def check_run_dir(run_dir: Path) -> Path:
    """The run directory, absolute; a bad one is one clear line."""
    from harness.results import read_results

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise HarnessError(f"{run_dir}: not a directory (expected a run directory such as reports/latest)")
    read_results(run_dir)  # raises one line when results.json is missing or malformed
    return run_dir.resolve()


def execute(run_dir: Path, parameters: dict | None = None, notebook: Path = NOTEBOOK,
            log_output: bool = False) -> Path:
    """Runs the notebook top to bottom with papermill; returns the executed notebook's path."""
    run_dir = check_run_dir(run_dir)
    if not notebook.is_file():
        raise HarnessError(f"{notebook}: the review notebook is missing")
    import papermill
    from papermill.exceptions import PapermillExecutionError

    out = run_dir / OUTPUT_NAME
    params = {"run_dir": str(run_dir), **(parameters or {})}
    try:
        papermill.execute_notebook(
            str(notebook), str(out), parameters=params, kernel_name="python3", language="python",
            cwd=str(notebook.parent), progress_bar=False, log_output=log_output,
            execution_timeout=CELL_TIMEOUT_S, kernel_manager_class=_kernel_manager_class(),
        )
    except PapermillExecutionError as e:
        raise HarnessError(f"{notebook.name}: cell {e.exec_count} failed: {e.ename}: {e.evalue} "
                           f"(the partial output is in {out})") from None
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness.notebook", description=__doc__.splitlines()[0])
    ap.add_argument("run_dir", type=Path, help="a run directory, e.g. reports/latest")
    ap.add_argument("-p", "--parameter", action="append", default=[], metavar="NAME=VALUE",
                    help="a notebook parameter, e.g. drill_scenario=zone-outage (repeatable)")
    args = ap.parse_args(argv)
    try:
        params = {}
        for p in args.parameter:
            name, sep, value = p.partition("=")
            if not sep or name not in ("drill_scenario", "drill_engine"):
                raise HarnessError(f"--parameter {p!r}: expected drill_scenario=NAME or drill_engine=NAME")
            params[name] = value
        out = execute(args.run_dir, params)
    except HarnessError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"executed notebook: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
