"""Test support without patching: a recording in-memory backend and a small test kit.

An application's test builds its services on ``RecordingBackend`` (the pinject testing
spec in ``bindings`` does it for you), calls them, then asserts on what was published::

    kit = MessagingTestKit(registry)
    service = OrderService(QueuePublisher(registry, kit.backend), ...)
    service.place(order)
    assert kit.published("order-events") == [OrderPlaced(...)]
    kit.drain("payments", PaymentConsumer(...))   # through the real consumers
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from melange.backends.memory.backend import InMemoryBackend
from melange.consuming.consumers import Consumer
from melange.consuming.dispatcher import MessageDispatcher
from melange.messages import BatchResult, Destination, OutgoingMessage
from melange.serializers.registry import SerializerRegistry

__all__ = ["MessagingTestKit", "RecordingBackend"]


class RecordingBackend(InMemoryBackend):
    """An ``InMemoryBackend`` that also remembers every message published, per destination.

    Queues and topics behave exactly as in ``InMemoryBackend`` (declare them as usual);
    ``published`` returns what was sent to a queue or topic name, in order, whether or
    not anything consumed it.
    """

    def __init__(self) -> None:
        super().__init__()
        self._record_lock = threading.Lock()
        self._published: dict[str, list[OutgoingMessage]] = {}

    def published(self, name: str) -> list[OutgoingMessage]:
        """Return the messages published to queue or topic ``name``, in order."""
        with self._record_lock:
            return list(self._published.get(name, []))

    def _record(self, name: str, messages: Sequence[OutgoingMessage]) -> None:
        with self._record_lock:
            self._published.setdefault(name, []).extend(messages)

    def publish(self, destination: Destination, messages: Sequence[OutgoingMessage]) -> BatchResult:
        """Send or publish as ``InMemoryBackend`` does, and record the messages."""
        result = super().publish(destination, messages)
        self._record(destination.name, messages)
        return result


#: Builds a dispatcher with consumers attached, e.g. ``bindings.DispatcherFactory``.
DispatcherMaker = Callable[..., MessageDispatcher]


class MessagingTestKit:
    """What a test asserts with: published objects, and draining queues through consumers.

    Args:
        registry: the application's serializer registry.
        backend: the recording backend the application's publishers send to.
        dispatcher_factory: builds the dispatcher ``drain`` uses, given the consumers, so
            it has the deduplication cache, backoff and visibility timeout the
            application's worker has; by default a plain ``MessageDispatcher`` on
            ``backend``.
    """

    def __init__(
        self,
        registry: SerializerRegistry,
        backend: RecordingBackend | None = None,
        *,
        dispatcher_factory: DispatcherMaker | None = None,
    ) -> None:
        self.registry = registry
        self.backend = backend or RecordingBackend()
        self.dispatcher_factory = dispatcher_factory

    def published(self, name: str) -> list[Any]:
        """Return the objects published to queue or topic ``name``, deserialized, in order.

        They were serialized by the real serializers and are deserialized here, so a type
        that does not survive the round trip fails in the test as it would in production.
        """
        return [
            self.registry.deserialize_envelope(message.envelope)
            for message in self.backend.published(name)
        ]

    def drain(self, queue_name: str, *consumers: Consumer) -> int:
        """Handle every message on ``queue_name`` with ``consumers``, synchronously.

        Returns:
            How many messages were received (each is acknowledged, retried or
            dead-lettered exactly as by a running dispatcher).
        """
        if self.dispatcher_factory is None:
            dispatcher = MessageDispatcher(self.registry, self.backend, consumers=consumers)
        else:
            dispatcher = self.dispatcher_factory(*consumers)
        return dispatcher.process_available(queue_name)
