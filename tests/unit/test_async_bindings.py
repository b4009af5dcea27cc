"""The asyncio names of the bindings: built from the same settings, lazily, on a shared store."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest

from melange import Consumer, QueuePublisher
from melange.aio import AsyncInMemoryBackend, AsyncQueuePublisher, AsyncTopicPublisher
from melange.backends import InMemoryBackend, MessagingBackend
from melange.backends.aio_factory import async_backend_from_settings
from melange.backends.aio_protocol import AsyncMessagingBackend
from melange.backends.prefixed import PrefixedBackend
from melange.exceptions import ConfigurationError
from melange.settings import MelangeSettings
from melange_bindings import MelangeBindingSpec, ObjectGraph, new_object_graph, new_test_graph
from melange_bindings.graph import async_provided_names
from tests.support.messaging import contents, receive_all


class AsyncWiring:
    """Asks for every asyncio name melange provides, to look at what a graph holds."""

    def __init__(
        self,
        async_messaging_backend: Any,
        async_queue_publisher: Any,
        async_topic_publisher: Any,
        async_dispatcher_factory: Any,
        async_message_dispatcher: Any,
    ) -> None:
        self.async_messaging_backend = async_messaging_backend
        self.async_queue_publisher = async_queue_publisher
        self.async_topic_publisher = async_topic_publisher
        self.async_dispatcher_factory = async_dispatcher_factory
        self.async_message_dispatcher = async_message_dispatcher


def graph_of(environ: Mapping[str, str], backend: MessagingBackend | None = None) -> ObjectGraph:
    """Return a graph of melange's spec alone, on settings read from ``environ``."""
    return new_object_graph(
        classes=[AsyncWiring], melange=MelangeBindingSpec(environ=dict(environ), backend=backend)
    )


@pytest.mark.parametrize("cls", list(async_provided_names()), ids=lambda cls: cls.__name__)
def test_provide_gives_the_graphs_own_asyncio_object_for_each_type(cls: type) -> None:
    """provide(AsyncTopicPublisher) and the like give the object the graph injects by name."""
    graph = graph_of({})

    provided = graph.provide(cls)

    assert provided is getattr(graph.provide(AsyncWiring), async_provided_names()[cls])
    assert provided is graph.provide(cls)


def test_on_memory_the_asyncio_and_sync_halves_share_one_store() -> None:
    """What the asyncio publisher sends, the graph's sync backend receives, and back."""
    graph = graph_of({"MELANGE_BACKEND": "memory"})
    sync_backend = graph.provide(MessagingBackend)
    sync_backend.declare_queue("orders")

    async def publish_and_receive() -> list[Any]:
        await graph.provide(AsyncQueuePublisher).publish("orders", {"from": "asyncio"})
        graph.provide(QueuePublisher).publish("orders", {"from": "sync"})
        backend = graph.provide(AsyncMessagingBackend)
        return await backend.receive("orders", max_messages=10, wait_time_seconds=1)

    received = asyncio.run(publish_and_receive())

    assert isinstance(graph.provide(AsyncMessagingBackend), AsyncInMemoryBackend)
    assert sorted(m["from"] for m in contents(received)) == ["asyncio", "sync"]


def test_the_asyncio_topic_publisher_fans_out_like_the_sync_one() -> None:
    """An asyncio topic publish reaches the queues subscribed to the topic."""
    graph = graph_of({})
    graph.provide(MessagingBackend).declare_queue("billing", topics=["order-events"])

    asyncio.run(graph.provide(AsyncTopicPublisher).publish("order-events", {"order": 7}))

    [received] = receive_all(graph.provide(MessagingBackend), "billing", 1)
    assert contents([received]) == [{"order": 7}]


def test_with_a_prefix_both_halves_use_the_prefixed_names() -> None:
    """With MELANGE_PREFIX the asyncio publisher sends to the prefixed queue the sync half reads."""
    graph = graph_of({"MELANGE_PREFIX": "staging-"})
    sync_backend = graph.provide(MessagingBackend)
    sync_backend.declare_queue("billing", topics=["order-events"])

    asyncio.run(graph.provide(AsyncTopicPublisher).publish("order-events", {"order": 8}))

    [received] = receive_all(sync_backend, "billing", 1)
    assert contents([received]) == [{"order": 8}]
    assert received.queue_name == "billing"
    assert isinstance(sync_backend, PrefixedBackend)
    assert sync_backend.backend.queue_names() == ["staging-billing"]


def test_a_test_graph_records_what_the_asyncio_publishers_send() -> None:
    """On a TestGraph the asyncio publishers send to its recording backend."""
    graph = new_test_graph()
    graph.backend.declare_topic("order-events")

    asyncio.run(graph.provide(AsyncTopicPublisher).publish("order-events", {"order": 1}))

    assert graph.published("order-events") == [{"order": 1}]


