"""The asyncio half of ``MelangeBindingSpec``: its ``async_*`` providers, as a mixin.

From the same settings, registry and cache as the sync providers; pinject builds each only
when something asks for it, so a sync application never imports asyncio.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from melange.backends import InMemoryBackend, MessagingBackend
from melange.backends.prefixed import PrefixedBackend
from melange.consuming.dedup import DeduplicationCache
from melange.exceptions import ConfigurationError, Problem
from melange.payloads.factory import PayloadStores
from melange.serializers import SerializerRegistry
from melange.settings import MelangeSettings
from melange_bindings.surfacing import surfaced

if TYPE_CHECKING:  # imported where used: a sync application never imports asyncio
    from melange.app.aio_worker import AsyncDispatcherFactory
    from melange.backends.aio_protocol import AsyncMessagingBackend
    from melange.consuming.aio_dedup import AsyncDeduplicationCache
    from melange.consuming.aio_dispatcher import AsyncMessageDispatcher
    from melange.publishing._async.publishers import AsyncQueuePublisher, AsyncTopicPublisher

__all__ = ["AsyncProviders", "async_backend_for_override"]


class AsyncProviders:
    """The asyncio providers, mixed into ``MelangeBindingSpec``.

    ``async_messaging_backend``, ``async_queue_publisher``, ``async_topic_publisher``,
    ``async_deduplication_cache``, ``async_dispatcher_factory``, ``async_message_dispatcher``.
    """

    #: The spec's ``backend=`` override, if any (set by ``MelangeBindingSpec``).
    _backend: MessagingBackend | None = None

    def provide_async_messaging_backend(
        self,
        melange_settings: MelangeSettings,
        provide_messaging_backend: Callable[[], MessagingBackend],
    ) -> AsyncMessagingBackend:
        """Return the asyncio backend ``MELANGE_BACKEND`` names (``async_backend_from_settings``).

        On ``memory``, and with a ``backend=`` override that is an ``InMemoryBackend`` (a
        ``TestGraph``'s), it shares the sync backend's store: what either half publishes
        the other receives. The sync backend is built for that only.

        Raises:
            ConfigurationError: ``backend=`` overrides the sync backend with one that is
                not in memory, which no asyncio backend can share.
        """
        from melange.backends.aio_factory import async_backend_from_settings

        with surfaced("async_messaging_backend"):
            if self._backend is not None:
                return async_backend_for_override(self._backend)
            store = None
            if melange_settings.backend == "memory":
                sync_backend = provide_messaging_backend()
                if isinstance(sync_backend, PrefixedBackend):  # MELANGE_PREFIX: its store
                    sync_backend = sync_backend.backend
                store = sync_backend if isinstance(sync_backend, InMemoryBackend) else None
            return async_backend_from_settings(melange_settings, store=store)

    def provide_async_deduplication_cache(
        self,
        melange_settings: MelangeSettings,
        provide_deduplication_cache: Callable[[], DeduplicationCache],
    ) -> DeduplicationCache | AsyncDeduplicationCache:
        """Return the cache ``MELANGE_DEDUP`` chooses, for asyncio dispatchers.

        ``redis``: an ``AsyncRedisDeduplicationCache`` on the same keys as the sync one (an
        asyncio worker and a threaded one see each other's claims). ``memory`` and ``none``:
        the graph's ``deduplication_cache`` itself, shared with the sync half.
        """
        with surfaced("async_deduplication_cache"):
            if melange_settings.dedup == "redis" and melange_settings.redis_url:
                from melange.consuming.aio_dedup import AsyncRedisDeduplicationCache

                return AsyncRedisDeduplicationCache(melange_settings.redis_url)
            return provide_deduplication_cache()

    def provide_async_dispatcher_factory(
        self,
        melange_settings: MelangeSettings,
        serializer_registry: SerializerRegistry,
        async_messaging_backend: AsyncMessagingBackend,
        async_deduplication_cache: DeduplicationCache | AsyncDeduplicationCache,
        payload_stores: PayloadStores,
    ) -> AsyncDispatcherFactory:
        """Return a factory of asyncio dispatchers with the settings' options, one per queue."""
        from melange.app.aio_worker import AsyncDispatcherFactory

        with surfaced("async_dispatcher_factory"):
            return AsyncDispatcherFactory(
                melange_settings,
                serializer_registry,
                async_messaging_backend,
                async_deduplication_cache,
                payloads=payload_stores.async_store(),
            )

    def provide_async_message_dispatcher(
        self, async_dispatcher_factory: AsyncDispatcherFactory
    ) -> AsyncMessageDispatcher:
        """Return the graph's asyncio dispatcher (for one queue); attach consumers to it."""
        with surfaced("async_message_dispatcher"):
            return async_dispatcher_factory()

    def provide_async_queue_publisher(
        self,
        melange_settings: MelangeSettings,
        serializer_registry: SerializerRegistry,
        async_messaging_backend: AsyncMessagingBackend,
        payload_stores: PayloadStores,
    ) -> AsyncQueuePublisher:
        """Return the graph's asyncio queue publisher (as ``queue_publisher``, awaited)."""
        from melange.publishing._async.publishers import AsyncQueuePublisher

        with surfaced("async_queue_publisher"):
            return AsyncQueuePublisher(
                serializer_registry,
                async_messaging_backend,
                readable_by_melange7=melange_settings.readable_by_melange7,
                payloads=payload_stores.async_store(),
            )

    def provide_async_topic_publisher(
        self,
        melange_settings: MelangeSettings,
        serializer_registry: SerializerRegistry,
        async_messaging_backend: AsyncMessagingBackend,
        payload_stores: PayloadStores,
    ) -> AsyncTopicPublisher:
        """Return the graph's asyncio topic publisher (as ``topic_publisher``, awaited)."""
        from melange.publishing._async.publishers import AsyncTopicPublisher

        with surfaced("async_topic_publisher"):
            return AsyncTopicPublisher(
                serializer_registry,
                async_messaging_backend,
                readable_by_melange7=melange_settings.readable_by_melange7,
                payloads=payload_stores.async_store(),
            )


def async_backend_for_override(backend: MessagingBackend) -> AsyncMessagingBackend:
    """Return the asyncio backend sharing an overriding sync ``backend``'s queues.

    Raises:
        ConfigurationError: ``backend`` is not an ``InMemoryBackend``, so there is nothing
            an asyncio backend can share.
    """
    from melange.backends.memory.aio import AsyncInMemoryBackend

    if isinstance(backend, InMemoryBackend):
        return AsyncInMemoryBackend(backend)
    raise ConfigurationError(
        f"backend={type(backend).__name__} overrides only the sync backend; an asyncio "
        "backend can share only an InMemoryBackend's queues, so build the asyncio objects "
        "from settings (MELANGE_BACKEND=local/aws) instead of a backend override",
        problems=[
            Problem(
                "backend",
                type(backend).__name__,
                "an InMemoryBackend, or no override (MELANGE_BACKEND=local/aws)",
            )
        ],
    )
