"""What the consume path's shared logic asks of the outside world, and the two ways to do it.

Handling a message (``melange.handling``) and settling its fate are written once, as
generators: where they need the broker, the deduplication cache or a consumer, they
``yield`` an effect (an attrs value saying what to do) and receive its result, or have
its exception thrown back in at the same point. ``run_sync`` performs the effects by
calling blocking functions (the threaded dispatcher); ``run_async`` awaits them (the
asyncio dispatcher). The drivers are the only code that knows which half it is in, so no
decision of the consume path is written twice (both loops are ``melange.steps``').
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator, Mapping
from typing import Any, TypeVar

import attrs

from melange.consumers import Consumer, MessageContext
from melange.messages import AttributeValue, ReceivedMessage
from melange.steps import drive, drive_async

__all__ = [
    "Acknowledge",
    "ChangeVisibility",
    "Claim",
    "Deliver",
    "Effect",
    "ForgetClaim",
    "LookUpRedrivePolicy",
    "SendToDeadLetters",
    "Steps",
    "run_async",
    "run_sync",
]

T = TypeVar("T")


@attrs.frozen
class Claim:
    """Claim ``key`` in the deduplication cache for ``lease_seconds``; result: a ``Claim``."""

    key: str
    lease_seconds: int


@attrs.frozen
class ForgetClaim:
    """End a claim: record the key as done, or release it for another try."""

    key: str
    token: str
    done: bool


@attrs.frozen
class Deliver:
    """Run ``consumer``'s handler for ``message``; its exception is thrown back."""

    consumer: Consumer
    message: Any
    context: MessageContext


@attrs.frozen
class Acknowledge:
    """Delete ``received``; result: ``True`` deleted, ``False`` refused, ``None`` batched."""

    received: ReceivedMessage


@attrs.frozen
class ChangeVisibility:
    """Hide received messages for ``seconds`` from now (0: visible at once)."""

    receipt_handles: tuple[str, ...]
    seconds: int


@attrs.frozen
class LookUpRedrivePolicy:
    """Ask the broker for the queue's redrive policy; result: ``RedrivePolicy | None``."""


@attrs.frozen
class SendToDeadLetters:
    """Send a dead-letter copy, as it is, to ``queue_name`` (FIFO: in its message's group)."""

    queue_name: str
    body: str
    attributes: Mapping[str, AttributeValue]
    message_group_id: str | None
    deduplication_id: str | None


Effect = (
    Claim
    | ForgetClaim
    | Deliver
    | Acknowledge
    | ChangeVisibility
    | LookUpRedrivePolicy
    | SendToDeadLetters
)
#: Shared logic that yields effects and finally returns a ``T``.
Steps = Generator[Effect, Any, T]


def run_sync(steps: Steps[T], perform: Callable[[Effect], object]) -> T:
    """Drive ``steps`` to its result, performing each effect with a blocking call."""
    return drive(steps, perform)


async def run_async(steps: Steps[T], perform: Callable[[Effect], Awaitable[object]]) -> T:
    """Drive ``steps`` to its result, awaiting each effect."""
    return await drive_async(steps, perform)
