"""The two loops that run generator-written logic: results sent in, failures thrown back."""

from __future__ import annotations

import asyncio
from collections.abc import Generator
from typing import Any

import pytest

from melange.backends.sqs.calls import drive, drive_async
from melange.exceptions import BackendError, MelangeError


def doubling_until_refused() -> Generator[int, Any, list[object]]:
    """Ask for 1, 2, 3; record each answer, or the error thrown back for it."""
    seen: list[object] = []
    for request in (1, 2, 3):
        try:
            seen.append((yield request))
        except BackendError as exc:
            seen.append(f"refused {exc}")
    return seen


def perform(request: int) -> int:
    """Answer twice the request; refuse 2."""
    if request == 2:
        raise BackendError("two")
    return request * 2


async def perform_async(request: int) -> int:
    """``perform``, awaited."""
    await asyncio.sleep(0)
    return perform(request)


def test_answers_are_sent_in_and_failures_thrown_back_where_asked() -> None:
    """The generator sees 2, a refusal for its second request, then 6; its result returns."""
    assert drive(doubling_until_refused(), perform) == [2, "refused two", 6]


def test_the_awaited_loop_does_the_same() -> None:
    """``drive_async`` gives the same result for the same steps."""
    assert asyncio.run(drive_async(doubling_until_refused(), perform_async)) == [
        2,
        "refused two",
        6,
    ]


def test_failures_not_of_the_thrown_types_propagate_at_once() -> None:
    """With ``thrown=MelangeError``, a TypeError from perform is not given to the steps."""
    steps = doubling_until_refused()

    def broken(request: int) -> int:
        raise TypeError("a bug")

    with pytest.raises(TypeError, match="a bug"):
        drive(steps, broken, thrown=MelangeError)
    assert steps.gi_frame is not None  # suspended at its first request, never resumed
