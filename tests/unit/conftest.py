"""Unit-test fixtures: a clock the test moves by hand, melange's wheel."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.clock import FakeClock


@pytest.fixture(name="clock")
def fixture_clock() -> FakeClock:
    """Give a clock the test moves by hand."""
    return FakeClock()


@pytest.fixture(name="wheel", scope="session")
def fixture_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Give melange's wheel, built from the checkout (hatchling through pip's build isolation)."""
    out = tmp_path_factory.mktemp("wheel")
    repo_root = Path(__file__).resolve().parents[2]
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", str(repo_root), "-w", out],
        check=True,
        timeout=300,
    )
    [wheel] = out.glob("melange-*.whl")
    return wheel
