"""Small pieces: no function over 80 lines where the code changes most, and no module over 400
lines without its docstring saying why it is one module (docs/architecture.md, "Long modules")."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "trainwell"
MAX_FUNCTION_LINES = 80
MAX_MODULE_LINES = 400
#: The packages where every function must stay short (the faces and the loop).
SHORT_FUNCTIONS_IN = ("estimators", "cli", "train")


def _functions(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node


def test_no_long_functions_in_the_faces_and_the_loop():
    long = []
    for package in SHORT_FUNCTIONS_IN:
        for path in sorted((PACKAGE / package).rglob("*.py")):
            for fn in _functions(ast.parse(path.read_text(encoding="utf-8"))):
                length = fn.end_lineno - fn.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(PACKAGE)}:{fn.lineno} {fn.name} ({length} lines)")
    assert long == []


def test_long_modules_say_why():
    silent = []
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if text.count("\n") > MAX_MODULE_LINES:
            doc = ast.get_docstring(ast.parse(text)) or ""
            if "400 lines" not in doc:
                silent.append(str(path.relative_to(PACKAGE)))
    assert silent == []
