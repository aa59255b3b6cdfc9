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
    {"_version", "_files", "exceptions", "_lazy", "_callable"},
    {"data", "nn"},
    {"train", "progress"},
    {"fitted", "persist"},
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


def _targets(node: ast.Import | ast.ImportFrom, package: str) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:
        base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
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
