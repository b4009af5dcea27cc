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
from melange.backends.inspection import MoveTask, QueueStats, TopicSubscription
from melange.backends.memory.queue import MemoryQueue
from melange.backends.protocol import FilterPolicy
from melange.backends.shortcuts import BackendShortcuts
from melange.exceptions import (
    BackendError,
    BackendRefusedError,
    QueueNotFoundError,
    TopicNotFoundError,
)
from melange.messages import (
    AttributeValue,
    BatchResult,
    Destination,
    Envelope,
    OutgoingMessage,
    ReceivedMessage,
    RedrivePolicy,
    SendOptions,
)
from melange.topology import filter_policy as filters
from melange.topology.declared import (
    Declared,
    Effect,
    combined,
    declared,
    stated_queue_settings,
    stated_subscription_settings,
)
from melange.topology.specs import Declaration, QueueSpec, SubscriptionSpec, TopicSpec

__all__ = ["InMemoryBackend"]

#: Where the ARNs of this backend's topics and queues say they are.
_ARN_PLACE = "memory:000000000000"


@attrs.define
class _Subscription:
    # Named as SubscriptionSpec names them, so declarations compare field by field.
    queue_name: str
    filter_policy: FilterPolicy | None
    raw_message_delivery: bool


@attrs.define
class _Topic:
    name: str
    arn: str
    subscriptions: dict[str, _Subscription] = attrs.Factory(dict)


def _settings(queue: MemoryQueue) -> dict[str, object]:
    """Return a queue's settings as ``QueueSpec`` names them; a receive limit needs a DLQ."""
    settings: dict[str, object] = {
        "visibility_timeout": queue.visibility_timeout,
        "retention_seconds": queue.retention_seconds,
        "content_based_deduplication": queue.content_based_deduplication,
    }
    if queue.dead_letter_queue is not None:
        settings["dead_letter_queue"] = queue.dead_letter_queue
        settings["max_receive_count"] = queue.max_receive_count
    return settings


def _queue_arn(queue_name: str) -> str:
    return f"arn:aws:sqs:{_ARN_PLACE}:{queue_name}"


