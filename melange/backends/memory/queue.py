"""One in-memory queue with SQS semantics; ``InMemoryBackend`` holds them under its lock.

Not thread-safe on its own: every method is called with the backend's lock held, and
every time is passed in, so the backend's (possibly controllable) clock rules.
"""

from __future__ import annotations

import itertools
import math
import uuid
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime

import attrs

from melange import limits, wire
from melange.backends.inspection import QueueStats
from melange.messages import AttributeValue, OutgoingMessage, ReceivedMessage

__all__ = ["MemoryQueue", "StoredMessage"]

DEFAULT_VISIBILITY_TIMEOUT = 30
DEFAULT_RETENTION_SECONDS = 345_600  # four days, as SQS
DEDUPLICATION_WINDOW_SECONDS = 300


@attrs.define
class StoredMessage:
    """A message as a queue keeps it."""

    broker_id: str
    body: str
    attributes: Mapping[str, AttributeValue]
    group_id: str | None
    sent_at: float
    visible_at: float
    receive_count: int = 0
    receipt_handle: str | None = None
    #: Wall-clock time it was accepted, reported as SQS's SentTimestamp (``sent_at`` above
    #: is on the backend's clock, which tests may control).
    sent_timestamp: datetime = attrs.field(factory=lambda: datetime.now(UTC))


