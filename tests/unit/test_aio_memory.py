"""What only the asyncio in-memory backend does: long polls that await, a store shared across.

The backend contract (tests/contract/test_async_memory_backend.py) covers its semantics;
these cover waiting: a receive never blocks the event loop, and it wakes when a message
arrives from a coroutine, from another thread, or when the backend is closed.
"""

from __future__ import annotations

import asyncio
import threading
import time

from melange import QueuePublisher
from melange.aio import AsyncInMemoryBackend, AsyncQueuePublisher
from melange.backends import InMemoryBackend
from tests.support.messaging import json_registry


async def ticking_while(awaitable: asyncio.Future[object] | asyncio.Task[object]) -> int:
    """Count 10 ms ticks on the loop until ``awaitable`` is done: proof the loop ran."""
    ticks = 0
    while not awaitable.done():
        await asyncio.sleep(0.01)
        ticks += 1
    return ticks


def test_a_long_poll_awaits_and_returns_when_a_coroutine_publishes() -> None:
    """A receive waiting 10 s returns the message published 50 ms later; the loop ran on."""

    async def scenario() -> tuple[bool, list[str], float]:
        backend = AsyncInMemoryBackend()
        await backend.declare_queue("q")
        began = time.monotonic()
        receive = asyncio.ensure_future(backend.receive("q", wait_time_seconds=10))
        await asyncio.sleep(0.05)  # runs only if the waiting receive leaves the loop free
        waiting = not receive.done()
        await AsyncQueuePublisher(json_registry(), backend).publish("q", {"n": 1})
        received = await receive
        return waiting, [m.body for m in received], time.monotonic() - began

    waiting, bodies, seconds = asyncio.run(scenario())
    assert waiting
    assert len(bodies) == 1
    assert seconds < 5  # woken by the publish, not by the 10 s deadline


def test_a_publish_from_another_thread_wakes_an_awaiting_receive() -> None:
    """A sync publisher in a thread, on the shared store, wakes the asyncio receive."""
    store = InMemoryBackend()
    store.declare_queue("q")

    async def scenario() -> tuple[int, float, int]:
        backend = AsyncInMemoryBackend(store)
        began = time.monotonic()
        receive = asyncio.ensure_future(backend.receive("q", wait_time_seconds=10))
        publisher = threading.Timer(0.1, QueuePublisher(json_registry(), store).publish, ("q", 1))
        publisher.start()
        ticks = await ticking_while(receive)
        publisher.join()
        return len(receive.result()), time.monotonic() - began, ticks

    count, seconds, ticks = asyncio.run(scenario())
    assert count == 1
    assert seconds < 5
    assert ticks >= 5  # about 10 ticks of 10 ms passed while the receive waited


def test_closing_the_backend_ends_a_waiting_receive_empty_handed() -> None:
    """``close`` while a receive waits makes it return no messages, at once."""

    async def scenario() -> tuple[list[object], float]:
        backend = AsyncInMemoryBackend()
        await backend.declare_queue("q")
        began = time.monotonic()
        receive = asyncio.ensure_future(backend.receive("q", wait_time_seconds=10))
        await asyncio.sleep(0.05)
        await backend.close()
        return list(await receive), time.monotonic() - began

    received, seconds = asyncio.run(scenario())
    assert received == []
    assert seconds < 5


def test_a_message_hidden_by_its_visibility_timeout_comes_back_to_a_waiting_receive() -> None:
    """A receive waiting through a 1 s visibility timeout gets the message again after it."""

    async def scenario() -> tuple[int, int]:
        backend = AsyncInMemoryBackend()
        await backend.declare_queue("q")
        await AsyncQueuePublisher(json_registry(), backend).publish("q", {"n": 1})
        first = await backend.receive("q", visibility_timeout=1)
        again = await backend.receive("q", wait_time_seconds=5)
        return first[0].receive_count, again[0].receive_count

    assert asyncio.run(scenario()) == (1, 2)
