"""The harness package has no import cycles: the layers (contracts, platforms, workload, nemesis,
checker, orchestration, report) stand on one another in one direction only.

The graph is read from the source (AST), not by importing: every `import` and `from ... import`
anywhere in a module, at module level and inside functions and classes (a function-level import is
the usual way a cycle gets hidden), with relative imports resolved and `from pkg import name`
pointing at the submodule `pkg.name` when that is a module, else at `pkg`. Imports under
`if TYPE_CHECKING:` never run, so they are left out; imports of anything outside the package are
ignored.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def module_names(root: Path) -> dict[str, Path]:
    """Every module under package directory `root`, by dotted name (`pkg/__init__.py` is `pkg`)."""
    mods: dict[str, Path] = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        mods[".".join(parts)] = path
    return mods


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement in the tree except those under `if TYPE_CHECKING:` (their else runs)."""
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _resolve_base(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    parts = module.split(".") if is_package else module.split(".")[:-1]
    if node.level > 1:
        parts = parts[: len(parts) - (node.level - 1)]
    return ".".join([*parts, node.module] if node.module else parts)


def _known(name: str, mods: dict[str, Path]) -> str | None:
    """The deepest module of the package that `name` (a dotted import target) lands in."""
    parts = name.split(".")
    while parts:
        cand = ".".join(parts)
        if cand in mods:
            return cand
        parts.pop()
    return None


def import_graph(root: Path) -> dict[str, set[str]]:
    """module -> the modules of the same package it imports (anywhere in its body)."""
    mods = module_names(root)
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for mod, path in mods.items():
        tree = ast.parse(path.read_text(), str(path))
        is_package = path.name == "__init__.py"
        for node in _imports(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = _resolve_base(mod, is_package, node)
                for alias in node.names:
                    sub = f"{base}.{alias.name}" if base else alias.name
                    targets.append(sub if sub in mods else base)
            for t in targets:
                hit = _known(t, mods)
                if hit is not None and hit != mod:
                    graph[mod].add(hit)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One concrete cycle (a -> ... -> a) per strongly connected component of more than one module,
    sorted; empty when the graph is acyclic."""
    return sorted(_one_cycle(graph, comp) for comp in tangles(graph))


def tangles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components of more than one module: the modules that import one
    another, around one or more cycles."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    comps: list[set[str]] = []
    counter = [0]

    def strong(v: str) -> None:  # Tarjan
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(comp)

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return sorted(comps, key=min)


def _one_cycle(graph: dict[str, set[str]], comp: set[str]) -> list[str]:
    """The shortest cycle through the component's first module (breadth-first, within it)."""
    start = min(comp)
    prev: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v] & comp):
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(prev[path[-1]])
                    return [*reversed(path), start]
                if w not in prev:
                    prev[w] = v
                    nxt.append(w)
        frontier = nxt
    raise AssertionError(f"no cycle through {start} in {sorted(comp)}")  # a component always has one


def describe(graph: dict[str, set[str]]) -> str:
    """Each tangle: one cycle through it, and every module caught in it."""
    lines = []
    for comp in tangles(graph):
        lines.append(" -> ".join(_one_cycle(graph, comp)))
        if len(comp) > 2:
            lines.append(f"    ({len(comp)} modules import one another: {', '.join(sorted(comp))})")
    return "\n".join(lines)


# -- the harness itself -------------------------------------------------------------------------


def test_the_graph_sees_the_harness():
    graph = import_graph(REPO / "harness")
    assert "harness.cli" in graph and "harness.workload.driver" in graph
    assert "harness.contracts" in graph["harness.workload.driver"]
    assert sum(len(v) for v in graph.values()) > 50, "the builder found almost no imports"


def test_harness_has_no_import_cycles():
    graph = import_graph(REPO / "harness")
    found = cycles(graph)
    assert not found, f"{len(found)} import cycle(s) in harness/:\n{describe(graph)}"