@attrs.define
class MemoryQueue:
    """Messages in send order, their visibility, receive counts and FIFO deduplication."""

    name: str
    visibility_timeout: int = DEFAULT_VISIBILITY_TIMEOUT
    retention_seconds: int = DEFAULT_RETENTION_SECONDS
    content_based_deduplication: bool = False
    dead_letter_queue: str | None = None
    max_receive_count: int = 5
    messages: dict[str, StoredMessage] = attrs.Factory(dict)
    by_handle: dict[str, StoredMessage] = attrs.Factory(dict)
    dedup: dict[str, tuple[float, str]] = attrs.Factory(dict)
    swept_at: float = -math.inf
    _receipts: Iterator[int] = attrs.field(factory=itertools.count, init=False, repr=False)

    @property
    def fifo(self) -> bool:
        """Whether this is a FIFO queue (by its name)."""
        return limits.is_fifo(self.name)

    def enqueue(
        self,
        body: str,
        attributes: Mapping[str, AttributeValue],
        message: OutgoingMessage,
        now: float,
    ) -> str:
        """Store a message and return its broker id (the first copy's, for a duplicate)."""
        dedup_id = self._deduplication_id(body, message)
        if dedup_id is not None:
            seen = self.dedup.get(dedup_id)
            if seen is not None and seen[0] > now:
                return seen[1]  # SQS accepts a duplicate and returns the first copy's id
        broker_id = str(uuid.uuid4())
        self.messages[broker_id] = StoredMessage(
            broker_id=broker_id,
            body=body,
            attributes=dict(attributes),
            group_id=message.options.message_group_id,
            sent_at=now,
            visible_at=now + (message.options.delay_seconds or 0),
        )
        if dedup_id is not None:
            self.dedup[dedup_id] = (now + DEDUPLICATION_WINDOW_SECONDS, broker_id)
        return broker_id

    def _deduplication_id(self, body: str, message: OutgoingMessage) -> str | None:
        if not self.fifo:
            return None
        explicit = wire.deduplication_id(self.name, message)
        if explicit is None and self.content_based_deduplication:
            import hashlib  # rarely needed; keeps importing melange cheap

            return hashlib.sha256(body.encode()).hexdigest()
        return explicit

    def accept_redriven(self, message: StoredMessage, now: float) -> None:
        """Take a message another queue's redrive policy moved here."""
        moved = attrs.evolve(message, receive_count=0, receipt_handle=None)
        moved.visible_at = now
        self.messages[moved.broker_id] = moved

    def take_visible(
        self, max_messages: int, visibility_timeout: int | None, now: float
    ) -> tuple[list[ReceivedMessage], list[StoredMessage]]:
        """Deliver up to ``max_messages``; return them and those due for the dead-letter queue.

        The messages due for redrive (received ``max_receive_count`` times) are removed.
        """
        self._drop_expired(now)
        invisible = self.visibility_timeout if visibility_timeout is None else visibility_timeout
        blocked_groups: set[str | None] = set()
        received: list[ReceivedMessage] = []
        exhausted: list[StoredMessage] = []
        fifo = self.fifo  # once: the loop passes over every message in flight
        for message in self.messages.values():  # send order; no copy: nothing is removed here
            if len(received) == max_messages:
                break
            if message.visible_at > now or message.group_id in blocked_groups:
                if fifo:  # later messages of the group wait for this one
                    blocked_groups.add(message.group_id)
                continue
            if self.dead_letter_queue is not None and (
                message.receive_count >= self.max_receive_count
            ):
                exhausted.append(message)
                continue
            received.append(self._deliver(message, now + invisible))
        for message in exhausted:
            self.remove(message)
        return received, exhausted

    def _deliver(self, message: StoredMessage, visible_at: float) -> ReceivedMessage:
        if message.receipt_handle is not None:
            self.by_handle.pop(message.receipt_handle, None)
        message.receive_count += 1
        # A new handle per receive, so an earlier receive's handle no longer matches.
        message.receipt_handle = f"{message.broker_id}#{next(self._receipts)}"
        message.visible_at = visible_at
        self.by_handle[message.receipt_handle] = message
        return self._as_received(message, message.receipt_handle)

    def peek(self) -> list[ReceivedMessage]:
        """Return every message, visible or in flight, in send order, changing nothing.

        For tests and inspection: the copies carry no receipt handle (they were not
        received), and their receive count is the receives so far.
        """
        return [self._as_received(message, "") for message in self.messages.values()]

    def _as_received(self, message: StoredMessage, receipt_handle: str) -> ReceivedMessage:
        return ReceivedMessage(
            queue_name=self.name,
            receipt_handle=receipt_handle,
            broker_message_id=message.broker_id,
            body=message.body,
            attributes=message.attributes,
            receive_count=message.receive_count,
            message_group_id=message.group_id,
            sent_at=message.sent_timestamp,
        )

    def _drop_expired(self, now: float) -> None:
        # A sweep costs a pass over the queue: once a second is precise enough for retention
        # (counted in seconds) and keeps receive cheap on long queues.
        if now - self.swept_at < 1.0:
            return
        self.swept_at = now
        oldest_allowed = now - self.retention_seconds
        for message in [m for m in self.messages.values() if m.sent_at < oldest_allowed]:
            self.remove(message)
        for dedup_id in [d for d, (until, _) in self.dedup.items() if until <= now]:
            del self.dedup[dedup_id]

    def seconds_until_next_visible(self, now: float) -> float:
        """Return how long a waiting receive should sleep before looking again."""
        pending = [m.visible_at - now for m in self.messages.values() if m.visible_at > now]
        # A controllable clock does not advance while we wait; re-check at least every 50 ms.
        return max(0.001, min([*pending, 0.05]))

    def acknowledge(self, receipt_handles: Sequence[str]) -> list[str]:
        """Delete received messages; return the handles that matched no in-flight message."""
        failed = []
        for handle in receipt_handles:
            message = self.by_handle.get(handle)
            if message is None:
                failed.append(handle)
            else:
                self.remove(message)
        return failed

    def change_visibility(self, receipt_handles: Sequence[str], visible_at: float) -> list[str]:
        """Make received messages visible at ``visible_at``; return the unknown handles."""
        failed = []
        for handle in receipt_handles:
            message = self.by_handle.get(handle)
            if message is None:
                failed.append(handle)
            else:
                message.visible_at = visible_at
        return failed

    def stats(self, now: float) -> QueueStats:
        """Return the counts SQS reports, and the oldest message's age (which SQS does not)."""
        waiting = [m for m in self.messages.values() if m.visible_at > now]
        in_flight = sum(1 for m in waiting if m.receipt_handle is not None)
        oldest = min((m.sent_at for m in self.messages.values()), default=None)
        return QueueStats(
            depth=len(self.messages) - len(waiting),
            in_flight=in_flight,
            delayed=len(waiting) - in_flight,
            oldest_age_seconds=None if oldest is None else max(0.0, now - oldest),
        )

    def purge(self) -> None:
        """Forget every message; the deduplication ids stay, as on SQS."""
        self.messages.clear()
        self.by_handle.clear()

    def remove(self, message: StoredMessage) -> None:
        """Forget a message and its receipt handle."""
        self.messages.pop(message.broker_id, None)
        if message.receipt_handle is not None:
            self.by_handle.pop(message.receipt_handle, None)
