"""The shape the product's code keeps: modules a newcomer reads in one sitting, functions without scrolling,
and a base layer that never reaches the layers above it (import-linter holds the module-level imports;
this also catches the function-local ones it is told to look past)."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = ("competencies", "memberships", "partnercenter", "api")
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 60


def product_modules() -> list[Path]:
    return sorted(
        path
        for package in PRODUCT
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts
    )


def functions(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node


def imported_modules(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):  # every import, at module level or inside a function
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_it_finds_the_product_modules():
    assert len(product_modules()) > 30


@pytest.mark.parametrize("path", product_modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_it_keeps_every_module_under_500_lines_and_every_function_under_60(path):
    source = path.read_text(encoding="utf-8")
    lines = len(source.splitlines())
    assert lines <= MAX_MODULE_LINES, f"{lines} lines"
    long = [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines, line {node.lineno})"
        for node in functions(ast.parse(source))
        if node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert long == []


@pytest.mark.parametrize(
    "path", [p for p in product_modules() if p.relative_to(ROOT).parts[0] == "competencies"],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_the_base_layer_imports_nothing_from_the_layers_above(path):
    above = {
        name for name in imported_modules(ast.parse(path.read_text(encoding="utf-8")))
        if name.split(".")[0] in ("memberships", "partnercenter")
    }
    assert above == set()
