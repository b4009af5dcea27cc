"""Test support without patching: a recording in-memory backend and a small test kit.

An application's test builds its services on ``RecordingBackend`` (the pinject testing
spec in ``bindings`` does it for you), calls them, then asserts on what was published::

    kit = MessagingTestKit(registry)
    service = OrderService(QueuePublisher(registry, kit.backend), ...)
    service.place(order)
    assert kit.published("order-events") == [OrderPlaced(...)]
    kit.drain("payments", PaymentConsumer(...))   # through the real consumers
    assert [d.reason for d in kit.dead_letters("payments")] == [...]

``drain`` runs async consumers too (on an asyncio dispatcher, in an event loop of its
own); inside an async test, ``await kit.adrain(...)`` does the same on the running loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from melange import wire
from melange.backends.memory.backend import InMemoryBackend
from melange.backends.prefixed import PrefixedBackend
from melange.consuming.consumers import Consumer
from melange.consuming.dead_letters import dead_letter_reason, original_attributes
from melange.consuming.dispatcher import MessageDispatcher
from melange.exceptions import ConfigurationError, Problem
from melange.messages import AttributeValue, BatchResult, Destination, OutgoingMessage
from melange.serializers.registry import SerializerRegistry

if TYPE_CHECKING:  # imported when used: a sync test never imports the asyncio half
    from melange.consuming.aio_dispatcher import AsyncMessageDispatcher

__all__ = ["DeadLetter", "MessagingTestKit", "RecordingBackend"]


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
#: Builds an asyncio dispatcher with consumers attached (``AsyncDispatcherFactory``).
AsyncDispatcherMaker = Callable[..., "AsyncMessageDispatcher"]


@attrs.frozen
class DeadLetter:
    """A message on a dead-letter queue, as a test reads it.

    Attributes:
        message: the message, deserialized; ``None`` when it cannot be read (the reason
            then says why, e.g. an unknown manifest).
        reason: why it was moved (its ``melange_error``); ``None`` for a message the
            broker's redrive policy moved without melange.
        message_id: melange's id of the message (what the worker logged), if readable.
        body: the body as it was received.
        attributes: its attributes as published, without ``melange_error``.
    """

    message: Any
    reason: str | None
    message_id: str | None
    body: str
    attributes: Mapping[str, AttributeValue]


class MessagingTestKit:
    """What a test asserts with: published objects, draining queues, and dead letters.

    Args:
        registry: the application's serializer registry.
        backend: the recording backend the application's publishers send to.
        dispatcher_factory: builds the dispatcher ``drain`` uses, given the consumers, so
            it has the deduplication cache, backoff and visibility timeout the
            application's worker has; by default a plain ``MessageDispatcher`` on
            ``backend``.
        async_dispatcher_factory: the same for async consumers; by default a plain
            ``AsyncMessageDispatcher`` on ``backend``'s queues.
        prefix: the application's ``MELANGE_PREFIX``: ``published``, ``drain`` and
            ``dead_letters`` take the names the application uses and add it.
    """

    def __init__(
        self,
        registry: SerializerRegistry,
        backend: RecordingBackend | None = None,
        *,
        dispatcher_factory: DispatcherMaker | None = None,
        async_dispatcher_factory: AsyncDispatcherMaker | None = None,
        prefix: str = "",
    ) -> None:
        self.registry = registry
        self.backend = backend or RecordingBackend()
        self.dispatcher_factory = dispatcher_factory
        self.async_dispatcher_factory = async_dispatcher_factory
        self.prefix = prefix

    def published(self, name: str) -> list[Any]:
        """Return the objects published to queue or topic ``name``, deserialized, in order.

        They were serialized by the real serializers and are deserialized here, so a type
        that does not survive the round trip fails in the test as it would in production.
        """
        return [
            self.registry.deserialize_envelope(message.envelope)
            for message in self.backend.published(self.prefix + name)
        ]

    def drain(self, queue_name: str, *consumers: Consumer) -> int:
        """Handle every message on ``queue_name`` with ``consumers``, synchronously.

        Async consumers run on an asyncio dispatcher, in an event loop of this call's
        own; inside a running event loop (an async test), ``await adrain(...)`` instead.

        Returns:
            How many messages were received (each is acknowledged, retried or
            dead-lettered exactly as by a running dispatcher).

        Raises:
            ConfigurationError: async consumers, called inside a running event loop.
        """
        if any(c.is_async for c in consumers):
            if _loop_running():
                raise ConfigurationError(
                    f"drain({queue_name!r}, ...) was called inside a running event loop with "
                    "async consumers, which it cannot wait for there; in an async test, "
                    f"use: await graph.adrain({queue_name!r}, ...)",
                    problems=[Problem("drain", queue_name, "await adrain(...) in async tests")],
                )
            return asyncio.run(self.adrain(queue_name, *consumers))
        if self.dispatcher_factory is not None:
            dispatcher = self.dispatcher_factory(*consumers)
        else:
            dispatcher = MessageDispatcher(self.registry, self._backend(), consumers=consumers)
        return dispatcher.process_available(queue_name)

    async def adrain(self, queue_name: str, *consumers: Consumer) -> int:
        """Handle every message on ``queue_name`` with ``consumers`` on the running loop.

        Consumers may be async or not (a sync handler runs in the dispatcher's threads),
        on the asyncio dispatcher the application's worker would use.

        Returns:
            How many messages were received.
        """
        if self.async_dispatcher_factory is not None:
            dispatcher = self.async_dispatcher_factory(*consumers)
        else:
            from melange.backends.aio_prefixed import AsyncPrefixedBackend
            from melange.backends.memory.aio import AsyncInMemoryBackend
            from melange.consuming.aio_dispatcher import AsyncMessageDispatcher

            store = AsyncInMemoryBackend(self.backend)
            backend = AsyncPrefixedBackend(store, self.prefix) if self.prefix else store
            dispatcher = AsyncMessageDispatcher(self.registry, backend, consumers=consumers)
        return await dispatcher.process_available(queue_name)

    def dead_letters(self, queue_name: str) -> list[DeadLetter]:
        """Return what is on ``queue_name``'s dead-letter queue, oldest first, with reasons.

        Reading changes nothing: the messages stay there, not received.

        Raises:
            ConfigurationError: ``queue_name`` has no dead-letter queue.
        """
        policy = self.backend.redrive_policy(self.prefix + queue_name)
        if policy is None:
            raise ConfigurationError(
                f"queue {queue_name!r} has no dead-letter queue, so nothing is dead-lettered "
                "from it; give its Subscription dead_letter_queue=... (a message that should "
                "go there is kept on the queue and logged at ERROR)",
                problems=[
                    Problem("dead_letter_queue", None, f"a dead-letter queue for {queue_name!r}")
                ],
            )
        return [self._dead_letter(m) for m in self.backend.peek(policy.dead_letter_queue)]

    def _dead_letter(self, stored: Any) -> DeadLetter:
        attributes = original_attributes(stored.attributes)
        received = attrs.evolve(stored, attributes=attributes)
        message: Any = None
        message_id: str | None = None
        with contextlib.suppress(Exception):  # unreadable: the reason says why
            envelope = wire.unwrap(received)
            message_id = envelope.message_id
            message = self.registry.deserialize_envelope(envelope)
        return DeadLetter(
            message=message,
            reason=dead_letter_reason(stored.attributes),
            message_id=message_id,
            body=stored.body,
            attributes=attributes,
        )

    def _backend(self) -> InMemoryBackend | PrefixedBackend:
        return PrefixedBackend(self.backend, self.prefix) if self.prefix else self.backend


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
