"""What ``queues`` and ``dlq show`` report: a queue's counts, a dead letter's story.

Values and the pure functions that make them from what the broker answers; no I/O here
(``melange.app.ops.actions`` asks the backend, ``output`` prints these).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs

from melange import wire
from melange.backends.inspection import QueueStats
from melange.consuming.dead_letters import dead_letter_reason, original_attributes
from melange.exceptions import MelangeError
from melange.messages import Envelope, ReceivedMessage
from melange.payloads.store import LargePayloads
from melange.wire.claim_check import ClaimCheck, PayloadPointer, claim_check, inlined

__all__ = [
    "DeadLetter",
    "QueueRow",
    "claim_check_of",
    "dead_letter_of",
    "large_payloads_json",
    "logged_message_id",
]


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
        broker_message_id: the broker's id of the message on the dead-letter queue (not
            the id the worker logged: that was the broker's id on the source queue).
        reason: its ``melange_error``; ``None`` when the broker's redrive policy moved it
            (melange writes a reason only on the copies it sends itself).
        manifest: the type it was published as, if melange can read its envelope.
        receive_count: receives counted on the dead-letter queue, this look included.
        sent_at: when it was first sent (SQS keeps ``SentTimestamp`` across a redrive
            policy move; a copy melange sent has its own).
        message_group_id: its FIFO group, if any.
        message_id: melange's id of the message, the ``message_id`` field of every log
            line the worker wrote about it; ``None`` when the message carries none.
        body: what was published, unwrapped from melange's envelope (the body as the
            queue holds it when melange cannot read it); for a large message, its payload
            read from S3 when it was (``--body``), else the pointer.
        payload: where a large message's payload is stored in S3 (``None``: inline).
        payload_size: its size in bytes, as the message's attribute states it.
    """

    broker_message_id: str
    reason: str | None
    manifest: str | None
    receive_count: int
    sent_at: datetime | None
    message_group_id: str | None = None
    message_id: str | None = None
    body: str = ""
    payload: PayloadPointer | None = None
    payload_size: int | None = None

    def as_json(self, *, body: bool = False) -> dict[str, Any]:
        """Return the message as ``--json`` prints it; its body only when asked (``--body``)."""
        document = {
            "message_id": self.message_id,
            "broker_message_id": self.broker_message_id,
            "reason": self.reason,
            "manifest": self.manifest,
            "receive_count": self.receive_count,
            "sent_at": None if self.sent_at is None else self.sent_at.isoformat(),
            "message_group_id": self.message_group_id,
            "payload": None
            if self.payload is None
            else {"location": str(self.payload), "size": self.payload_size},
        }
        if body:
            document["body"] = self.body
        return document


def claim_check_of(received: ReceivedMessage) -> ClaimCheck | None:
    """Return the pointer a dead letter carries to its payload in S3, if it is readable.

    Read from the attributes the original had: a dead-lettered copy may have folded the
    size attribute into ``melange_error``. A malformed pointer is none (its reason says so).
    """
    original = attrs.evolve(received, attributes=original_attributes(received.attributes))
    try:
        return claim_check(original)
    except MelangeError:
        return None


def dead_letter_of(received: ReceivedMessage, payload: str | None = None) -> DeadLetter:
    """Return what ``dlq show`` tells of a message received from a dead-letter queue.

    ``payload``: a large message's payload, read from S3, shown as its body.
    """
    check = claim_check_of(received)
    readable = received
    if check is not None and payload is not None:
        readable = inlined(
            attrs.evolve(received, attributes=original_attributes(received.attributes)),
            check,
            payload,
        )
    try:
        envelope: Envelope | None = wire.unwrap(readable)
    except MelangeError:  # unreadable: that may be why it is here
        envelope = None
    return DeadLetter(
        broker_message_id=received.broker_message_id,
        reason=dead_letter_reason(received.attributes),
        manifest=None if envelope is None else envelope.manifest,
        receive_count=received.receive_count,
        sent_at=received.sent_at,
        message_group_id=received.message_group_id,
        message_id=logged_message_id(received, envelope),
        body=readable.body if envelope is None else envelope.content,
        payload=None if check is None else check.pointer,
        payload_size=None if check is None else check.size,
    )


def large_payloads_json(payloads: LargePayloads | None) -> dict[str, Any] | None:
    """Return where large messages are stored, as ``queues --json`` prints it."""
    if payloads is None:
        return None
    return {
        "bucket": payloads.bucket,
        "key_prefix": payloads.key_prefix,
        "location": f"s3://{payloads.bucket}/{payloads.key_prefix}",
        "expiry_days": payloads.expiry_days,
    }


def logged_message_id(received: ReceivedMessage, envelope: Envelope | None) -> str | None:
    """Return the ``message_id`` the worker logged for this message, if it carries one.

    It is the ``message_id`` attribute the publisher set (inside an SNS notification's
    attributes when raw delivery is off), or an SNS notification's own id. A message
    without either gets the broker's id from ``wire.unwrap``: on the dead-letter queue
    that is the copy's id, which no log line names, so it is no id to search the logs by.
    An unreadable message shows the attribute it carries, if a string.
    """
    if envelope is None:
        found = received.attributes.get(wire.MESSAGE_ID)
        return found if isinstance(found, str) else None
    if envelope.message_id == received.broker_message_id:
        return None
    return envelope.message_id
