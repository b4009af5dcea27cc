"""``process_batch`` (AWS Lambda's path) on both halves: what a queue's batches share."""

from __future__ import annotations

from typing import Any

import pytest

from melange import Consumer, QueuePublisher
from melange.aio import AsyncInMemoryBackend, AsyncMessageDispatcher
from melange.consuming.dispatcher import MessageDispatcher
from melange.serializers import JsonSerializer, SerializerRegistry
from tests.support.faults import CountingBackend
from tests.support.halves import HALVES, Awaited, Half


def fail(message: Any) -> None:
    """Fail every message."""
    raise TimeoutError("the warehouse did not answer")


def dispatcher_of(half: Half, backend: CountingBackend, consumer: Consumer) -> Any:
    """Return the half's dispatcher of ``consumer`` on ``backend``, blocking either way."""
    registry = SerializerRegistry({"serializers": {"json": JsonSerializer}})
    if half == "threads":
        return MessageDispatcher(registry, backend, consumers=[consumer])
    return Awaited(
        AsyncMessageDispatcher(registry, AsyncInMemoryBackend(backend), consumers=[consumer])
    )


@pytest.mark.parametrize("half", HALVES)
def test_a_queues_failing_batches_read_its_redrive_policy_once(half: Half) -> None:
    """Two invocations each failing a record read the queue's redrive policy once, not twice."""
    backend = CountingBackend()
    backend.declare_queue("q", dead_letter_queue="q-dlq")
    publisher = QueuePublisher(
        SerializerRegistry({"serializers": {"json": JsonSerializer}}), backend
    )
    dispatcher = dispatcher_of(half, backend, Consumer(fail, name="failing"))
    for n in range(2):
        publisher.publish("q", {"n": n})
        batch = backend.receive("q")  # the first message waits out its backoff
        settled = dispatcher.process_batch("q", batch)
        assert [(s.received.body, s.delivered_again) for s in settled] == [(batch[0].body, True)]
    assert backend.redrive_policy_reads == 1
    assert dispatcher.stats.retried == 2
