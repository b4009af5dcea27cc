"""Wait for asynchronous outcomes by polling with a deadline, never by sleeping and hoping."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def poll_until(
    produce: Callable[[], T],
    accept: Callable[[T], bool] = bool,
    *,
    timeout: float = 10.0,
    interval: float = 0.05,
    message: str = "condition",
) -> T:
    """Call ``produce`` until ``accept`` holds for its result; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = produce()
        if accept(value):
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"{message} not met within {timeout} s; last value: {value!r}")
        time.sleep(interval)
