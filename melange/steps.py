"""Driving shared logic written as generators: blocking, or awaited.

The consume path (``melange.effects``) and the SQS backend (``melange.backends.sqs_calls``)
write each operation once, as a generator that yields what it needs done and is sent the
result, or has the failure thrown back in where it asked. ``drive`` performs each request
with a blocking function, ``drive_async`` awaits it; these two loops are the only place the
two halves of melange differ in how such logic runs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from typing import Any, TypeVar

__all__ = ["drive", "drive_async"]

Y = TypeVar("Y")
T = TypeVar("T")


def drive(
    steps: Generator[Y, Any, T],
    perform: Callable[[Y], object],
    *,
    thrown: type[BaseException] | tuple[type[BaseException], ...] = Exception,
) -> T:
    """Run ``steps`` to its result, performing each request with ``perform``.

    An exception of a ``thrown`` type from ``perform`` is thrown into ``steps`` where it
    asked; anything else propagates at once.
    """
    value: object = None
    error: BaseException | None = None
    while True:
        try:
            request = steps.send(value) if error is None else steps.throw(error)
        except StopIteration as finished:
            result: T = finished.value
            return result
        value, error = None, None
        try:
            value = perform(request)
        except thrown as exc:
            error = exc


async def drive_async(
    steps: Generator[Y, Any, T],
    perform: Callable[[Y], Awaitable[object]],
    *,
    thrown: type[BaseException] | tuple[type[BaseException], ...] = Exception,
) -> T:
    """Run ``steps`` to its result, awaiting ``perform`` for each request (see ``drive``)."""
    value: object = None
    error: BaseException | None = None
    while True:
        try:
            request = steps.send(value) if error is None else steps.throw(error)
        except StopIteration as finished:
            result: T = finished.value
            return result
        value, error = None, None
        try:
            value = await perform(request)
        except thrown as exc:
            error = exc