class InMemoryBackend(BackendShortcuts):
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
        self._listeners: list[Callable[[], object]] = []

    # -- administration ------------------------------------------------------------------

    def declare(self, spec: Declaration) -> Declared:
        """Make a queue, topic or subscription exist as declared (see ``MessagingAdmin``)."""
        with self._changed:
            self._check_open()
            if isinstance(spec, QueueSpec):
                return self._declare_queue(spec)
            if isinstance(spec, TopicSpec):
                found = spec.name in self._topics
                arn = f"arn:aws:sns:{_ARN_PLACE}:{spec.name}"
                self._topics.setdefault(spec.name, _Topic(spec.name, arn))
                return Declared(spec, Effect.AS_IS if found else Effect.CREATED)
            return self._subscribe(spec)

    def _declare_queue(self, spec: QueueSpec) -> Declared:
        if spec.dead_letter_queue is not None:
            self._queues.setdefault(spec.dead_letter_queue, MemoryQueue(spec.dead_letter_queue))
        existing = self._queues.get(spec.name)
        current = None if existing is None else _settings(existing)
        stated = stated_queue_settings(spec)
        queue = self._queues.setdefault(spec.name, MemoryQueue(spec.name))
        for name, value in stated.items():  # the same fields, by the same names
            setattr(queue, name, value)
        return declared(spec, current, stated)

    def _subscribe(self, spec: SubscriptionSpec) -> Declared:
        """Subscribe a queue to topics, replacing an earlier subscription's settings."""
        self._queue(spec.queue, "subscribe")
        topics = [self._topic(name, "subscribe") for name in spec.topics]
        stated = stated_subscription_settings(spec)
        parts = []
        for topic in topics:
            existing = topic.subscriptions.get(spec.queue)
            current = None if existing is None else attrs.asdict(existing, recurse=False)
            parts.append(declared(attrs.evolve(spec, topics=(topic.name,)), current, stated))
            topic.subscriptions[spec.queue] = _Subscription(
                spec.queue, spec.filter_policy, spec.raw_message_delivery
            )
        return combined(spec, parts)

    def delete(self, destination: Destination) -> None:
        """Delete a queue and its messages, or a topic and its subscriptions."""
        with self._changed:
            if destination.is_topic:
                self._topics.pop(destination.name, None)
                return
            self._queues.pop(destination.name, None)
            for topic in self._topics.values():
                topic.subscriptions.pop(destination.name, None)

    def redrive_policy(self, queue_name: str) -> RedrivePolicy | None:
        """Return the queue's redrive policy, if it has a dead-letter queue."""
        with self._changed:
            queue = self._queue(queue_name, "redrive_policy")
            if queue.dead_letter_queue is None:
                return None
            return RedrivePolicy(queue.dead_letter_queue, queue.max_receive_count)

    def close(self) -> None:
        """Refuse further use and wake any waiting receive."""
        with self._changed:
            self._closed = True
            self._notify()

    # -- publishing ----------------------------------------------------------------------

    def publish(self, destination: Destination, messages: Sequence[OutgoingMessage]) -> BatchResult:
        """Send messages to a queue, or fan them out from a topic; all are checked first.

        Each queue subscribed to a topic whose filter passes gets each message once.
        """
        payloads = [wire.outgoing_payload(destination, message) for message in messages]
        with self._changed:
            if destination.is_topic:
                topic = self._topic(destination.name, "publish")
                for payload, message in zip(payloads, messages, strict=True):
                    self._fan_out(topic, payload.body, payload.attributes, message)
            else:
                queue = self._queue(destination.name, "publish")
                for payload, message in zip(payloads, messages, strict=True):
                    self._enqueue(queue, payload.body, payload.attributes, message)
        return BatchResult(successful=tuple(m.envelope.message_id for m in messages))

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
            if subscription.raw_message_delivery:
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
        self._notify()
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
            self._notify()
            return failed

    # -- inspection ----------------------------------------------------------------------

    def message_count(self, queue_name: str) -> int:
        """Return how many messages the queue holds, visible or in flight."""
        with self._changed:
            return len(self._queue(queue_name, "message_count").messages)

    def peek(self, queue_name: str) -> list[ReceivedMessage]:
        """Return the queue's messages, visible or in flight, without receiving them.

        Nothing changes: no receive is counted and no visibility moves (SQS has no such
        call; tests and ``melange.testing`` read dead letters with it).
        """
        with self._changed:
            return self._queue(queue_name, "peek").peek()

    def queue_names(self) -> list[str]:
        """Return the names of the declared queues, sorted."""
        with self._changed:
            return sorted(self._queues)

    def queue_stats(self, queue_name: str) -> QueueStats:
        """Return the queue's counts and, unlike SQS, its oldest message's age."""
        with self._changed:
            return self._queue(queue_name, "queue_stats").stats(self._clock())

    def list_queues(self, prefix: str = "") -> list[str]:
        """Return the names of the queues starting with ``prefix``, sorted."""
        return [name for name in self.queue_names() if name.startswith(prefix)]

    def purge(self, queue_name: str) -> None:
        """Delete every message of the queue."""
        with self._changed:
            self._queue(queue_name, "purge").purge()

    def start_message_move(
        self, dead_letter_queue: str, destination: str, *, max_per_second: int | None = None
    ) -> MoveTask:
        """Refuse: like the emulators, this backend has no broker-side message move."""
        raise BackendRefusedError(
            f"the in-memory backend cannot move {dead_letter_queue!r}'s messages itself; "
            "receive, send and delete them instead",
            operation="StartMessageMoveTask",
            code="UnsupportedOperation",
        )

    def message_move(self, dead_letter_queue: str) -> MoveTask | None:
        """Return ``None``: this backend never runs move tasks."""
        return None

    def cancel_message_move(self, handle: str) -> None:
        """Do nothing: this backend never runs move tasks."""

    def list_subscriptions(self) -> list[TopicSubscription]:
        """Return every subscription, each named by ARNs as SNS lists them."""
        with self._changed:
            return [
                TopicSubscription(
                    topic_arn=topic.arn,
                    protocol="sqs",
                    endpoint=_queue_arn(queue_name),
                    handle=f"{topic.arn}:{queue_name}",
                )
                for topic in self._topics.values()
                for queue_name in topic.subscriptions
            ]

    def queue_arn(self, queue_name: str) -> str:
        """Return the queue's ARN, as this backend's subscriptions name their endpoints."""
        with self._changed:
            self._queue(queue_name, "queue_arn")
        return _queue_arn(queue_name)

    def unsubscribe(self, subscription: TopicSubscription) -> None:
        """Delete the subscription; one already gone is not an error."""
        with self._changed:
            for topic in self._topics.values():
                if topic.arn == subscription.topic_arn and subscription.queue is not None:
                    topic.subscriptions.pop(subscription.queue, None)

    @property
    def closed(self) -> bool:
        """Whether ``close`` was called."""
        return self._closed

    def seconds_until_visible(self, queue_name: str) -> float:
        """Return how long a waiting receive on the queue should sleep before looking again."""
        with self._changed:
            return self._queue(queue_name, "receive").seconds_until_next_visible(self._clock())

    def add_listener(self, listener: Callable[[], object]) -> None:
        """Call ``listener`` (from any thread, holding the lock) whenever messages change.

        How a backend sharing these queues wakes its waiting receives: the asyncio one
        (``melange.aio.AsyncInMemoryBackend``) schedules its waiters on their event loop.
        """
        with self._changed:
            self._listeners.append(listener)

    # -- helpers -------------------------------------------------------------------------

    def _notify(self) -> None:
        self._changed.notify_all()
        for listener in self._listeners:
            listener()

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
            raise QueueNotFoundError(queue_name, operation=operation, in_memory=True)
        return queue

    def _topic(self, topic_name: str, operation: str) -> _Topic:
        self._check_open()
        topic = self._topics.get(topic_name)
        if topic is None and topic_name.startswith("arn:"):  # by ARN, as SNS takes it
            topic = next((t for t in self._topics.values() if t.arn == topic_name), None)
        if topic is None:
            raise TopicNotFoundError(topic_name, operation=operation, in_memory=True)
        return topic
