"""The layers of docs/architecture.md hold for every module, and nothing dodges them.

import-linter (`make lint`) checks that each layer imports only from itself and below;
these tests check what it cannot: that every module of the project is in a layer (a new
module outside them would go unchecked), and that no project import hides in a function
(where a cycle between layers is usually dodged)."""

import ast
import re
import tomllib
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("config", "members", "loyalty", "rewards", "partners", "web")


def layer_entries() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (layers,) = [c["layers"] for c in config["contracts"] if c["type"] == "layers"]
    return [entry.strip() for layer in layers for entry in layer.split(":")]


def project_modules() -> list[str]:
    graph = grimp.build_graph(*PACKAGES, include_external_packages=False)
    return sorted(
        module
        for module in graph.modules
        if ".migrations" not in module and module not in PACKAGES and not _empty_package(module)
    )


def _empty_package(module: str) -> bool:
    """A package whose __init__ holds nothing but its docstring: its modules are placed."""
    init = ROOT / module.replace(".", "/") / "__init__.py"
    if not init.exists():
        return False
    body = ast.parse(init.read_text()).body
    return not body or (len(body) == 1 and isinstance(body[0], ast.Expr))


def test_every_module_is_in_a_layer():
    entries = layer_entries()
    unplaced = [
        module
        for module in project_modules()
        if not any(module == entry or module.startswith(entry + ".") for entry in entries)
    ]
    assert unplaced == []


def test_no_project_import_hides_in_a_function():
    """AppConfig.ready is where Django wants signal receivers connected: the one place."""
    hidden = []
    for path in sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py")):
        if "migrations" in path.parts:
            continue
        for function in ast.walk(ast.parse(path.read_text())):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            if function.name == "ready" and path.name == "apps.py":
                continue
            hidden += [
                f"{path.relative_to(ROOT)}:{node.lineno}"
                for node in ast.walk(function)
                if _imports_the_project(node)
            ]
    assert hidden == []


def _imports_the_project(node: ast.AST) -> bool:
    if isinstance(node, ast.ImportFrom):
        return bool(node.level) or (node.module or "").split(".")[0] in PACKAGES
    if isinstance(node, ast.Import):
        return any(alias.name.split(".")[0] in PACKAGES for alias in node.names)
    return False


# Writes to the ledger's tables: SQL that inserts into, updates or deletes from them, and
# the ORM's writing calls on their models.
LEDGER_TABLE = r"loyalty_(?:account|transfer|lot)\b"
LEDGER_SQL_WRITE = re.compile(
    rf"(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM|COPY)\s+{LEDGER_TABLE}", re.IGNORECASE
)
LEDGER_ORM_WRITE = re.compile(
    r"\b(?:Account|Transfer|Lot)\.objects\b[^\n]*?\.(?:create|get_or_create|update_or_create|"
    r"bulk_create|bulk_update|update|delete)\("
)


def test_only_the_ledger_writes_accounts_transfers_and_lots():
    """The loyalty.ledger package is the one writer of the ledger's tables (migrations aside)."""
    writers = []
    for path in sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py")):
        if "migrations" in path.parts or path.is_relative_to(ROOT / "loyalty" / "ledger"):
            continue
        text = path.read_text()
        for pattern in (LEDGER_SQL_WRITE, LEDGER_ORM_WRITE):
            writers += [
                f"{path.relative_to(ROOT)}:{text.count(chr(10), 0, match.start()) + 1}"
                for match in pattern.finditer(text)
            ]
    assert writers == []
