"""The reliability page names tests that exist: a renamed or deleted test fails here first."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "reliability.md"
#: A test named on the page: ``tests/<path>.py::test_name``.
CITED = re.compile(r"`(tests/[\w/]+\.py)::(test_\w+)`")
#: A test class named on the page with its file: ``TestX`` ... (``tests/<path>.py``).
CLASSES = re.compile(r"^\| `(Test\w+)`(?:, `(Test\w+)`)? \(`(tests/[\w/]+\.py)`\)", re.MULTILINE)


def test_every_test_the_page_cites_exists() -> None:
    """Each ``file::test`` on the page is a test function or method defined in that file."""
    cited = CITED.findall(PAGE.read_text(encoding="utf-8"))
    assert len(cited) >= 50
    missing = [
        f"{path}::{name}"
        for path, name in cited
        if not re.search(rf"^\s*def {name}\(", (ROOT / path).read_text(), re.MULTILINE)
    ]
    assert missing == []


def test_every_test_class_of_the_backends_table_exists() -> None:
    """Each contract test class the page lists is defined in the file it names."""
    rows = CLASSES.findall(PAGE.read_text(encoding="utf-8"))
    assert len(rows) == 6
    for first, second, path in rows:
        source = (ROOT / path).read_text()
        for name in filter(None, (first, second)):
            assert re.search(rf"^class {name}\(", source, re.MULTILINE), f"{path}::{name}"
