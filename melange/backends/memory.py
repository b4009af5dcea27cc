"""An in-memory backend with SQS and SNS semantics, for tests and single-process apps.

It is a real backend, not a mock: messages wait in queues until received, a received
message is invisible for the visibility timeout and then delivered again with a higher
receive count, the redrive policy moves it to the dead-letter queue, topics fan out to
subscribed queues once per message honouring filter policies, FIFO queues keep group order
and drop duplicates for five minutes. It is thread-safe; ``receive`` long-polls.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence

import attrs

from melange import limits, wire
from melange.backends import filter_policy as filters
from melange.backends.memory_queue import MemoryQueue
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
    RedrivePolicy,
    SendOptions,
)

__all__ = ["InMemoryBackend", "InMemoryMessagingBackend"]


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
        self._queues: dict[str, MemoryQueue] = {}
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
                self._queues.setdefault(dead_letter_queue, MemoryQueue(dead_letter_queue))
            queue = self._queues.setdefault(queue_name, MemoryQueue(queue_name))
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
        wire.check_raw(queue_name, body, attributes)
        envelope = Envelope(content=body, manifest=None, serializer_id=None)
        options = SendOptions(message_group_id=message_group_id, deduplication_id=deduplication_id)
        with self._changed:
            queue = self._queue(queue_name, "send_raw")
            return self._enqueue(queue, body, attributes, OutgoingMessage(envelope, options))

    def redrive_policy(self, queue_name: str) -> RedrivePolicy | None:
        """Return the queue's redrive policy, if it has a dead-letter queue."""
        with self._changed:
            queue = self._queue(queue_name, "redrive_policy")
            if queue.dead_letter_queue is None:
                return None
            return RedrivePolicy(queue.dead_letter_queue, queue.max_receive_count)

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
        return self._send_all(queue_name, [message])[0]

    def publish_to_topic(self, topic_name: str, message: OutgoingMessage) -> str:
        """Publish one message: each subscribed queue whose filter passes gets it once."""
        return self._publish_all(topic_name, [message])[0]

    def publish_batch_to_queue(
        self, queue_name: str, messages: Sequence[OutgoingMessage]
    ) -> BatchResult:
        """Send several messages to a queue; all are checked before any is sent."""
        self._send_all(queue_name, messages)
        return BatchResult(successful=tuple(m.envelope.message_id for m in messages))

    def publish_batch_to_topic(
        self, topic_name: str, messages: Sequence[OutgoingMessage]
    ) -> BatchResult:
        """Publish several messages to a topic; all are checked before any is sent."""
        self._publish_all(topic_name, messages)
        return BatchResult(successful=tuple(m.envelope.message_id for m in messages))

    def _send_all(self, queue_name: str, messages: Sequence[OutgoingMessage]) -> list[str]:
        payloads = []
        for message in messages:
            limits.check_queue_options(queue_name, message.options)
            payloads.append(wire.queue_payload(queue_name, message.envelope))
        with self._changed:
            queue = self._queue(queue_name, "publish")
            return [
                self._enqueue(queue, payload.body, payload.attributes, message)
                for payload, message in zip(payloads, messages, strict=True)
            ]

    def _publish_all(self, topic_name: str, messages: Sequence[OutgoingMessage]) -> list[str]:
        payloads = []
        for message in messages:
            limits.check_topic_options(topic_name, message.options)
            payloads.append(wire.topic_payload(topic_name, message.envelope))
        with self._changed:
            topic = self._topic(topic_name, "publish")
            return [
                self._fan_out(topic, payload.body, payload.attributes, message)
                for payload, message in zip(payloads, messages, strict=True)
            ]

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
        queue: MemoryQueue,
        body: str,
        attributes: Mapping[str, AttributeValue],
        message: OutgoingMessage,
    ) -> str:
        broker_id = queue.enqueue(body, attributes, message, self._clock())
        self._changed.notify_all()
        return broker_id

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
                self._changed.wait(min(remaining, queue.seconds_until_next_visible(self._clock())))
                if self._closed:  # closed while waiting: end the long poll empty-handed
                    return []
                queue = self._queue(queue_name, "receive")

    def _take_visible(
        self, queue: MemoryQueue, max_messages: int, visibility_timeout: int | None
    ) -> list[ReceivedMessage]:
        now = self._clock()
        received, exhausted = queue.take_visible(max_messages, visibility_timeout, now)
        target = self._queues.get(queue.dead_letter_queue or "")
        if target is not None:
            for message in exhausted:  # the redrive policy moves them
                target.accept_redriven(message, now)
        return received

    def acknowledge(self, queue_name: str, receipt_handles: Sequence[str]) -> list[str]:
        """Delete received messages; return the handles that matched no in-flight message."""
        with self._changed:
            return self._queue(queue_name, "acknowledge").acknowledge(receipt_handles)

    def change_visibility(
        self, queue_name: str, receipt_handles: Sequence[str], timeout_seconds: int
    ) -> list[str]:
        """Make received messages visible again after ``timeout_seconds``."""
        limits.check_visibility_timeout(queue_name, timeout_seconds)
        with self._changed:
            queue = self._queue(queue_name, "change_visibility")
            failed = queue.change_visibility(receipt_handles, self._clock() + timeout_seconds)
            self._changed.notify_all()
            return failed

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

    def _queue(self, queue_name: str, operation: str) -> MemoryQueue:
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
