"""The SQS backend's sans-I/O core: each operation as a plan of requests, run by a driver.

Every operation of the SQS backends (publishing, receiving, settling, declarations, the
directory's look-ups) is written once, as a *plan*: a generator that yields ``SqsCall``
values, each one request to make, and is sent each answer in boto3's response shape. A
request's failure, already translated into a melange error by ``SqsDirectory.request``,
is thrown into the plan at its ``yield``, so a plan catches what it expects (a missing
queue, one failed batch) as straight-line code would. Plans do no I/O and cannot tell a
thread from an event loop: ``run_plan`` drives one with a blocking function (the sync
backend), ``run_plan_async`` with an awaited one (``melange.backends.sqs.aio``). Those
drivers are the only code that knows which half of melange it serves.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator, Mapping
from typing import Any, Literal, TypeVar

import attrs

from melange.exceptions import MelangeError

__all__ = ["SESSION_FACTS", "Plan", "SqsCall", "drive", "drive_async", "run_plan", "run_plan_async"]

Y = TypeVar("Y")

T = TypeVar("T")

#: What a call is addressed to. ``session`` is answered by the driver from its session,
#: without a request: ``{"Region": ..., "Partition": ..., "Account": ... or None}``.
Service = Literal["sqs", "sns", "sts", "session"]


@attrs.frozen
class SqsCall:
    """One request a plan asks for: boto3's operation name and parameters.

    Attributes:
        service: the service the request is for.
        operation: the operation, as AWS names it (``ReceiveMessage``).
        params: its parameters, with boto3's names.
        queue: the queue it concerns, named in errors and forgotten when it is missing.
        topic: the topic it concerns, likewise.
        long_poll: a receive that may wait: sent with the receive timeouts, once.
    """

    service: Service
    operation: str
    params: Mapping[str, Any] = attrs.field(factory=dict)
    queue: str | None = None
    topic: str | None = None
    long_poll: bool = False


#: What the driver's session tells the directory, for building topic ARNs.
SESSION_FACTS = SqsCall("session", "SessionFacts")

#: An operation written once: yields calls, is sent their answers, returns its result.
Plan = Generator[SqsCall, Mapping[str, Any], T]


def run_plan(plan: Plan[T], send: Callable[[SqsCall], Mapping[str, Any]]) -> T:
    """Run ``plan``, answering each call with ``send``, and return the plan's result.

    ``send`` raises melange errors; each is thrown into the plan where it asked, and
    propagates from here when the plan does not catch it.
    """
    return drive(plan, send, thrown=MelangeError)


async def run_plan_async(
    plan: Plan[T], send: Callable[[SqsCall], Awaitable[Mapping[str, Any]]]
) -> T:
    """Run ``plan`` as ``run_plan`` does, awaiting ``send`` for each call."""
    return await drive_async(plan, send, thrown=MelangeError)


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
