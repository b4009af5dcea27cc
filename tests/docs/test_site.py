"""The documentation site builds strictly, fails on what would rot, and its code is real.

The site is built once per session into a temporary folder (``mkdocs build --strict``),
as ``make docs`` builds it: a warning (a broken link, a page missing from the nav, a
reference to a name that does not exist, a docstring mkdocstrings cannot render) fails.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
#: A fenced block either includes tested files (``--8<-- "path"``) or says it is an excerpt.
INCLUDE = re.compile(r'^--8<-- "[^"]+"$')
FENCE = re.compile(r"^```(\w+)([^\n]*)\n(.*?)^```\s*$", re.MULTILINE | re.DOTALL)
RUNNABLE = {"python", "py"}


def build(config_dir: Path, site: Path) -> subprocess.CompletedProcess[str]:
    """Run ``mkdocs build --strict`` on the project in ``config_dir`` into ``site``.

    Not ``--quiet``: mkdocs 1.6 then drops warnings before strict mode counts them, and a
    broken link builds.
    """
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(site)],
        cwd=config_dir,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )


def copy_of_docs(tmp_path: Path) -> Path:
    """Return a project in ``tmp_path`` with a copy of docs/ and mkdocs.yml, to break.

    Everything else of the checkout (examples/, config/, the packages...) is linked, not
    copied: pages include files from there (``--8<-- "examples/orders/app.py"``).
    """
    shutil.copytree(DOCS, tmp_path / "docs", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    for entry in ROOT.iterdir():
        if entry.name not in {"docs", "mkdocs.yml", "site", ".git"}:
            (tmp_path / entry.name).symlink_to(entry)
    return tmp_path


@pytest.fixture(name="site", scope="session")
def fixture_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Give the site built strictly from this checkout."""
    site = tmp_path_factory.mktemp("site")
    done = build(ROOT, site)
    assert done.returncode == 0, done.stdout + done.stderr
    return site


def test_the_site_builds_strictly_with_every_page(site: Path) -> None:
    """`mkdocs build --strict` succeeds, and every page of docs/ is in the site."""
    pages = {p.relative_to(DOCS).with_suffix("") for p in DOCS.rglob("*.md")}
    for page in pages:
        path = (
            site / page / "index.html"
            if page.name != "index"
            else site / page.parent / "index.html"
        )
        assert path.exists(), f"{page} was not built"


def test_a_broken_link_fails_the_build(tmp_path: Path) -> None:
    """A copy of the docs with one link to a missing page does not build."""
    copy_of_docs(tmp_path)
    page = tmp_path / "docs" / "index.md"
    page.write_text(page.read_text() + "\n[gone](no-such-page.md)\n")
    done = build(tmp_path, tmp_path / "site")
    assert done.returncode != 0
    assert "no-such-page.md" in done.stdout + done.stderr


def test_a_reference_to_a_missing_name_fails_the_build(tmp_path: Path) -> None:
    """A copy whose API page names a function melange does not have does not build."""
    copy_of_docs(tmp_path)
    page = tmp_path / "docs" / "reference" / "melange.md"
    page.write_text(page.read_text() + "\n::: melange.no_such_function\n")
    done = build(tmp_path, tmp_path / "site")
    assert done.returncode != 0
    assert "no_such_function" in done.stdout + done.stderr


def test_search_finds_what_readers_look_for(site: Path) -> None:
    """The offline search index holds QueuePublisher, dead letters and MELANGE_PREFIX."""
    index = json.loads((site / "search" / "search_index.json").read_text(encoding="utf-8"))
    text = " ".join(doc["title"] + " " + doc["text"] for doc in index["docs"]).lower()
    for wanted in ("queuepublisher", "dead letter", "melange_prefix"):
        assert wanted in text, f"search finds no {wanted!r}"


def test_the_site_loads_nothing_from_the_network(site: Path) -> None:
    """No page asks a browser for fonts or scripts from another host."""
    for page in site.rglob("*.html"):
        html = page.read_text(encoding="utf-8")
        assert "fonts.googleapis.com" not in html, page
        assert not re.search(r'<(?:script|link)[^>]+(?:src|href)="https?://', html), page


def fenced_blocks(path: Path) -> list[tuple[str, str, str]]:
    """Return ``(language, fence attributes, body)`` of every fenced block of a page."""
    return [(m.group(1), m.group(2), m.group(3)) for m in FENCE.finditer(path.read_text())]


@pytest.mark.parametrize(
    "page",
    sorted([*DOCS.rglob("*.md"), ROOT / "README.md"], key=str),
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_every_code_block_is_run_or_marked_an_excerpt(page: Path) -> None:
    """A Python block includes files that tests run, or is titled as an excerpt."""
    for language, attributes, body in fenced_blocks(page):
        if language not in RUNNABLE:
            continue
        lines = [line for line in body.strip().splitlines() if line.strip()]
        included = bool(lines) and all(INCLUDE.match(line.strip()) for line in lines)
        excerpt = 'title="excerpt' in attributes
        tested = page.name == "README.md" and lines and lines[0].startswith("# ")
        assert included or excerpt or tested, (
            f"{page.relative_to(ROOT)}: a python block neither includes a tested file "
            f'(--8<-- "path") nor is titled "excerpt: ...":\n{body[:200]}'
        )


@pytest.mark.parametrize(
    ("page", "module"),
    [
        ("melange", "melange"),
        ("aio", "melange.aio"),
        ("aws_lambda", "melange.aws_lambda"),
        ("backends", "melange.backends"),
        ("testing", "melange.testing"),
    ],
)
def test_the_api_reference_renders_every_public_name(site: Path, page: str, module: str) -> None:
    """Each name the module exports has its entry on its API page (none silently missing)."""
    exported = importlib.import_module(module).__all__
    html = (site / "reference" / page / "index.html").read_text(encoding="utf-8")
    missing = [name for name in exported if f'id="{module}.{name}"' not in html]
    assert missing == []
