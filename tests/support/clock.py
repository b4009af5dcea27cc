"""A monotonic clock the test moves by hand, for every ``clock=`` parameter melange takes."""

from __future__ import annotations


class FakeClock:
    """A monotonic clock that moves only when told to.

    Attributes:
        now: the time it gives, in seconds; it starts well above 0 so that "0" stands out.
    """

    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        """Give the current time."""
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds``."""
        self.now += seconds
