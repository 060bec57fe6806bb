"""The layer rules of DESIGN.md, checked on the source: no import cycles (imports
inside functions count), no private name imported across modules, each layer
imports only what it may, and SQL only in ``store/``."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ("tools", "evals", "agent", "prompts", "store", "web")
# What each layer may import of mechanic (besides itself).
ALLOWED = {
    "tools": set(),
    "store": set(),
    "prompts": set(),
    "evals": {"tools", "prompts"},
    "web": {"store"},
    "agent": {"tools", "evals", "prompts", "store", "web"},
}


def _modules() -> dict[str, Path]:
    out = {}
    for layer in LAYERS:
        for path in sorted((ROOT / layer).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(("mechanic", *parts))] = path
    return out


MODULES = _modules()


def _is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(name: str) -> list[tuple[str, list[str], int]]:
    """(module imported, names taken from it, line) for every import of ``name``'s
    source that runs (functions included, ``if TYPE_CHECKING:`` blocks left out)."""
    tree = ast.parse(MODULES[name].read_text())
    package = name if _is_package(name) else name.rpartition(".")[0]
    skip = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and _type_checking(node)
            for n in ast.walk(node)}
    out = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            out += [(a.name, [], node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            out.append((target, [a.name for a in node.names], node.lineno))
    return out


def _edges() -> dict[str, set[str]]:
    """Module -> the project modules importing it executes."""
    graph: dict[str, set[str]] = defaultdict(set)
    for name in MODULES:
        for target, names, _ in _imports(name):
            if not target.startswith("mechanic."):
                continue
            if name.startswith(target + "."):
                continue  # a package a module lives in is initialised before the module itself
            if target in MODULES:
                graph[name].add(target)
            for n in names:
                if f"{target}.{n}" in MODULES:
                    graph[name].add(f"{target}.{n}")
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module, or a self-import (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in graph.get(v, ()):
                found.append(sorted(comp))

    for v in sorted(set(graph) | {w for ws in graph.values() for w in ws}):
        if v not in index:
            visit(v)
    return found


def test_the_module_list_covers_every_layer():
    for layer in LAYERS:
        assert f"mechanic.{layer}" in MODULES, layer
    assert "mechanic.agent.pipeline.phases" in MODULES


def test_no_import_cycles_even_through_imports_inside_functions():
    assert _cycles(_edges()) == []


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c"]]


def test_no_private_name_is_imported_from_another_module():
    bad = []
    for name, path in MODULES.items():
        for target, names, line in _imports(name):
            if not target.startswith("mechanic.") or target == name:
                continue
            for n in names:
                if f"{target}.{n}" in MODULES:  # a module: checked as a module below
                    target_module = f"{target}.{n}"
                    if n.startswith("_") and not name.startswith(target + "."):
                        bad.append(f"{path.relative_to(ROOT)}:{line} imports the private module {target_module}")
                elif n.startswith("_") and not n.startswith("__"):
                    bad.append(f"{path.relative_to(ROOT)}:{line} imports {n} from {target}")
            # a private module (``_common``) is for its own package only
            private = [p for p in target.split(".") if p.startswith("_")]
            if private:
                owner = target[: target.index("." + private[0])]
                if not (name == owner or name.startswith(owner + ".")):
                    bad.append(f"{path.relative_to(ROOT)}:{line} imports the private module {target}")
    assert bad == []


@pytest.mark.parametrize("layer", LAYERS)
def test_each_layer_imports_only_what_it_may(layer):
    bad = []
    for name, path in MODULES.items():
        if name.split(".")[1] != layer:
            continue
        for target, _, line in _imports(name):
            if target.startswith("mechanic."):
                used = target.split(".")[1]
                if used != layer and used not in ALLOWED[layer]:
                    bad.append(f"{path.relative_to(ROOT)}:{line} imports {target}")
    assert bad == []


def test_tools_never_import_an_llm_client():
    bad = [f"{p.relative_to(ROOT)}: {t}" for n, p in MODULES.items() if n.startswith("mechanic.tools")
           for t, _, _ in _imports(n) if t.split(".")[0] in ("openai", "langgraph")]
    assert bad == []


def _sql_uses(path: Path) -> list[str]:
    """Raw SQL or direct table access: ``x.execute(...)``, ``x.query(...)``,
    ``x.executemany(...)``, ``db[...]``."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in (
                "execute", "executemany", "executescript", "query"):
            out.append(f"{path.relative_to(ROOT)}:{node.lineno} .{node.func.attr}()")
        if isinstance(node, ast.Subscript):
            value = node.value
            db = (isinstance(value, ast.Name) and value.id == "db") or (
                isinstance(value, ast.Attribute) and value.attr == "db")
            if db:
                out.append(f"{path.relative_to(ROOT)}:{node.lineno} db[...]")
    return out


def test_sql_lives_only_in_the_store():
    bad = [u for name, path in MODULES.items() if not name.startswith("mechanic.store") for u in _sql_uses(path)]
    assert bad == []


def test_the_sql_finder_finds_sql(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("def f(db):\n    db.execute('SELECT 1')\n    return db['runs'].get(1)\n")
    sample = sample.resolve()
    # a path outside the repo is shown as it is
    uses = [u.split(" ", 1)[1] for u in _sql_uses_relative(sample)]
    assert uses == [".execute()", "db[...]"]


def _sql_uses_relative(path: Path) -> list[str]:
    global ROOT
    saved, ROOT = ROOT, path.parent
    try:
        return _sql_uses(path)
    finally:
        ROOT = saved
