"""The asyncio message dispatcher: ``await dispatcher.run("queue")`` with the sync guarantees.

The same consumers, options and guarantees as ``melange.MessageDispatcher`` (acknowledge
after success, batched deletes, backoff via visibility, dead letters with reasons,
deduplication, heartbeat, graceful stop), on an event loop: ``workers`` handlers run at
once as tasks. ``async def`` handlers are awaited; plain ones run in a thread pool of
``workers`` threads, so they cannot block the loop. Each queue consumed gets an
``AsyncQueueRunner`` (``melange.consuming._async.runner``), of which the threaded
dispatcher's runner is the generated twin.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from melange.backends.aio_protocol import AsyncMessagingTransport
from melange.consuming._async.runner import AsyncQueueRunner
from melange.consuming.aio_concurrency import AsyncHandlers
from melange.consuming.aio_dedup import AsyncDeduplicationCache, awaitable_cache
from melange.consuming.consumers import Consumer, check_consumer
from melange.consuming.dedup import CacheProbe, DeduplicationCache
from melange.consuming.dispatcher import build_options
from melange.consuming.outcomes import (
    ConsumeHook,
    DispatcherStats,
    ExceptionHook,
    HandlingSetup,
    Settled,
)
from melange.consuming.reading import register_handled_types
from melange.messages import ReceivedMessage
from melange.options import DispatcherOptions
from melange.payloads.memory import AsyncInMemoryPayloadStore, InMemoryPayloadStore
from melange.payloads.store import AsyncPayloadStore
from melange.serializers.foreign import foreign_reader
from melange.serializers.registry import SerializerRegistry

__all__ = ["AsyncMessageDispatcher"]


class AsyncMessageDispatcher:
    """Consumes queues on an event loop with the guarantees of ``MessageDispatcher``.

    Args:
        serializer_registry: reads messages back into objects.
        backend: the asyncio messaging backend (``melange.aio``).
        cache: a deduplication cache: an asyncio one (``AsyncRedisDeduplicationCache``),
            awaited, or a sync one, whose calls run in the thread pool.
        consumers: consumers to attach now; their handlers may be ``async def``.
        options: every option at once; keywords given as well override it.
        on_exception: called with (exception, message, received) when a consumer raises.
        after_consume: called with (message, received) after every consumer succeeded.
        payloads: where large messages' payloads are stored (``melange.payloads``; an
            ``InMemoryPayloadStore`` is shared with the sync half): a message carrying a
            pointer is read from there; without one it is dead-lettered with a reason.
        **option_values: ``DispatcherOptions`` fields (``workers=50``: handlers running at
            once per queue, as tasks; ``visibility_timeout=60``, ...).

    Raises:
        ConfigurationError: as ``MessageDispatcher`` raises it.
    """

    def __init__(
        self,
        serializer_registry: SerializerRegistry,
        backend: AsyncMessagingTransport,
        *,
        cache: DeduplicationCache | AsyncDeduplicationCache | None = None,
        consumers: Iterable[Consumer] = (),
        options: DispatcherOptions | None = None,
        on_exception: ExceptionHook | None = None,
        after_consume: ConsumeHook | None = None,
        payloads: AsyncPayloadStore | InMemoryPayloadStore | None = None,
        **option_values: Any,
    ) -> None:
        self.options = build_options(options, option_values)
        self.backend = backend
        self.cache = cache
        self.payloads = payloads
        self._registry = serializer_registry
        self._consumers: list[Consumer] = []
        for each in consumers:
            self.attach_consumer(each)
        self._setup = HandlingSetup(
            serializer_registry,
            self._consumers,
            self.options,
            on_exception=on_exception,
            after_consume=after_consume,
            foreign=foreign_reader(self.options.foreign, serializer_registry),
        )
        self._probe = CacheProbe(cache)  # type: ignore[arg-type]  # only asks `is None`
        self.stats = DispatcherStats()
        self._runners: list[AsyncQueueRunner] = []
        # One runner per queue for process_batch (AWS Lambda), kept across invocations.
        self._batch_runners: dict[str, AsyncQueueRunner] = {}
        self._executor: ThreadPoolExecutor | None = None

    @property
    def workers(self) -> int:
        """Handlers running at once per queue, as tasks (``options.workers``)."""
        return self.options.workers

    def attach_consumer(self, consumer: Consumer) -> None:
        """Add a consumer (see ``MessageDispatcher.attach_consumer``)."""
        check_consumer(consumer)
        register_handled_types(consumer, self._registry, self.options.foreign)
        if not any(attached is consumer for attached in self._consumers):
            self._consumers.append(consumer)

    def runner(self, queue_name: str) -> AsyncQueueRunner:
        """Return a new runner of ``queue_name``; ``stop`` stops it with the others."""
        runner = self._new_runner(queue_name)
        self._runners.append(runner)
        return runner

    async def run(self, queue_name: str) -> None:
        """Consume ``queue_name`` until ``stop`` or cancellation; then finish cleanly.

        Raises:
            QueueNotFoundError: the queue does not exist when consuming starts.
            BackendRefusedError: the broker refused to deliver and will refuse again.
        """
        runner = self.runner(queue_name)
        try:
            await runner.run()
        finally:
            self._runners.remove(runner)

    async def run_all(self, queue_names: Iterable[str]) -> None:
        """Consume several queues at once until ``stop`` or cancellation."""
        await asyncio.gather(*(self.run(name) for name in queue_names))

    def stop(self) -> None:
        """Stop every runner: no more receives, running handlers finish. Thread-safe."""
        for runner in list(self._runners):
            runner.stop()

    async def process_available(self, queue_name: str, *, limit: int | None = None) -> int:
        """Handle every message visible now, one at a time, and return how many."""
        return await self._new_runner(queue_name).process_available(limit=limit)

    async def process_batch(
        self, queue_name: str, batch: Sequence[ReceivedMessage], *, in_order: bool = False
    ) -> list[Settled]:
        """Handle a batch someone else received (AWS Lambda); say what became of each."""
        return await self._batch_runner(queue_name).process_batch(batch, in_order=in_order)

    async def process_notifications(
        self, queue_name: str, batch: Sequence[ReceivedMessage]
    ) -> list[Settled]:
        """Handle notifications SNS delivered straight to a Lambda function; settle nothing."""
        return await self._batch_runner(queue_name).process_notifications(batch)

    def _batch_runner(self, queue_name: str) -> AsyncQueueRunner:
        """Return the queue's runner for batches received elsewhere, kept from the first."""
        runner = self._batch_runners.get(queue_name)
        if runner is None:
            runner = self._batch_runners[queue_name] = self._new_runner(queue_name)
        return runner

    def _new_runner(self, queue_name: str) -> AsyncQueueRunner:
        executor = self._pool()
        return AsyncQueueRunner(
            self.backend,
            queue_name,
            self._setup,
            AsyncHandlers(executor),
            self.stats,
            cache=awaitable_cache(self.cache, executor),
            probe=self._probe,
            payloads=self._payload_store(),
        )

    def _payload_store(self) -> AsyncPayloadStore | None:
        # An in-memory store is shared with the sync half, as the in-memory backend is.
        if isinstance(self.payloads, InMemoryPayloadStore):
            return AsyncInMemoryPayloadStore(self.payloads)
        return self.payloads

    def _pool(self) -> ThreadPoolExecutor:
        # Plain handlers run here: as many threads as handlers may run at once.
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                self.options.workers, thread_name_prefix="melange-handler"
            )
        return self._executor
