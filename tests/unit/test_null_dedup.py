"""The null deduplication cache: "no deduplication" as an object, not ``None``.

It does not run the deduplication contract (tests/contract/dedup_contract.py): where that
contract says BUSY or DONE, the null cache grants the claim, and it remembers nothing.
"""

from __future__ import annotations

import asyncio
import threading

from melange import Consumer, NullDeduplicationCache, QueuePublisher
from melange.aio import AsyncInMemoryBackend, AsyncMessageDispatcher
from melange.backends import InMemoryBackend
from melange.consuming.dedup import ClaimStatus, DeduplicationCache
from melange.consuming.dispatcher import MessageDispatcher
from melange.serializers import JsonSerializer, SerializerRegistry


def test_the_null_cache_is_a_deduplication_cache() -> None:
    """NullDeduplicationCache implements the DeduplicationCache protocol."""
    assert isinstance(NullDeduplicationCache(), DeduplicationCache)


def test_every_claim_is_granted_even_for_a_key_done_or_held() -> None:
    """Claims succeed while another lease holds the key and after it was marked done."""
    cache = NullDeduplicationCache()
    first = cache.claim("consumer:1", lease_seconds=30)

    held = cache.claim("consumer:1", lease_seconds=30)
    cache.extend("consumer:1", first.token, lease_seconds=30)
    cache.mark_done("consumer:1", first.token)
    after_done = cache.claim("consumer:1", lease_seconds=30)
    cache.release("consumer:1", after_done.token)
    cache.ping()

    assert [first.status, held.status, after_done.status] == [ClaimStatus.CLAIMED] * 3


def test_a_dispatcher_with_the_null_cache_handles_a_redelivered_message_again() -> None:
    """With the null cache a copy of a handled message (same melange id) runs the handler again."""
    backend = InMemoryBackend()
    backend.declare_queue("orders")
    registry = SerializerRegistry({"serializers": {"json": JsonSerializer}})
    QueuePublisher(registry, backend).publish("orders", {"order": 1})
    [original] = backend.receive("orders", max_messages=1)
    backend.acknowledge("orders", [original.receipt_handle])
    backend.send_raw("orders", original.body, original.attributes)
    backend.send_raw("orders", original.body, original.attributes)
    handled: list[object] = []
    dispatcher = MessageDispatcher(
        registry,
        backend,
        consumers=[Consumer(handled.append, name="recorder")],
        cache=NullDeduplicationCache(),
    )

    assert dispatcher.process_available("orders") == 2
    assert handled == [{"order": 1}, {"order": 1}]


def test_an_asyncio_dispatcher_with_the_null_cache_starts_no_thread_for_claims() -> None:
    """Async handlers with the null cache run on the loop alone: no claim goes to a thread."""
    backend = InMemoryBackend()
    backend.declare_queue("orders")
    registry = SerializerRegistry({"serializers": {"json": JsonSerializer}})
    for order in range(3):
        QueuePublisher(registry, backend).publish("orders", {"order": order})
    handled: list[object] = []

    async def handle(message: object) -> None:
        handled.append(message)

    dispatcher = AsyncMessageDispatcher(
        registry,
        AsyncInMemoryBackend(backend),
        consumers=[Consumer(handle, name="recorder")],
        cache=NullDeduplicationCache(),
    )
    before = {thread.ident for thread in threading.enumerate()}

    assert asyncio.run(dispatcher.process_available("orders")) == 3
    started = [t.name for t in threading.enumerate() if t.ident not in before]
    assert handled == [{"order": 0}, {"order": 1}, {"order": 2}]
    assert started == []
