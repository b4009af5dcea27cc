"""An in-memory backend with SQS and SNS semantics, for tests and single-process apps.

It is a real backend, not a mock: messages wait in queues until received, a received
message is invisible for the visibility timeout and then delivered again with a higher
receive count, the redrive policy moves it to the dead-letter queue, topics fan out to
subscribed queues once per message honouring filter policies, FIFO queues keep group order
and drop duplicates for five minutes. It is thread-safe; ``receive`` long-polls.
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence

import attrs

from melange import limits, wire
from melange.backends import filter_policy as filters
from melange.backends.protocol import FilterPolicy
from melange.exceptions import (
    BackendError,
    ConfigurationError,
    QueueNotFoundError,
    TopicNotFoundError,
)
from melange.messages import (
    AttributeValue,
    BatchResult,
    Envelope,
    OutgoingMessage,
    ReceivedMessage,
    SendOptions,
)

__all__ = ["InMemoryBackend", "InMemoryMessagingBackend"]

DEFAULT_VISIBILITY_TIMEOUT = 30
DEFAULT_RETENTION_SECONDS = 345_600  # four days, as SQS
DEDUPLICATION_WINDOW_SECONDS = 300


@attrs.define
class _Message:
    broker_id: str
    body: str
    attributes: Mapping[str, AttributeValue]
    group_id: str | None
    sent_at: float
    visible_at: float
    receive_count: int = 0
    receipt_handle: str | None = None


@attrs.define
class _Queue:
    name: str
    visibility_timeout: int = DEFAULT_VISIBILITY_TIMEOUT
    retention_seconds: int = DEFAULT_RETENTION_SECONDS
    content_based_deduplication: bool = False
    dead_letter_queue: str | None = None
    max_receive_count: int = 5
    messages: dict[str, _Message] = attrs.Factory(dict)
    by_handle: dict[str, _Message] = attrs.Factory(dict)
    dedup: dict[str, tuple[float, str]] = attrs.Factory(dict)
    swept_at: float = -math.inf

    @property
    def fifo(self) -> bool:
        return limits.is_fifo(self.name)


@attrs.define
class _Subscription:
    queue_name: str
    filter_policy: FilterPolicy | None
    raw: bool


@attrs.define
class _Topic:
    name: str
    arn: str
    subscriptions: dict[str, _Subscription] = attrs.Factory(dict)


class InMemoryBackend:
    """Queues and topics in this process's memory, with SQS/SNS semantics.

    Args:
        clock: monotonic time source in seconds; tests pass a controllable one to move
            visibility timeouts and retention without sleeping.
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._queues: dict[str, _Queue] = {}
        self._topics: dict[str, _Topic] = {}
        self._changed = threading.Condition(threading.RLock())
        self._closed = False

    # -- declaration ---------------------------------------------------------------------

    def declare_queue(
        self,
        queue_name: str,
        *,
        dead_letter_queue: str | None = None,
        max_receive_count: int = 5,
        visibility_timeout: int | None = None,
        retention_seconds: int | None = None,
        content_based_deduplication: bool = False,
        topics: Sequence[str] = (),
        filter_policy: FilterPolicy | None = None,
        raw_message_delivery: bool = False,
    ) -> None:
        """Create or update a queue (see ``MessagingBackend.declare_queue``)."""
        limits.check_queue_declaration(queue_name, dead_letter_queue, max_receive_count)
        if visibility_timeout is not None:
            limits.check_visibility_timeout(queue_name, visibility_timeout)
        with self._changed:
            self._check_open()
            if dead_letter_queue is not None:
                self._queues.setdefault(dead_letter_queue, _Queue(dead_letter_queue))
            queue = self._queues.setdefault(queue_name, _Queue(queue_name))
            queue.dead_letter_queue = dead_letter_queue
            queue.max_receive_count = max_receive_count
            queue.content_based_deduplication = content_based_deduplication
            if visibility_timeout is not None:
                queue.visibility_timeout = visibility_timeout
            if retention_seconds is not None:
                queue.retention_seconds = retention_seconds
            for topic_name in topics:
                self.declare_topic(topic_name)
            if topics:
                self.subscribe(
                    queue_name,
                    topics,
                    filter_policy=filter_policy,
                    raw_message_delivery=raw_message_delivery,
                )

    def declare_topic(self, topic_name: str) -> None:
        """Create a topic if it is missing."""
        with self._changed:
            self._check_open()
            arn = f"arn:aws:sns:memory:000000000000:{topic_name}"
            self._topics.setdefault(topic_name, _Topic(topic_name, arn))

    def subscribe(
        self,
        queue_name: str,
        topic_names: Sequence[str],
        *,
        filter_policy: FilterPolicy | None = None,
        raw_message_delivery: bool = False,
    ) -> None:
        """Subscribe a queue to topics, replacing an earlier subscription's settings."""
        if filter_policy is not None:
            filters.validate(filter_policy)
        with self._changed:
            self._queue(queue_name, "subscribe")
            for topic_name in topic_names:
                topic = self._topic(topic_name, "subscribe")
                if limits.is_fifo(topic_name) and not limits.is_fifo(queue_name):
                    raise ConfigurationError(
                        f"FIFO topic {topic_name!r} can only deliver to FIFO queues, "
                        f"not {queue_name!r}; name the queue '...fifo'"
                    )
                topic.subscriptions[queue_name] = _Subscription(
                    queue_name, filter_policy, raw_message_delivery
                )

    def send_raw(
        self,
        queue_name: str,
        body: str,
        attributes: Mapping[str, AttributeValue],
        *,
        message_group_id: str | None = None,
        deduplication_id: str | None = None,
    ) -> str:
        """Send a body and attributes as given, unwrapped."""
        wire.check_characters(f"body for queue {queue_name!r}", body)
        wire.check_size(
            queue_name, wire.message_size(body, attributes), limits.SQS_MAX_MESSAGE_BYTES
        )
        envelope = Envelope(content=body, manifest=None, serializer_id=None)
        options = SendOptions(message_group_id=message_group_id, deduplication_id=deduplication_id)
        with self._changed:
            queue = self._queue(queue_name, "send_raw")
            return self._enqueue(queue, body, attributes, OutgoingMessage(envelope, options))

    def dead_letter_queue_of(self, queue_name: str) -> str | None:
        """Return the queue's dead-letter queue, if its redrive policy names one."""
        with self._changed:
            return self._queue(queue_name, "dead_letter_queue_of").dead_letter_queue

    def delete_queue(self, queue_name: str) -> None:
        """Delete a queue and its messages."""
        with self._changed:
            self._queues.pop(queue_name, None)
            for topic in self._topics.values():
                topic.subscriptions.pop(queue_name, None)

    def delete_topic(self, topic_name: str) -> None:
        """Delete a topic and its subscriptions."""
        with self._changed:
            self._topics.pop(topic_name, None)

    def close(self) -> None:
        """Refuse further use and wake any waiting receive."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    # -- publishing ----------------------------------------------------------------------

    def publish_to_queue(self, queue_name: str, message: OutgoingMessage) -> str:
        """Send one message to a queue."""
        limits.check_queue_options(queue_name, message.options)
        payload = wire.queue_payload(queue_name, message.envelope)
        with self._changed:
            queue = self._queue(queue_name, "publish")
            return self._enqueue(queue, payload.body, payload.attributes, message)

    def publish_to_topic(self, topic_name: str, message: OutgoingMessage) -> str:
        """Publish one message: each subscribed queue whose filter passes gets it once."""
        limits.check_topic_options(topic_name, message.options)
        payload = wire.topic_payload(topic_name, message.envelope)
        with self._changed:
            topic = self._topic(topic_name, "publish")
            return self._fan_out(topic, payload.body, payload.attributes, message)

    def publish_batch_to_queue(
        self, queue_name: str, messages: Sequence[OutgoingMessage]
    ) -> BatchResult:
        """Send several messages to a queue; all are checked before any is sent."""
        payloads = []
        for message in messages:
            limits.check_queue_options(queue_name, message.options)
            payloads.append(wire.queue_payload(queue_name, message.envelope))
        with self._changed:
            queue = self._queue(queue_name, "publish")
            for payload, message in zip(payloads, messages, strict=True):
                self._enqueue(queue, payload.body, payload.attributes, message)
        return BatchResult(successful=tuple(m.envelope.message_id for m in messages))

    def publish_batch_to_topic(
        self, topic_name: str, messages: Sequence[OutgoingMessage]
    ) -> BatchResult:
        """Publish several messages to a topic; all are checked before any is sent."""
        payloads = []
        for message in messages:
            limits.check_topic_options(topic_name, message.options)
            payloads.append(wire.topic_payload(topic_name, message.envelope))
        with self._changed:
            topic = self._topic(topic_name, "publish")
            for payload, message in zip(payloads, messages, strict=True):
                self._fan_out(topic, payload.body, payload.attributes, message)
        return BatchResult(successful=tuple(m.envelope.message_id for m in messages))

    def _fan_out(
        self,
        topic: _Topic,
        content: str,
        attributes: Mapping[str, AttributeValue],
        message: OutgoingMessage,
    ) -> str:
        sns_message_id = str(uuid.uuid4())
        for subscription in list(topic.subscriptions.values()):
            queue = self._queues.get(subscription.queue_name)
            if queue is None or not filters.matches(subscription.filter_policy, attributes):
                continue
            if subscription.raw:
                self._enqueue(queue, content, attributes, message)
            else:
                body = wire.sns_notification_body(
                    topic_arn=topic.arn,
                    sns_message_id=sns_message_id,
                    message=content,
                    attributes=attributes,
                    subject=message.options.subject,
                )
                self._enqueue(queue, body, {}, message)
        return sns_message_id

    def _enqueue(
        self,
        queue: _Queue,
        body: str,
        attributes: Mapping[str, AttributeValue],
        message: OutgoingMessage,
    ) -> str:
        now = self._clock()
        dedup_id = self._deduplication_id(queue, body, message)
        if dedup_id is not None:
            seen = queue.dedup.get(dedup_id)
            if seen is not None and seen[0] > now:
                return seen[1]  # SQS accepts a duplicate and returns the first copy's id
        broker_id = str(uuid.uuid4())
        delay = message.options.delay_seconds or 0
        queue.messages[broker_id] = _Message(
            broker_id=broker_id,
            body=body,
            attributes=dict(attributes),
            group_id=message.options.message_group_id,
            sent_at=now,
            visible_at=now + delay,
        )
        if dedup_id is not None:
            queue.dedup[dedup_id] = (now + DEDUPLICATION_WINDOW_SECONDS, broker_id)
        self._changed.notify_all()
        return broker_id

    @staticmethod
    def _deduplication_id(queue: _Queue, body: str, message: OutgoingMessage) -> str | None:
        if not queue.fifo:
            return None
        explicit = wire.deduplication_id(queue.name, message)
        if explicit is None and queue.content_based_deduplication:
            import hashlib  # rarely needed; keeps importing melange cheap

            return hashlib.sha256(body.encode()).hexdigest()
        return explicit

    # -- consuming -----------------------------------------------------------------------

    def receive(
        self,
        queue_name: str,
        *,
        max_messages: int = 10,
        wait_time_seconds: int = 0,
        visibility_timeout: int | None = None,
    ) -> list[ReceivedMessage]:
        """Receive up to ``max_messages`` visible messages, waiting up to ``wait_time_seconds``."""
        limits.check_receive_args(queue_name, max_messages, wait_time_seconds, visibility_timeout)
        deadline = time.monotonic() + wait_time_seconds
        with self._changed:
            queue = self._queue(queue_name, "receive")
            while True:
                received = self._take_visible(queue, max_messages, visibility_timeout)
                remaining = deadline - time.monotonic()
                if received or remaining <= 0:
                    return received
                self._changed.wait(min(remaining, self._until_next_visible(queue)))
                if self._closed:  # closed while waiting: end the long poll empty-handed
                    return []
                queue = self._queue(queue_name, "receive")

    def _take_visible(
        self, queue: _Queue, max_messages: int, visibility_timeout: int | None
    ) -> list[ReceivedMessage]:
        now = self._clock()
        self._drop_expired(queue, now)
        invisible = queue.visibility_timeout if visibility_timeout is None else visibility_timeout
        blocked_groups: set[str | None] = set()
        received: list[ReceivedMessage] = []
        exhausted: list[_Message] = []
        for message in queue.messages.values():  # send order; no copy: nothing is removed here
            if len(received) == max_messages:
                break
            if message.visible_at > now or message.group_id in blocked_groups:
                if queue.fifo:  # later messages of the group wait for this one
                    blocked_groups.add(message.group_id)
                continue
            if queue.dead_letter_queue is not None and (
                message.receive_count >= queue.max_receive_count
            ):
                exhausted.append(message)
                continue
            received.append(self._deliver(queue, message, now + invisible))
        for message in exhausted:
            self._redrive(queue, message)
        return received

    def _redrive(self, queue: _Queue, message: _Message) -> None:
        """Move a message received max_receive_count times to the dead-letter queue."""
        self._remove(queue, message)
        target = self._queues.get(queue.dead_letter_queue or "")
        if target is not None:
            moved = attrs.evolve(message, receive_count=0, receipt_handle=None)
            moved.visible_at = self._clock()
            target.messages[moved.broker_id] = moved

    @staticmethod
    def _deliver(queue: _Queue, message: _Message, visible_at: float) -> ReceivedMessage:
        if message.receipt_handle is not None:
            queue.by_handle.pop(message.receipt_handle, None)
        message.receive_count += 1
        message.receipt_handle = f"{message.broker_id}#{uuid.uuid4().hex}"
        message.visible_at = visible_at
        queue.by_handle[message.receipt_handle] = message
        return ReceivedMessage(
            queue_name=queue.name,
            receipt_handle=message.receipt_handle,
            broker_message_id=message.broker_id,
            body=message.body,
            attributes=message.attributes,
            receive_count=message.receive_count,
            message_group_id=message.group_id,
        )

    def _drop_expired(self, queue: _Queue, now: float) -> None:
        # A sweep costs a pass over the queue: once a second is precise enough for retention
        # (counted in seconds) and keeps receive cheap on long queues.
        if now - queue.swept_at < 1.0:
            return
        queue.swept_at = now
        oldest_allowed = now - queue.retention_seconds
        for message in [m for m in queue.messages.values() if m.sent_at < oldest_allowed]:
            self._remove(queue, message)
        for dedup_id in [d for d, (until, _) in queue.dedup.items() if until <= now]:
            del queue.dedup[dedup_id]

    def _until_next_visible(self, queue: _Queue) -> float:
        now = self._clock()
        pending = [m.visible_at - now for m in queue.messages.values() if m.visible_at > now]
        # A controllable clock does not advance while we wait; re-check at least every 50 ms.
        return max(0.001, min([*pending, 0.05]))

    def acknowledge(self, queue_name: str, receipt_handles: Sequence[str]) -> list[str]:
        """Delete received messages; return the handles that matched no in-flight message."""
        with self._changed:
            queue = self._queue(queue_name, "acknowledge")
            failed = []
            for handle in receipt_handles:
                message = queue.by_handle.get(handle)
                if message is None:
                    failed.append(handle)
                else:
                    self._remove(queue, message)
            return failed

    def change_visibility(
        self, queue_name: str, receipt_handles: Sequence[str], timeout_seconds: int
    ) -> list[str]:
        """Make received messages visible again after ``timeout_seconds``."""
        limits.check_visibility_timeout(queue_name, timeout_seconds)
        with self._changed:
            queue = self._queue(queue_name, "change_visibility")
            failed = []
            for handle in receipt_handles:
                message = queue.by_handle.get(handle)
                if message is None:
                    failed.append(handle)
                else:
                    message.visible_at = self._clock() + timeout_seconds
            self._changed.notify_all()
            return failed

    @staticmethod
    def _remove(queue: _Queue, message: _Message) -> None:
        queue.messages.pop(message.broker_id, None)
        if message.receipt_handle is not None:
            queue.by_handle.pop(message.receipt_handle, None)

    # -- inspection ----------------------------------------------------------------------

    def message_count(self, queue_name: str) -> int:
        """Return how many messages the queue holds, visible or in flight."""
        with self._changed:
            return len(self._queue(queue_name, "message_count").messages)

    def queue_names(self) -> list[str]:
        """Return the names of the declared queues, sorted."""
        with self._changed:
            return sorted(self._queues)

    # -- helpers -------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise BackendError(
                "InMemoryBackend is closed; create a new backend instead of reusing this one",
                code="Closed",
            )

    def _queue(self, queue_name: str, operation: str) -> _Queue:
        self._check_open()
        queue = self._queues.get(queue_name)
        if queue is None:
            raise QueueNotFoundError(queue_name, operation=operation)
        return queue

    def _topic(self, topic_name: str, operation: str) -> _Topic:
        self._check_open()
        topic = self._topics.get(topic_name)
        if topic is None:
            raise TopicNotFoundError(topic_name, operation=operation)
        return topic


#: The name melange 7 gave the in-memory backend.
InMemoryMessagingBackend = InMemoryBackend
