"""Running the documentation's snippets as a reader would, and comparing what they print.

A snippet is a file under ``docs/snippets/<page>/`` that a page includes. Tests run it as
a program (``runpy``, in this process) and compare what it printed with the ``.out`` file
beside it, which the page shows as the snippet's output.
"""

from __future__ import annotations

import os
import runpy
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SNIPPETS = ROOT / "docs" / "snippets"


def run_snippet(relative: str) -> dict[str, Any]:
    """Run ``docs/snippets/<relative>`` as a program (not as ``__main__``); return its globals."""
    return runpy.run_path(str(SNIPPETS / relative), run_name="docs_snippet")


def shown_output(relative: str) -> str:
    """Return the output the page shows for a snippet: its ``.out`` file beside it."""
    return (SNIPPETS / relative).with_suffix(".out").read_text(encoding="utf-8")


def page(name: str) -> str:
    """Return the Markdown of ``docs/<name>``."""
    return (ROOT / "docs" / name).read_text(encoding="utf-8")


def unset_melange_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """Remove every ``MELANGE_*`` variable from the environment, as on a fresh shell."""
    for name in [name for name in os.environ if name.startswith("MELANGE_")]:
        monkeypatch.delenv(name)
