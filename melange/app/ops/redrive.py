"""How ``dlq redrive`` moves dead letters back: the copy it sends, its pace, when it is done.

Pure functions on values, no I/O: what a moved copy carries, how many messages to receive
at once and how long to hide them at a given rate, how long to pause before the next
one, and when a redrive stops. ``melange.app.ops.actions`` calls them around the backend.
"""

from __future__ import annotations

import math
from typing import Any

import attrs

from melange import limits
from melange.consuming.dead_letters import original_attributes
from melange.messages import AttributeValue, ReceivedMessage

__all__ = [
    "REDRIVE_GROUP",
    "RedriveCopy",
    "RedriveProgress",
    "pause_before",
    "redrive_batch_size",
    "redrive_copy",
    "redrive_visibility",
    "should_continue",
    "visible_again_within",
]

#: Seconds a received batch stays hidden beyond the time the rate needs to move it.
_VISIBILITY_MARGIN = 30
#: The FIFO group of a copy whose original had none (it was on a standard queue).
REDRIVE_GROUP = "melange-redrive"


@attrs.frozen
class RedriveCopy:
    """What to send to the source queue for one dead-lettered message."""

    body: str
    attributes: dict[str, AttributeValue]
    message_group_id: str | None
    deduplication_id: str | None


def redrive_copy(received: ReceivedMessage, source: str) -> RedriveCopy:
    """Return the copy of a dead-lettered message to send back to ``source``.

    It has the original body and attributes (``melange_error`` removed, a folded
    attribute put back). To a FIFO queue it keeps its group, and its deduplication id
    is derived from the dead-letter copy's broker id: a copy sent again after an
    interrupted run (the message was sent, not yet deleted) is dropped by SQS's
    five-minute deduplication. A standard queue has no such guard.
    """
    fifo = limits.is_fifo(source)
    return RedriveCopy(
        body=received.body,
        attributes=original_attributes(received.attributes),
        message_group_id=(received.message_group_id or REDRIVE_GROUP) if fifo else None,
        deduplication_id=f"redrive-{received.broker_message_id}"[:128] if fifo else None,
    )


def redrive_batch_size(rate: float | None) -> int:
    """Return how many messages to receive at once: few at a low rate, so few are in flight."""
    if rate is None:
        return limits.MAX_BATCH_ENTRIES
    return max(1, min(limits.MAX_BATCH_ENTRIES, math.floor(rate)))


def redrive_visibility(batch_size: int, rate: float | None) -> int:
    """Return the visibility timeout that keeps a batch hidden while the rate moves it."""
    needed = 0 if rate is None else math.ceil(batch_size / rate)
    return min(limits.MAX_VISIBILITY_TIMEOUT, needed + _VISIBILITY_MARGIN)


def visible_again_within(rate: float | None) -> int:
    """Return the seconds within which a dead letter melange's commands hid becomes visible.

    A redrive at ``rate`` hides each batch it receives for ``redrive_visibility`` (30 s
    without a rate, which is also how long ``dlq show`` hides what it peeks at). Killed
    before it deleted or released them, it leaves them in flight on the dead-letter queue
    for at most that long; a rerun at the same rate says so.
    """
    return redrive_visibility(redrive_batch_size(rate), rate)


def pause_before(moved: int, started: float, now: float, rate: float | None) -> float:
    """Return the seconds to wait before moving the next message, to keep to ``rate``/s."""
    if rate is None:
        return 0.0
    return max(0.0, started + moved / rate - now)


@attrs.frozen
class RedriveProgress:
    """How far a redrive got.

    Attributes:
        method: ``move-task`` (the broker moves them) or ``copy`` (receive, send, delete).
        to_move: the dead-letter queue's depth when it started: at most this many move.
        moved: messages whose copy the source accepted and whose original was deleted.
        not_deleted: copies accepted whose original could not be deleted (its receive had
            expired): it stays on the dead-letter queue and a rerun sends it again.
        interrupted: stopped by SIGINT/SIGTERM before it was done.
    """

    method: str
    to_move: int
    moved: int = 0
    not_deleted: int = 0
    interrupted: bool = False

    def as_json(self) -> dict[str, Any]:
        """Return the progress as ``--json`` prints it."""
        return attrs.asdict(self)


def should_continue(progress: RedriveProgress, last_batch_empty: bool) -> bool:
    """Return whether to receive another batch from the dead-letter queue.

    A redrive stops after as many messages as the queue held when it started, so
    messages a still-failing consumer dead-letters again are not moved round in circles.
    """
    handled = progress.moved + progress.not_deleted
    return not (progress.interrupted or last_batch_empty or handled >= progress.to_move)
