"""Publishing and receiving in tests: a JSON registry, receiving with a deadline, contents."""

from __future__ import annotations

from typing import Any

from melange import wire
from melange.backends import MessagingBackend
from melange.messages import ReceivedMessage
from melange.serializers import JsonSerializer, SerializerRegistry
from tests.support.polling import poll_until


def json_registry() -> SerializerRegistry:
    """Return a registry whose only (so default) serializer is JSON."""
    return SerializerRegistry({"serializers": {"json": JsonSerializer}})


def receive_all(
    backend: MessagingBackend, queue: str, count: int, *, timeout: float = 10.0
) -> list[ReceivedMessage]:
    """Receive until ``count`` messages arrived (acknowledging them), or fail at the deadline."""
    received: list[ReceivedMessage] = []

    def step() -> int:
        batch = backend.receive(queue, max_messages=10, wait_time_seconds=0)
        if batch:
            backend.acknowledge(queue, [m.receipt_handle for m in batch])
        received.extend(batch)
        return len(received)

    poll_until(step, lambda n: n >= count, timeout=timeout, message=f"{count} messages on {queue}")
    return received


def contents(messages: list[ReceivedMessage]) -> list[Any]:
    """Return the deserialized JSON content of received messages, in order."""
    registry = json_registry()
    result = []
    for message in messages:
        envelope = wire.unwrap(message)
        result.append(
            registry.deserialize(
                envelope.content, serializer_id=envelope.serializer_id, manifest=envelope.manifest
            )
        )
    return result


def assert_empty(backend: MessagingBackend, queue: str) -> None:
    """Assert that a receive finds nothing visible on ``queue``."""
    assert backend.receive(queue, max_messages=10, wait_time_seconds=0) == []
