"""Running an application's async consumers: one ``AsyncMessageDispatcher`` per queue, one loop.

``python -m melange worker`` runs an application whose consumers are all ``async def``
(``Consumer.is_async``) on an ``AsyncWorker``, built from the graph's
``AsyncDispatcherFactory`` with the same per-queue options a threaded ``Worker`` gets
(``MELANGE_WORKERS`` and a subscription's ``workers``: handlers running at once per queue).
As with ``Worker``, when one queue stops, by ``stop`` or by an error, the others stop too.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Literal

from melange.app.worker import first_failure, log_failure
from melange.consuming.consumers import Consumer
from melange.exceptions import ConfigurationError, Problem
from melange.options import DispatcherOptions
from melange.settings import options_from_settings

if TYPE_CHECKING:
    from melange.backends.aio_protocol import AsyncMessagingBackend
    from melange.consuming.aio_dedup import AsyncDeduplicationCache
    from melange.consuming.aio_dispatcher import AsyncMessageDispatcher
    from melange.consuming.dedup import DeduplicationCache
    from melange.payloads.store import AsyncPayloadStore
    from melange.serializers.registry import SerializerRegistry
    from melange.settings import MelangeSettings

__all__ = ["AsyncDispatcherFactory", "AsyncWorker", "consumers_kind"]

logger = logging.getLogger(__name__)


def consumers_kind(consumers: Iterable[Consumer]) -> Literal["sync", "async"]:
    """Return whether the consumers are all sync or all async (``Consumer.is_async``).

    Raises:
        ConfigurationError: some are sync and some async; the message names them.
    """
    chosen = list(consumers)
    asynchronous = [c.name for c in chosen if c.is_async]
    synchronous = [c.name for c in chosen if not c.is_async]
    if asynchronous and synchronous:
        raise ConfigurationError(
            f"the worker would run async consumers ({', '.join(map(repr, asynchronous))}) "
            f"and sync ones ({', '.join(map(repr, synchronous))}) in one process; a worker "
            "runs either an event loop or handler threads, so make them all one kind, or "
            "run two workers, each with --queue naming the queues of one kind",
            problems=[
                Problem(
                    "melange_consumers",
                    (*asynchronous, *synchronous),
                    "consumers all async or all sync (or a worker per kind, with --queue)",
                )
            ],
        )
    return "async" if asynchronous else "sync"


class AsyncDispatcherFactory:
    """Builds ``AsyncMessageDispatcher``s with the settings' options (see ``DispatcherFactory``).

    Args:
        settings: the settings whose ``MELANGE_*`` dispatcher options apply.
        registry: reads messages back into objects.
        backend: the asyncio backend to consume from.
        cache: the deduplication cache, asyncio (Redis) or sync (run in the thread pool).
        payloads: where large messages' payloads are read from (``MELANGE_LARGE_PAYLOAD_*``).
    """

    def __init__(
        self,
        settings: MelangeSettings,
        registry: SerializerRegistry,
        backend: AsyncMessagingBackend,
        cache: DeduplicationCache | AsyncDeduplicationCache,
        *,
        payloads: AsyncPayloadStore | None = None,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.backend = backend
        self.cache = cache
        self.payloads = payloads

    async def close(self) -> None:
        """Close the backend, the cache if it holds asyncio connections (Redis), and S3's."""
        from melange.consuming.aio_dedup import AsyncRedisDeduplicationCache
        from melange.payloads.s3 import AsyncS3PayloadStore

        await self.backend.close()
        if isinstance(self.cache, AsyncRedisDeduplicationCache):
            await self.cache.close()
        if isinstance(self.payloads, AsyncS3PayloadStore):
            await self.payloads.close()

    @property
    def options(self) -> DispatcherOptions:
        """The options the settings describe (``MELANGE_WORKERS``: handlers at once per queue)."""
        return options_from_settings(self.settings.dispatcher)

    def __call__(
        self, *consumers: Consumer, options: DispatcherOptions | None = None
    ) -> AsyncMessageDispatcher:
        """Return a new dispatcher with ``consumers`` attached, and ``options`` if given."""
        from melange.consuming.aio_dispatcher import AsyncMessageDispatcher

        return AsyncMessageDispatcher(
            self.registry,
            self.backend,
            consumers=consumers,
            cache=self.cache,
            options=options or self.options,  # workers: handlers in flight per queue
            payloads=self.payloads,
        )


class AsyncWorker:
    """Runs each ``(queue name, dispatcher)`` pair on the running event loop until ``stop``.

    Args:
        queues: the queues to consume, each with the dispatcher that consumes it.

    Raises:
        ValueError: no queue, or a queue given twice.
    """

    def __init__(self, queues: Sequence[tuple[str, AsyncMessageDispatcher]]) -> None:
        names = [name for name, _ in queues]
        if not names or len(set(names)) != len(names):
            raise ValueError(f"an AsyncWorker needs distinct queues, got {names!r}")
        self.queues = tuple(queues)
        self._stopping = False

    @property
    def queue_names(self) -> tuple[str, ...]:
        """The queues this worker consumes."""
        return tuple(name for name, _ in self.queues)

    def stop(self) -> None:
        """Stop every queue: no more receives, running handlers finish. Thread-safe."""
        self._stopping = True
        for _, dispatcher in self.queues:
            dispatcher.stop()

    async def run(self) -> None:
        """Consume every queue until ``stop`` (or until one queue ends); then return.

        Raises:
            QueueNotFoundError: a queue did not exist when consuming started.
            BackendRefusedError: the broker refused for good; raised once all stopped.
        """
        running = {
            asyncio.ensure_future(dispatcher.run(name)): name for name, dispatcher in self.queues
        }
        failures: list[tuple[str, BaseException]] = []
        pending = set(running)
        await asyncio.sleep(0)  # each dispatcher starts its runner, which stop() stops
        if self._stopping:  # stopped before that: stop the runners now
            self.stop()
        try:
            while pending:
                finished, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in finished:
                    error = None if task.cancelled() else task.exception()
                    if error is not None:
                        log_failure(logger, running[task], error)
                        failures.append((running[task], error))
                self.stop()  # one queue ended: end them all, as Worker does
        except asyncio.CancelledError:
            self.stop()  # cancelled from outside: let running handlers finish first
            await asyncio.gather(*pending, return_exceptions=True)
            raise
        if failures:
            raise first_failure(failures)
