"""The README's testing snippet runs as written, so it cannot rot unnoticed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def readme_section(title: str) -> str:
    """Return the text of the README section headed ``## title``, up to the next section."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def snippet_files(section: str) -> dict[str, str]:
    """Return the section's python blocks by the path their first line names (``# path``)."""
    files: dict[str, str] = {}
    for block in re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL):
        first_line = block.splitlines()[0]
        found = re.match(r"# (\S+\.py)\b", first_line)
        assert found is not None, f"a testing snippet must start with '# <path>.py': {first_line}"
        files[found.group(1)] = block
    return files


def test_the_testing_snippet_passes_as_written(tmp_path: Path) -> None:
    """The README's conftest and test files, copied verbatim into a project, pass under pytest."""
    files = snippet_files(readme_section("Testing your application"))
    assert "tests/conftest.py" in files
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
    assert re.search(r"\b2 passed\b", result.stdout), result.stdout
