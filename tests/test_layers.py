"""The package's layers (docs/architecture.md) hold: no module imports from a layer above its own.

Every ``import`` and ``from ... import`` in src/trainwell is read with ``ast``, including the
lazy ones inside functions (they are dependencies all the same); imports under
``if TYPE_CHECKING:`` are type annotations only and are not counted.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "trainwell"

#: Bottom to top, as in docs/architecture.md. A module may import its own layer and those below.
LAYERS: list[set[str]] = [
    {"_version", "_files", "exceptions", "_lazy", "_callable", "model_folder"},
    {"data", "nn"},
    {"train", "progress"},
    {"fitted", "persist", "predictor"},
    {"diagnose"},
    {"report"},
    {"estimators"},
    {"compare"},
    {"tune"},
    {"lab"},
    {"cli", "__main__", "__init__"},
]

#: Upward imports kept on purpose, each with its reason.
ALLOWED = {
    # ``trainwell.persist.load``, the old import path of ``trainwell.load``: a module-level
    # __getattr__ that imports it on first use (loading builds an estimator).
    ("persist", "estimators"),
}

LEVEL = {name: i for i, layer in enumerate(LAYERS) for name in layer}


def _top(module: str) -> str:
    """The first component below ``trainwell`` (``trainwell.train.loop`` -> ``train``)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST):
    """Every import node, skipping the bodies of ``if TYPE_CHECKING:``."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def _module_name(path: Path) -> tuple[str, str]:
    """``(module, package)`` dotted names of a source file."""
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
        return ".".join(parts), ".".join(parts)
    return ".".join(parts), ".".join(parts[:-1])


def _from_target(node: ast.ImportFrom, package: str) -> str:
    """The module a ``from ... import`` names, relative imports resolved against ``package``."""
    if node.level:
        base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
        return ".".join(base + ([node.module] if node.module else []))
    return node.module or ""


def _targets(node: ast.Import | ast.ImportFrom, package: str) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    target = _from_target(node, package)
    if target == "trainwell":  # from trainwell import x / from . import x: each name is a module or a name in one
        return [f"trainwell.{alias.name}" for alias in node.names]
    return [target]


def _edges() -> list[tuple[str, str, str, int]]:
    edges = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module, package = _module_name(path)
        source = _top(module) if module != "trainwell" else "__init__"
        for node in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            for target in _targets(node, package):
                if target.startswith("trainwell"):
                    edges.append((source, _top(target), str(path.relative_to(PACKAGE)), node.lineno))
    return edges


def test_every_module_belongs_to_a_layer():
    names = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()
             if (p.is_file() and p.suffix == ".py") or (p.is_dir() and (p / "__init__.py").exists())}
    assert names - set(LEVEL) == set(), "add new top-level modules to LAYERS (and docs/architecture.md)"


def test_no_import_runs_against_the_layers():
    upward = [f"{where}:{line} {a} -> {b}" for a, b, where, line in _edges()
              if a in LEVEL and b in LEVEL and LEVEL[b] > LEVEL[a] and (a, b) not in ALLOWED]
    assert upward == []


def test_the_allowed_exceptions_are_still_needed():
    present = {(a, b) for a, b, _, _ in _edges()}
    assert present >= ALLOWED, "an allowed upward import is gone: remove it from ALLOWED"


@pytest.mark.parametrize("example", [
    "from ..cli import main\n",
    "def f():\n    from trainwell.report import save_run\n",
])
def test_the_walk_sees_relative_and_lazy_imports(example):
    tree = ast.parse(example)
    found = [t for node in _imports(tree) for t in _targets(node, "trainwell.train")]
    assert found and found[0].startswith("trainwell.") and _top(found[0]) in ("cli", "report")


def test_type_checking_imports_are_skipped():
    tree = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..cli import main\n")
    assert [t for node in _imports(tree) for t in _targets(node, "trainwell.train")] == ["typing"]


def _module_graph() -> dict[str, set[str]]:
    """Module -> the trainwell modules it imports (a name imported from a package counts as the
    package's submodule when one of that name exists)."""
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        module, package = _module_name(path)
        modules[module] = (path, package)
    graph: dict[str, set[str]] = {}
    for module, (path, package) in modules.items():
        edges = set()
        for node in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                edges |= {alias.name for alias in node.names if alias.name in modules}
                continue
            target = _from_target(node, package)
            if not target.startswith("trainwell"):
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                edges.add(sub if sub in modules else target)
        edges.discard(module)
        graph[module] = {e for e in edges if e in modules}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_circles_between_modules():
    graph = _module_graph()
    for lower, upper in ALLOWED:  # the named old import paths, resolved on first use
        graph[f"trainwell.{lower}"] = {m for m in graph[f"trainwell.{lower}"] if _top(m) != upper}
    assert _cycles(graph) == []


def test_the_circle_finder_finds_circles():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
