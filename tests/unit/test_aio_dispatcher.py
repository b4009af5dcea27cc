"""What only the asyncio dispatcher does: await async handlers, keep blocking ones off the loop.

Its delivery guarantees are the sync dispatcher's, proved by the dispatcher contract run on
it (tests/contract/test_async_memory_backend.py). These cover concurrency as tasks, plain
handlers in threads, graceful cancellation, and the refusal of async consumers by the
threaded dispatcher.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from melange import Consumer, MessageContext, MessageDispatcher, consumer
from melange.aio import AsyncInMemoryBackend, AsyncQueuePublisher
from melange.backends import InMemoryBackend
from melange.consuming.aio_dispatcher import AsyncMessageDispatcher
from melange.exceptions import ConfigurationError
from tests.support.messaging import json_registry


class Gauge:
    """Counts handlers running at once and the most seen; ``done`` when ``expected`` finished."""

    def __init__(self, expected: int) -> None:
        self.running = self.most = self.finished = 0
        self.expected = expected
        self.done = asyncio.Event()

    def enter(self) -> None:
        """A handler starts."""
        self.running += 1
        self.most = max(self.most, self.running)

    def leave(self) -> None:
        """A handler ends."""
        self.running -= 1
        self.finished += 1
        if self.finished == self.expected:
            self.done.set()


class Sleepy(Consumer):
    """An async handler that awaits ``seconds`` for each message."""

    def __init__(self, gauge: Gauge, seconds: float) -> None:
        super().__init__(name="sleepy")
        self.gauge, self.seconds = gauge, seconds
        self.contexts: list[MessageContext] = []

    @consumer
    async def on_message(self, message: dict[str, int], context: MessageContext) -> None:
        self.gauge.enter()
        self.contexts.append(context)
        await asyncio.sleep(self.seconds)
        self.gauge.leave()


async def filled(count: int) -> AsyncInMemoryBackend:
    """Return a backend whose queue 'q' holds ``count`` messages."""
    backend = AsyncInMemoryBackend()
    await backend.declare_queue("q")
    await AsyncQueuePublisher(json_registry(), backend).publish_many(
        "q", [{"n": n} for n in range(count)]
    )
    return backend


async def run_until(dispatcher: AsyncMessageDispatcher, done: asyncio.Event) -> None:
    """Run the dispatcher on 'q' until ``done``, then stop it and wait for it to return."""
    task = asyncio.create_task(dispatcher.run("q"))
    await asyncio.wait_for(done.wait(), timeout=30)
    dispatcher.stop()
    await asyncio.wait_for(task, timeout=30)


def test_async_handlers_run_concurrently_up_to_the_workers() -> None:
    """With workers=50, 50 awaiting handlers run at once, never more; all acknowledged."""

    async def scenario() -> tuple[Gauge, Sleepy, AsyncInMemoryBackend, AsyncMessageDispatcher]:
        backend = await filled(200)
        gauge = Gauge(200)
        sleepy = Sleepy(gauge, 0.05)
        dispatcher = AsyncMessageDispatcher(
            json_registry(), backend, consumers=[sleepy], workers=50, wait_time_seconds=1
        )
        await run_until(dispatcher, gauge.done)
        return gauge, sleepy, backend, dispatcher

    gauge, sleepy, backend, dispatcher = asyncio.run(scenario())
    assert gauge.most == 50
    assert dispatcher.stats.acknowledged == 200
    assert backend.message_count("q") == 0
    assert {c.queue_name for c in sleepy.contexts} == {"q"}
    assert all(c.receive_count == 1 for c in sleepy.contexts)


def test_plain_handlers_run_in_threads_and_leave_the_loop_free() -> None:
    """A blocking handler runs off the loop's thread; the loop ticks while it sleeps."""
    threads: list[threading.Thread] = []

    def blocking(message: Any) -> None:
        threads.append(threading.current_thread())
        time.sleep(0.3)

    async def scenario() -> tuple[int, threading.Thread]:
        backend = await filled(1)
        dispatcher = AsyncMessageDispatcher(
            json_registry(), backend, consumers=[Consumer(blocking)], wait_time_seconds=1
        )
        task = asyncio.create_task(dispatcher.run("q"))
        ticks = 0
        while dispatcher.stats.acknowledged < 1:
            await asyncio.sleep(0.01)
            ticks += 1
            assert ticks < 3000, "the message was never acknowledged"
        dispatcher.stop()
        await task
        return ticks, threading.current_thread()

    ticks, loop_thread = asyncio.run(scenario())
    assert len(threads) == 1
    assert threads[0] is not loop_thread
    assert ticks >= 10  # 0.3 s of sleeping handler, ticking every 10 ms


def test_cancelling_run_lets_running_handlers_finish_and_acknowledges_them() -> None:
    """Cancelled mid-handler, run waits for the handler, acknowledges it, then re-raises."""

    async def scenario() -> tuple[Gauge, AsyncInMemoryBackend, AsyncMessageDispatcher]:
        backend = await filled(1)
        gauge = Gauge(1)
        dispatcher = AsyncMessageDispatcher(
            json_registry(), backend, consumers=[Sleepy(gauge, 0.3)], wait_time_seconds=1
        )
        task = asyncio.create_task(dispatcher.run("q"))
        while gauge.running == 0:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return gauge, backend, dispatcher

    gauge, backend, dispatcher = asyncio.run(scenario())
    assert gauge.finished == 1
    assert dispatcher.stats.acknowledged == 1
    assert backend.message_count("q") == 0


def test_the_threaded_dispatcher_refuses_async_consumers_at_once() -> None:
    """Attaching a consumer with an async def handler to MessageDispatcher names the way out."""
    gauge = Gauge(1)
    with pytest.raises(ConfigurationError, match="AsyncMessageDispatcher"):
        MessageDispatcher(json_registry(), InMemoryBackend(), consumers=[Sleepy(gauge, 0)])


def test_short_polls_that_find_nothing_leave_the_loop_to_the_handlers() -> None:
    """With wait_time_seconds=0 in memory, every message is handled once, well within its lease.

    The in-memory backend answers an empty short poll without suspending; a poller that
    looped on them starved the handler tasks until the visibility timeout brought the
    messages back (each one handled twice, after 30 s).
    """
    seen: list[int] = []

    async def handle(message: dict[str, int]) -> None:
        seen.append(message["n"])

    async def scenario() -> AsyncMessageDispatcher:
        backend = await filled(25)
        dispatcher = AsyncMessageDispatcher(
            json_registry(),
            backend,
            consumers=[Consumer(handle, name="short-polls")],
            workers=4,
            wait_time_seconds=0,
            visibility_timeout=30,
        )
        done = asyncio.Event()

        async def watch() -> None:
            while len(seen) < 25:
                await asyncio.sleep(0.01)
            done.set()

        watcher = asyncio.create_task(watch())
        task = asyncio.create_task(dispatcher.run("q"))
        await asyncio.wait_for(done.wait(), timeout=10)  # the lease is 30 s
        dispatcher.stop()
        await asyncio.wait_for(task, timeout=10)
        await watcher
        return dispatcher

    dispatcher = asyncio.run(scenario())
    assert sorted(seen) == list(range(25))
    assert (dispatcher.stats.received, dispatcher.stats.acknowledged) == (25, 25)
