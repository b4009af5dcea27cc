"""Running the documentation's snippet files as a reader runs them: ``python path/to/file.py``.

Each runs in a fresh interpreter from the repository root, with no ``MELANGE_*`` variable
but those the test gives, so a snippet shows what it prints on a machine like the reader's.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SNIPPETS = ROOT / "docs" / "snippets"

__all__ = ["ROOT", "SNIPPETS", "clean_environment", "run_snippet", "shown_output"]


def clean_environment(settings: Mapping[str, str] | None = None) -> dict[str, str]:
    """Return this process's environment without ``MELANGE_*``, plus ``settings``, unbuffered."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("MELANGE_")}
    return {**inherited, **(settings or {}), "PYTHONUNBUFFERED": "1"}


def run_snippet(
    relative: str,
    settings: Mapping[str, str] | None = None,
    *,
    cwd: Path = ROOT,
    timeout: float = 120,
) -> str:
    """Run ``docs/snippets/<relative>`` with ``settings`` in its environment; return its stdout.

    Fails the test, showing stderr, when the snippet exits with anything but 0.
    """
    done = subprocess.run(
        [sys.executable, str(SNIPPETS / relative)],
        cwd=cwd,
        env=clean_environment(settings),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, f"{relative} exited {done.returncode}:\n{done.stderr}"
    return done.stdout


def shown_output(relative: str) -> str:
    """Return ``docs/snippets/<relative>``: the output a page shows beside its snippet."""
    return (SNIPPETS / relative).read_text(encoding="utf-8")
