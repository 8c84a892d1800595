"""The console reads through its own interfaces: no SQL of its own, and the read model refuses a
filter it cannot apply rather than silently ignoring it."""

from __future__ import annotations

import ast
import pathlib

import pytest

import engine.console
from connectors import sql_console
from engine.console import read_model
from engine.core import scopes
from tests.console import conftest as console_conftest

CONSOLE = pathlib.Path(engine.console.__file__).parent


def imported_modules(path: pathlib.Path) -> set[str]:
    """Every module a Python file imports, at any depth (functions included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_the_console_package_imports_neither_sqlalchemy_nor_connectors():
    sources = sorted(CONSOLE.rglob("*.py"))
    assert len(sources) > 10  # the walk really found the package
    offending = {
        str(path.relative_to(CONSOLE)): sorted(m for m in imported_modules(path) if m.split(".")[0] in ("sqlalchemy", "sqlmodel", "connectors"))
        for path in sources
    }
    assert {path: modules for path, modules in offending.items() if modules} == {}


class Catalogue:
    """Just enough of a rules catalogue: clauses with an id and a mode."""

    class Clause:
        def __init__(self, id: str, mode: str) -> None:
            self.id, self.mode = id, mode

    clauses = (Clause("a-1", "auto_grant"), Clause("a-2", "inform"), Clause("b-1", "auto_grant"))


def test_a_mode_filter_is_resolved_against_the_catalogue():
    filters, errors = read_model.DecisionFilters.parse({"mode": "auto_grant", "firm": "西宁"})
    assert errors == [] and filters.mode_clauses is None
    resolved = filters.for_catalogue(Catalogue())
    assert resolved.mode_clauses == {"a-1", "b-1"} and resolved.firm == "西宁"
    assert filters.for_catalogue(None).mode_clauses == frozenset()  # no catalogue: no clause has the mode
    assert resolved.as_query() == {"mode": "auto_grant", "firm": "西宁"}  # links carry the filter, not its resolution


@console_conftest.SQL_ONLY
async def test_the_sql_read_model_refuses_an_unresolved_mode_filter(store):
    reads = sql_console.SqlConsoleReadModel(store)
    filters, _ = read_model.DecisionFilters.parse({"mode": "inform"})
    with pytest.raises(ValueError, match="for_catalogue"):
        await reads.decision_page(filters, 1, scope=scopes.ALL)
    assert (await reads.decision_page(filters.for_catalogue(Catalogue()), 1, scope=scopes.ALL)).total == 0
