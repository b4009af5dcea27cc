"""The large-messages page's interoperability table: every row names tests that exist.

Each row of the table under "Interoperability with AWS's extended clients" says who wrote,
who read, the route and the size attribute, and names the test functions of
``tests/integration/test_extended_client_interop.py`` that check it; every test of that
module is in the table.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "large-messages.md"
TESTS = ROOT / "tests" / "integration" / "test_extended_client_interop.py"
SECTION = "## Interoperability with AWS's extended clients"
COLUMNS = ["written by", "read by", "route", "size attribute", "tested"]


def table_rows() -> list[list[str]]:
    """Return the cells of the section's table, header and separator left out."""
    text = PAGE.read_text()
    assert SECTION in text, f"{PAGE.name} has no section {SECTION!r}"
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]
    assert rows[0] == COLUMNS
    assert set("".join(rows[1])) <= set("-: ")
    return rows[2:]


def interop_tests() -> set[str]:
    """Return the names of the test functions of the interop module."""
    tree = ast.parse(TESTS.read_text())
    return {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
    }


def test_every_row_of_the_interop_table_names_existing_tests() -> None:
    """Each row fills every column and names at least one test, each of which exists."""
    rows = table_rows()
    assert len(rows) >= 8
    existing = interop_tests()
    for row in rows:
        assert len(row) == len(COLUMNS) and all(row), row
        named = re.findall(r"`(test_\w+)`", row[-1])
        assert named, f"row names no test: {row}"
        assert set(named) <= existing, f"no such test: {set(named) - existing}"


def test_every_interop_test_is_in_the_table() -> None:
    """No test of the interop module is left out of the table."""
    named = {name for row in table_rows() for name in re.findall(r"`(test_\w+)`", row[-1])}
    assert interop_tests() <= named