def test_a_backend_override_that_is_not_in_memory_is_refused_for_asyncio() -> None:
    """An override of the sync backend by a non-memory backend cannot be shared: said so."""

    class NotInMemory:
        """Stands for an SqsBackend: a sync backend that is not an InMemoryBackend."""

    store = InMemoryBackend()
    shared = graph_of({}, store).provide(AsyncMessagingBackend)
    assert isinstance(shared, AsyncInMemoryBackend)
    assert shared.store is store
    graph = graph_of({}, NotInMemory())  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match=r"backend=NotInMemory overrides only the sync"):
        graph.provide(AsyncQueuePublisher)


def test_the_asyncio_publishers_follow_readable_by_melange7() -> None:
    """MELANGE_READABLE_BY_MELANGE7 applies to the asyncio publishers as to the sync ones."""
    graph = graph_of({"MELANGE_READABLE_BY_MELANGE7": "true"})

    assert graph.provide(AsyncQueuePublisher).readable_by_melange7
    assert graph.provide(AsyncTopicPublisher).readable_by_melange7


def test_an_unknown_backend_name_is_refused_with_the_closest() -> None:
    """async_backend_from_settings refuses a misspelt backend and suggests the right one."""
    settings = MelangeSettings(backend="memroy")  # type: ignore[arg-type]

    with pytest.raises(ConfigurationError, match=r"did you mean 'memory'\?"):
        async_backend_from_settings(settings)


def test_local_without_an_endpoint_is_refused_as_the_sync_factory_does() -> None:
    """MELANGE_BACKEND=local needs MELANGE_ENDPOINT_URL, for asyncio too."""
    pytest.importorskip("melange.backends.sqs.aio")
    with pytest.raises(ConfigurationError, match="needs MELANGE_ENDPOINT_URL"):
        async_backend_from_settings(MelangeSettings(backend="local"))


def test_local_settings_give_the_asyncio_local_sqs_backend() -> None:
    """MELANGE_BACKEND=local builds an AsyncLocalSQSBackend, without connecting."""
    sqs = pytest.importorskip("melange.backends.sqs.aio")
    settings = MelangeSettings(backend="local", endpoint_url="http://127.0.0.1:9")

    backend = async_backend_from_settings(settings)

    assert isinstance(backend, sqs.AsyncLocalSQSBackend)
    asyncio.run(backend.close())


def test_the_asyncio_dispatcher_factory_takes_its_options_from_the_settings() -> None:
    """MELANGE_WORKERS is each asyncio dispatcher's workers; the cache is the graph's."""
    from melange.app.aio_worker import AsyncDispatcherFactory
    from melange.consuming.dedup import DeduplicationCache

    graph = graph_of({"MELANGE_WORKERS": "7", "MELANGE_VISIBILITY_TIMEOUT": "45"})

    dispatcher = graph.provide(AsyncDispatcherFactory)(Consumer(print, name="printer"))

    assert dispatcher.workers == 7
    assert dispatcher.options.visibility_timeout == 45
    assert dispatcher.cache is graph.provide(DeduplicationCache)
    assert dispatcher.backend is graph.provide(AsyncMessagingBackend)


def test_an_asyncio_dispatcher_consumes_what_the_asyncio_publisher_sent() -> None:
    """The graph's asyncio publisher and dispatcher work together, in memory."""
    from melange.app.aio_worker import AsyncDispatcherFactory

    graph = graph_of({})
    graph.provide(MessagingBackend).declare_queue("orders")
    handled: list[Any] = []

    async def handle(message: Any) -> None:
        handled.append(message)

    async def scenario() -> int:
        await graph.provide(AsyncQueuePublisher).publish("orders", {"order": 3})
        dispatcher = graph.provide(AsyncDispatcherFactory)(Consumer(handle, name="orders"))
        return await dispatcher.process_available("orders")

    assert asyncio.run(scenario()) == 1
    assert handled == [{"order": 3}]


class CacheWiring:
    """Asks for the asyncio deduplication cache and the sync one."""

    def __init__(self, async_deduplication_cache: Any, deduplication_cache: Any) -> None:
        self.async_deduplication_cache = async_deduplication_cache
        self.deduplication_cache = deduplication_cache


def test_with_memory_dedup_the_asyncio_dispatchers_share_the_sync_cache() -> None:
    """MELANGE_DEDUP=memory: one cache for both halves, so each message is handled once."""
    graph = new_object_graph(
        classes=[CacheWiring], melange=MelangeBindingSpec(environ={"MELANGE_DEDUP": "memory"})
    )

    wiring = graph.provide(CacheWiring)

    assert wiring.async_deduplication_cache is wiring.deduplication_cache


def test_with_redis_dedup_the_asyncio_dispatchers_get_the_asyncio_redis_cache() -> None:
    """MELANGE_DEDUP=redis: an AsyncRedisDeduplicationCache on the same URL (not connected yet)."""
    pytest.importorskip("redis")
    from melange.consuming.aio_dedup import AsyncRedisDeduplicationCache

    environ = {"MELANGE_DEDUP": "redis", "MELANGE_REDIS_URL": "redis://127.0.0.1:9/0"}
    graph = new_object_graph(classes=[CacheWiring], melange=MelangeBindingSpec(environ=environ))

    wiring = graph.provide(CacheWiring)

    assert isinstance(wiring.async_deduplication_cache, AsyncRedisDeduplicationCache)
