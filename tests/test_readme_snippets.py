"""The README is the front door: two commands first, one example that runs, short, no dead links."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
#: The README fits on about two screens; the documentation site holds the rest.
MOST_LINES = 150


def readme() -> str:
    """Return the README's text."""
    return README.read_text(encoding="utf-8")


def without_module_docstring(source: str) -> str:
    """Return ``source`` from its first line after the module docstring (the code shown)."""
    tree = ast.parse(source)
    if ast.get_docstring(tree) is None:
        return source
    return "".join(source.splitlines(keepends=True)[tree.body[0].end_lineno :]).lstrip("\n")


def test_the_readme_opens_with_the_two_commands() -> None:
    """The first block is `make run` then `make test`, before anything else is said."""
    text = readme()
    assert text.startswith("# melange\n\n```sh\n")
    first_block = re.search(r"```sh\n(.*?)```", text, flags=re.DOTALL)
    assert first_block is not None
    commands = [line.split("#")[0].strip() for line in first_block.group(1).splitlines()]
    assert commands == ["make run", "make test"]


def test_the_readme_fits_on_two_screens() -> None:
    """The README is at most 150 lines; everything else lives on the documentation site."""
    assert len(readme().splitlines()) <= MOST_LINES


def test_the_example_is_the_file_it_names_and_runs() -> None:
    """The README's program is examples/hello.py, but for its docstring, and prints its line."""
    [block] = re.findall(r"```python\n(.*?)```", readme(), flags=re.DOTALL)
    first_line, code = block.split("\n", 1)
    assert first_line == "# examples/hello.py"
    expected = without_module_docstring((ROOT / "examples/hello.py").read_text(encoding="utf-8"))
    assert code == expected, "README.md's example differs from examples/hello.py; copy it over"
    ran = subprocess.run(
        [sys.executable, "-m", "examples.hello"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert ran.stdout == "billing order 1: 9.90\n"


def test_every_relative_link_leads_to_a_file() -> None:
    """Each link of the README to a file of the repository names one that exists."""
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", readme())
    relative = [link for link in links if not re.match(r"[a-z]+://", link)]
    assert relative, "the README links into the documentation"
    for link in relative:
        assert (ROOT / link).exists(), f"README.md links to {link}, which does not exist"