# -- the checker can fail ----------------------------------------------------------------------


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        p = tmp_path / "pkg" / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return tmp_path / "pkg"


def test_a_planted_cycle_through_a_function_level_import_is_found(tmp_path):
    root = _package(tmp_path, {
        "__init__.py": "",
        "a.py": "from pkg import b\n",
        "b.py": "import os\n\ndef late():\n    from pkg.a import thing\n    return thing\n",
        "c.py": "from . import a\n",  # depends on the cycle, is not part of it
    })
    graph = import_graph(root)
    assert graph["pkg.a"] == {"pkg.b"} and graph["pkg.b"] == {"pkg.a"} and graph["pkg.c"] == {"pkg.a"}
    assert cycles(graph) == [["pkg.a", "pkg.b", "pkg.a"]]
    assert describe(graph) == "pkg.a -> pkg.b -> pkg.a"


def test_submodules_relative_imports_and_type_checking(tmp_path):
    root = _package(tmp_path, {
        "__init__.py": "from .sub import helper\n",
        "sub/__init__.py": "",
        "sub/helper.py": "from ..sub import leaf\nfrom .. import VERSION\n",
        "sub/leaf.py": ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.sub.helper import x\n"
                        "else:\n    import json\n"),
        "other.py": "class K:\n    def m(self):\n        import pkg.sub.leaf as leaf\n        return leaf\n",
    })
    graph = import_graph(root)
    assert graph["pkg"] == {"pkg.sub.helper"}  # `from .sub import helper`: the submodule
    assert graph["pkg.sub.helper"] == {"pkg.sub.leaf", "pkg"}  # `from .. import VERSION`: the package
    assert graph["pkg.sub.leaf"] == set()  # the TYPE_CHECKING import never runs
    assert graph["pkg.other"] == {"pkg.sub.leaf"}  # inside a method
    assert cycles(graph) == [["pkg", "pkg.sub.helper", "pkg"]]


def test_an_acyclic_package_passes(tmp_path):
    root = _package(tmp_path, {"__init__.py": "", "a.py": "from pkg import b\n", "b.py": "import pkg.c\n",
                               "c.py": ""})
    assert cycles(import_graph(root)) == []


def _external_imports(root: Path) -> dict[str, set[str]]:
    """module -> the top-level packages outside `root` it imports (TYPE_CHECKING-only ones left out)."""
    out: dict[str, set[str]] = {}
    for name, path in module_names(root).items():
        found: set[str] = set()
        for node in _imports(ast.parse(path.read_text(), str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if node.level == 0 else []
            found |= {n.split(".")[0] for n in names if n and not n.startswith(root.name)}
        out[name] = found
    return out


def test_the_library_never_imports_the_scenario_plugins_by_name():
    """`scenarios/` plugs into the harness (harness/catalog.py finds it at run time), not the reverse."""
    users = sorted(m for m, ext in _external_imports(REPO / "harness").items() if "scenarios" in ext)
    assert users == [], f"harness modules importing the scenarios package: {users}"


def test_the_neutral_layers_stand_on_no_platform():
    """Vocabulary, workload, manifests, checker, nemesis and the readers of results never import harness.platforms."""
    graph = import_graph(REPO / "harness")
    neutral = ("harness.contracts", "harness.workload", "harness.manifests", "harness.checker", "harness.faults",
               "harness.engines.base", "harness.scenario", "harness.clock", "harness.history", "harness.report",
               "harness.compare", "harness.results")
    bad = sorted(f"{m} -> {d}" for m, deps in graph.items() if m.startswith(neutral)
                 for d in deps if d.startswith("harness.platforms"))
    assert bad == [], bad


def test_the_platform_registry_holds_exactly_the_declared_platforms():
    from harness.contracts import PLATFORMS
    from harness.platforms import REGISTRY

    assert tuple(REGISTRY) == PLATFORMS
