"""No import cycles between ft_tui modules.

Reads every import of every module with ``ast``, the ones inside functions included (a lazy import that closes a
loop still means two modules need each other; only ``if TYPE_CHECKING:`` blocks, which never run, are skipped),
builds the graph of ft_tui modules and looks for strongly connected components. A cycle means one piece sits in
the wrong module: move it to a module of its own that both sides import (see docs/ARCHITECTURE.md "Import rules").
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"planner": "ft_tui.planner", "runner": "ft_tui.runner", "templates": "ft_tui.templates",
            "tui": "ft_tui.tui"}


def module_files() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the four packages."""
    out: dict[str, Path] = {}
    for folder, package in PACKAGES.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = [p for p in path.relative_to(ROOT / folder).with_suffix("").parts if p != "__init__"]
            out[".".join([package, *parts])] = path
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(node: ast.AST):
    """Every import statement under ``node`` (in functions too), except under ``if TYPE_CHECKING:``."""
    children = list(ast.iter_child_nodes(node))
    if isinstance(node, ast.If) and _is_type_checking(node.test):
        children = node.orelse
    for child in children:
        if isinstance(child, (ast.Import, ast.ImportFrom)):
            yield child
        else:
            yield from _imports(child)


def import_graph() -> dict[str, set[str]]:
    """Module -> the ft_tui modules it imports (anywhere in its code)."""
    files = module_files()
    graph: dict[str, set[str]] = {m: set() for m in files}
    for module, path in files.items():
        is_package = path.name == "__init__.py"
        package = module if is_package else module.rpartition(".")[0]
        for node in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")
                    anchor = anchor[:len(anchor) - (node.level - 1)]
                    base = ".".join([*anchor, *([base] if base else [])])
                # `from pkg import name` imports pkg, and pkg.name when that is a module
                targets = [base, *(f"{base}.{a.name}" for a in node.names)]
            for target in targets:
                # the importing module depends on the deepest ft_tui module the name resolves to
                while target and target not in files:
                    target = target.rpartition(".")[0]
                if target and target != module:
                    graph[module].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted, largest first."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = 0

    def visit(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(out, key=lambda c: (-len(c), c))


def test_the_graph_sees_the_imports():
    """The walker finds known edges (absolute, relative and `from package import module` forms)."""
    graph = import_graph()
    assert "ft_tui.planner.config" in graph["ft_tui.planner.cli"]  # from .config import ...
    assert "ft_tui.runner.rundir" in graph["ft_tui.runner.launch"]
    assert "ft_tui.planner.errors" in graph["ft_tui.tui.state"]  # from ft_tui.planner.errors import ...


def test_lazy_imports_count_and_type_checking_does_not():
    graph = import_graph()
    assert "ft_tui.templates.datasets" in graph["ft_tui.runner.checks"]  # imported inside check_rows
    tree = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import a\nelse:\n    import b\n"
                     "def f():\n    import c\n")
    assert sorted(n.names[0].name for n in _imports(tree) if isinstance(n, ast.Import)) == ["b", "c"]


def test_cycle_finder_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(graph) == [["a", "b", "c"]]


def test_no_import_cycles():
    found = cycles(import_graph())
    assert found == [], "import cycles between ft_tui modules (move the shared piece to a module of its own):\n" + \
        "\n".join(" <-> ".join(c) for c in found)
