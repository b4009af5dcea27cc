"""Unit-test fixtures: a clock the test moves by hand."""

from __future__ import annotations

import pytest

from tests.support.clock import FakeClock


@pytest.fixture(name="clock")
def fixture_clock() -> FakeClock:
    """Give a clock the test moves by hand."""
    return FakeClock()
