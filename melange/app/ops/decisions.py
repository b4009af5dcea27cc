"""The operations commands' decisions, as pure functions on values: no I/O here.

What a row of ``queues`` holds, what ``dlq show`` reads off a dead-lettered message,
how fast and in what batches ``dlq redrive`` moves messages, what a moved copy carries
and when a redrive is done. ``melange.app.ops.actions`` calls them around the backend.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any

import attrs

from melange import limits, wire
from melange.backends.inspection import QueueStats
from melange.consuming.dead_letters import ERROR_ATTRIBUTE, original_attributes
from melange.exceptions import MelangeError
from melange.messages import AttributeValue, ReceivedMessage

__all__ = [
    "DeadLetter",
    "QueueRow",
    "RedriveCopy",
    "RedriveProgress",
    "dead_letter_of",
    "pause_before",
    "reason_of",
    "redrive_batch_size",
    "redrive_copy",
    "redrive_visibility",
    "should_continue",
]

#: Longest visibility timeout SQS allows, in seconds (12 hours).
_MAX_VISIBILITY = 43_200
#: Seconds a received batch stays hidden beyond the time the rate needs to move it.
_VISIBILITY_MARGIN = 30
#: The most messages one receive returns.
_MAX_RECEIVE = 10
#: The FIFO group of a copy whose original had none (it was on a standard queue).
REDRIVE_GROUP = "melange-redrive"


@attrs.frozen
class QueueRow:
    """One line of ``queues``: a queue's counts and its dead-letter queue's depth.

    Attributes:
        name: the queue.
        stats: its counts.
        dead_letter_queue: its dead-letter queue, if it has one.
        dead_letter_stats: that queue's counts, if it has one.
    """

    name: str
    stats: QueueStats
    dead_letter_queue: str | None = None
    dead_letter_stats: QueueStats | None = None

    def as_json(self) -> dict[str, Any]:
        """Return the row as ``--json`` prints it."""
        return {
            "queue": self.name,
            "depth": self.stats.depth,
            "in_flight": self.stats.in_flight,
            "delayed": self.stats.delayed,
            "oldest_age_seconds": self.stats.oldest_age_seconds,
            "dead_letter_queue": self.dead_letter_queue,
            "dead_letter_depth": None
            if self.dead_letter_stats is None
            else self.dead_letter_stats.depth,
        }


@attrs.frozen
class DeadLetter:
    """What ``dlq show`` tells of one dead-lettered message.

    Attributes:
        broker_message_id: the broker's id of the message on the dead-letter queue.
        reason: its ``melange_error``; ``None`` when the broker's redrive policy moved it
            (melange writes a reason only on the copies it sends itself).
        manifest: the type it was published as, if melange can read its envelope.
        receive_count: receives counted on the dead-letter queue, this look included.
        sent_at: when it was first sent (SQS keeps ``SentTimestamp`` across a redrive
            policy move; a copy melange sent has its own).
        message_group_id: its FIFO group, if any.
    """

    broker_message_id: str
    reason: str | None
    manifest: str | None
    receive_count: int
    sent_at: datetime | None
    message_group_id: str | None = None

    def as_json(self) -> dict[str, Any]:
        """Return the message as ``--json`` prints it."""
        return {
            "broker_message_id": self.broker_message_id,
            "reason": self.reason,
            "manifest": self.manifest,
            "receive_count": self.receive_count,
            "sent_at": None if self.sent_at is None else self.sent_at.isoformat(),
            "message_group_id": self.message_group_id,
        }


def reason_of(value: AttributeValue | None) -> str | None:
    """Return the reason a ``melange_error`` attribute states, unfolding its JSON form."""
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    if text.startswith('{"reason": '):  # an attribute folded in (``dead_letters`` rule 3)
        try:
            return str(json.loads(text)["reason"])
        except (ValueError, KeyError, TypeError):
            return text
    return text


def dead_letter_of(received: ReceivedMessage) -> DeadLetter:
    """Return what ``dlq show`` tells of a message received from a dead-letter queue."""
    try:
        manifest = wire.unwrap(received).manifest
    except MelangeError:  # unreadable: that may be why it is here
        manifest = None
    return DeadLetter(
        broker_message_id=received.broker_message_id,
        reason=reason_of(received.attributes.get(ERROR_ATTRIBUTE)),
        manifest=manifest,
        receive_count=received.receive_count,
        sent_at=received.sent_at,
        message_group_id=received.message_group_id,
    )


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
        return _MAX_RECEIVE
    return max(1, min(_MAX_RECEIVE, math.floor(rate)))


def redrive_visibility(batch_size: int, rate: float | None) -> int:
    """Return the visibility timeout that keeps a batch hidden while the rate moves it."""
    needed = 0 if rate is None else math.ceil(batch_size / rate)
    return min(_MAX_VISIBILITY, needed + _VISIBILITY_MARGIN)


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
