"""The shape rules of docs/architecture.md, checked on the source (these fail when a rule is broken).

- no import cycle between gridtools modules (imports inside functions count);
- no ``from gridtools.x import _private`` and no ``module._private`` across modules;
- no library module above 700 lines; no CLI command function above 40 lines;
- a package never binds a function or class to the name of one of its modules;
- package ``__init__`` files only re-export (no function or class bodies);
- the library never imports the CLI or the services.
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "gridtools"


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


MODULES = _modules()
TREES = {name: ast.parse(path.read_text(encoding="utf-8")) for name, path in MODULES.items()}


def _resolve(module: str, node: ast.ImportFrom) -> str | None:
    if not node.level:
        return node.module
    package = module if MODULES[module].name == "__init__.py" else module.rsplit(".", 1)[0]
    base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _owner(name: str) -> str:
    while name not in MODULES and "." in name:
        name = name.rsplit(".", 1)[0]
    return name


def _imports():
    """(importer, imported module, imported name or None) for every gridtools import."""
    for module, tree in TREES.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("gridtools"):
                        yield module, _owner(alias.name), None
            elif isinstance(node, ast.ImportFrom):
                source = _resolve(module, node)
                if source and source.startswith("gridtools"):
                    for alias in node.names:
                        full = f"{source}.{alias.name}"
                        yield (module, full, None) if full in MODULES else (module, _owner(source), alias.name)


def test_no_import_cycles():
    graph = nx.DiGraph()
    graph.add_edges_from((a, b) for a, b, _ in _imports() if a != b)
    cycles = [sorted(c) for c in nx.strongly_connected_components(graph) if len(c) > 1]
    assert cycles == []


def test_no_private_names_cross_modules():
    crossing = [(a, b, n) for a, b, n in _imports()
                if n and n.startswith("_") and not n.startswith("__") and a != b]
    for module, tree in TREES.items():
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in _gridtools_names(tree)
                    and node.attr.startswith("_") and not node.attr.startswith("__")):
                crossing.append((module, node.value.id, node.attr))
    assert crossing == []


def _gridtools_names(tree) -> set[str]:
    """Names a module binds to gridtools modules or objects by importing them."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.asname or a.name.split(".")[0] for a in node.names if a.name.startswith("gridtools")}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("gridtools"):
            names |= {a.asname or a.name for a in node.names}
    return names


def test_module_sizes():
    big = {name: n for name, path in MODULES.items() if (n := len(path.read_text().splitlines())) > 700}
    assert big == {}


def test_cli_commands_are_thin():
    long = {}
    for name, tree in TREES.items():
        if name.startswith("gridtools.cli"):
            for node in ast.walk(tree):
                if isinstance(node, ast.FunctionDef) and any("command" in ast.unparse(d) for d in node.decorator_list):
                    if (n := node.end_lineno - node.lineno + 1) > 40:
                        long[f"{name}.{node.name}"] = n
    assert long == {}


def test_no_module_shares_a_name_with_a_function_of_its_package():
    clashes = []
    for name, path in MODULES.items():
        if path.name != "__init__.py":
            continue
        for node in TREES[name].body:
            if isinstance(node, ast.ImportFrom):
                source = _resolve(name, node)
                clashes += [(name, a.asname or a.name) for a in node.names
                            if f"{name}.{a.asname or a.name}" in MODULES and f"{source}.{a.name}" not in MODULES]
    assert clashes == []


def test_package_inits_only_reexport():
    bodies = [(name, node.name) for name, path in MODULES.items() if path.name == "__init__.py"
              for node in TREES[name].body if isinstance(node, (ast.FunctionDef, ast.ClassDef))]
    assert bodies == []


@pytest.mark.parametrize("front_end", ["gridtools.cli", "gridtools.service"])
def test_library_never_imports_the_front_ends(front_end):
    upward = sorted({a for a, b, _ in _imports() if b.startswith(front_end) and not a.startswith(front_end)
                     and not (front_end == "gridtools.service" and a.startswith("gridtools.cli"))})
    assert upward == []
