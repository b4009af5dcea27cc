"""Unit-test fixtures: a clock the test moves by hand."""

from __future__ import annotations

import pytest


class FakeClock:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(name="clock")
def fixture_clock() -> FakeClock:
    """Give a clock the test moves by hand."""
    return FakeClock()
