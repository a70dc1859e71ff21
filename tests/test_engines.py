"""The engine registry: one map, one protocol, and no engine-name switch outside harness/engines/."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from harness import contracts, engines
from harness.engines.base import Engine
from harness.errors import HarnessError

HARNESS = Path(engines.__file__).resolve().parent.parent
NAMES = frozenset({"mysql", "redis", "mongodb"})


def engine_name_comparisons(root: Path) -> list[str]:
    """`file:line` of every comparison with an engine-name literal (`==`, `!=`, `in (...)`) in
    harness/**/*.py outside harness/engines/: such a switch belongs on the engine object."""
    hits = []
    for f in sorted(root.rglob("*.py")):
        if f.relative_to(root).parts[0] == "engines":
            continue
        for node in ast.walk(ast.parse(f.read_text(), str(f))):
            if not isinstance(node, ast.Compare):
                continue
            for side in (node.left, *node.comparators):
                consts = side.elts if isinstance(side, ast.Tuple | ast.List | ast.Set) else [side]
                if any(isinstance(c, ast.Constant) and c.value in NAMES for c in consts):
                    hits.append(f"{f.relative_to(root)}:{node.lineno}")
                    break
    return hits


@pytest.mark.parametrize("name", engines.ENGINES)
def test_every_engine_satisfies_the_protocol(name):
    eng = engines.get(name)
    assert isinstance(eng, Engine)
    assert eng.name == name
    assert eng.binaries and eng.software
    assert eng.ops and all(isinstance(w, bool) for w in eng.ops.values())
    assert engines.get(name) is eng  # one object per engine


def test_an_unknown_engine_is_one_line():
    with pytest.raises(HarnessError) as e:
        engines.get("nope")
    assert str(e.value) == "unknown engine 'nope'; accepted: mysql, redis, mongodb"


def test_contracts_re_exports_the_registry_names():
    assert contracts.ENGINES is engines.ENGINES == ("mysql", "redis", "mongodb")


def test_no_module_outside_the_registry_switches_on_an_engine_name():
    assert engine_name_comparisons(HARNESS) == []


def test_the_scan_finds_a_switch(tmp_path):
    (tmp_path / "engines").mkdir()
    (tmp_path / "engines" / "x.py").write_text('ok = name == "redis"\n')
    (tmp_path / "a.py").write_text('def f(e):\n    a = e == "mysql"\n    b = e in ("x", "mongodb")\n    return "redis" != e\n')
    assert engine_name_comparisons(tmp_path) == ["a.py:2", "a.py:3", "a.py:4"]


def test_importing_the_registry_or_contracts_loads_no_engine_code():
    code = ("import sys, harness.contracts, harness.engines; "
            "print(sorted(m for m in sys.modules if m.startswith(('harness', 'pymongo', 'pymysql', 'redis', 'kubernetes'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=HARNESS.parent).stdout
    assert out.strip() == "['harness', 'harness.contracts', 'harness.engines', 'harness.errors']"


def test_mongodb_client_library_loads_only_when_mongodb_is_used():
    code = ("import sys; from harness import engines; "
            "[engines.get(n).ops for n in ('mysql', 'redis')]; print('pymongo' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=HARNESS.parent).stdout
    assert out.strip() == "False"


def test_kubernetes_facts_of_the_engines():
    """What kubernetes.py and the manifests used to switch on."""
    from harness.contracts import DeploySpec

    spec = DeploySpec(semi_sync_timeout_ms=1234)
    assert [n for n in engines.ENGINES if engines.get(n).sentinel_component] == ["redis"]
    assert engines.get("mysql").kubeblocks_env(spec) == [{"name": "SEMI_SYNC_TIMEOUT", "value": "1234"}]
    assert engines.get("redis").kubeblocks_env(spec) == engines.get("mongodb").kubeblocks_env(spec) == []
    assert list(engines.get("mongodb").statefulset_container(spec)) == ["env", "args"]
    assert list(engines.get("redis").statefulset_container(spec)) == ["env", "command"]


def import_graph(root: Path) -> dict[str, set[str]]:
    """module -> harness modules it imports, function-level imports included, `if TYPE_CHECKING:`
    blocks not (they never run)."""
    mods = {".".join(f.relative_to(root.parent).with_suffix("").parts).removesuffix(".__init__"): f
            for f in root.rglob("*.py")}

    def resolve(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for name, f in mods.items():
        tree = ast.parse(f.read_text())
        typing_only = {id(n) for b in ast.walk(tree) if isinstance(b, ast.If) and "TYPE_CHECKING" in ast.unparse(b.test)
                       for n in ast.walk(b)}
        pkg = name if f.name == "__init__.py" else name.rpartition(".")[0]
        deps: set[str] = set()
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(pkg.split(".")[: len(pkg.split(".")) - node.level + 1] + [base]).strip(".")
                targets = [f"{base}.{a.name}" for a in node.names]
            else:
                continue
            deps |= {r for t in targets if (r := resolve(t)) and r != name}
        graph[name] = deps
    return graph


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components with more than one module."""
    def reach(v: str) -> set[str]:
        seen, todo = set(), [v]
        while todo:
            for w in graph[todo.pop()] - seen:
                seen.add(w)
                todo.append(w)
        return seen

    reach_of = {v: reach(v) for v in graph}
    comps = {frozenset({v} | {w for w in reach_of[v] if v in reach_of[w]}) for v in graph if v in reach_of[v]}
    return [set(c) for c in comps if len(c) > 1]


def test_no_import_circle_runs_through_the_engines_workload_contracts_or_manifests():
    """engines -> workload/<engine> -> workload/base, model; callers -> engines. (Older circles
    elsewhere, e.g. runloop/kind/kubernetes, are not this test's business.)"""
    ours = ("harness.engines", "harness.workload", "harness.contracts", "harness.manifests")
    assert [c for c in cycles(import_graph(HARNESS)) if any(m.startswith(ours) for m in c)] == []


def test_the_cycle_check_sees_function_level_imports(tmp_path):
    pkg = tmp_path / "harness"
    (pkg / "w").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "w" / "__init__.py").write_text("")
    (pkg / "w" / "base.py").write_text("def client_for():\n    from harness.w.redis import C\n")
    (pkg / "w" / "redis.py").write_text("from harness.w.base import client_for\nC = 1\n")
    (pkg / "w" / "typed.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from harness.w import base\n")
    assert cycles(import_graph(pkg)) == [{"harness.w.base", "harness.w.redis"}]
