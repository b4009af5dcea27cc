"""The README's code is the code: its first screen is examples/orders, its tests pass as written."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: The files of the reference app the first screen shows, in order.
APP_FILES = [
    "examples/orders/messages.py",
    "examples/orders/service.py",
    "examples/orders/consumers.py",
    "examples/orders/app.py",
]


def readme() -> str:
    """Return the README's text."""
    return (ROOT / "README.md").read_text(encoding="utf-8")


def first_screen() -> str:
    """Return the README up to its first horizontal rule: the two commands and the app."""
    text = readme()
    return text[: text.index("\n---\n")]


def readme_section(title: str) -> str:
    """Return the text of the README section headed ``## title``, up to the next section."""
    text = readme()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def snippet_files(text: str) -> dict[str, str]:
    """Return the python blocks of ``text`` by the path their first line names (``# path``)."""
    files: dict[str, str] = {}
    for block in re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL):
        first_line = block.splitlines()[0]
        found = re.match(r"# (\S+\.py)\b", first_line)
        assert found is not None, f"a README snippet must start with '# <path>.py': {first_line}"
        files[found.group(1)] = block
    return files


def without_module_docstring(source: str) -> str:
    """Return ``source`` from its first line after the module docstring (the code shown)."""
    tree = ast.parse(source)
    if ast.get_docstring(tree) is None:
        return source
    return "".join(source.splitlines(keepends=True)[tree.body[0].end_lineno :]).lstrip("\n")


def test_the_first_screen_starts_with_the_two_commands_and_ends_with_declare_and_worker() -> None:
    """The README opens with `make run` and `make test`, and runs the app with declare, worker."""
    commands = re.findall(r"```sh\n(.*?)```", first_screen(), flags=re.DOTALL)

    assert [line.split("#")[0].strip() for line in commands[0].splitlines()] == [
        "make run",
        "make test",
    ]
    assert "MELANGE_ENV=local python -m melange declare examples.orders:graph" in commands[1]
    assert "MELANGE_ENV=local python -m melange worker examples.orders:graph" in commands[1]


def test_the_first_screen_shows_the_reference_app_as_it_is() -> None:
    """Each examples/orders block of the first screen is that file, but for its docstring."""
    shown = {
        path: block
        for path, block in snippet_files(first_screen()).items()
        if path.startswith("examples/")
    }

    assert list(shown) == APP_FILES
    for path, block in shown.items():
        code = block.split("\n", 1)[1]
        expected = without_module_docstring((ROOT / path).read_text(encoding="utf-8"))
        assert code == expected, f"README.md's {path} differs from the file; copy it over"


def test_the_testing_snippets_pass_as_written(tmp_path: Path) -> None:
    """The first screen's and the testing section's test files, copied verbatim, pass."""
    files = {
        path: block
        for path, block in {
            **snippet_files(first_screen()),
            **snippet_files(readme_section("Testing your application")),
        }.items()
        if path.startswith("tests/")
    }
    assert sorted(files) == ["tests/conftest.py", "tests/test_orders.py", "tests/test_payments.py"]
    for relative, code in files.items():
        target = tmp_path / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(code, encoding="utf-8")

    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"\b3 passed\b", result.stdout), result.stdout


def test_the_asyncio_snippet_runs_as_written() -> None:
    """The asyncio section's program consumes its 100 messages and prints so."""
    section = readme_section("asyncio")
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    finished = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.strip() == "100 emails sent"
