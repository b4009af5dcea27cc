"""Both contracts, run against ``AsyncInMemoryBackend``, the asyncio publishers and dispatcher.

The same test bodies as every sync backend: ``Blocking`` runs each awaited call on an
event loop thread, so what is asserted is what the asyncio backend and publishers do.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest

from melange.aio import AsyncInMemoryBackend, AsyncQueuePublisher, AsyncTopicPublisher
from melange.backends.aio_prefixed import AsyncPrefixedBackend
from melange.consuming.aio_dispatcher import AsyncMessageDispatcher
from melange.consuming.consumers import Consumer
from melange.serializers import SerializerRegistry
from tests.contract.backend_contract import BackendContract
from tests.contract.dispatcher_contract import DispatcherContract, DispatcherTimingContract
from tests.support.blocking import Blocking, EventLoopThread
from tests.support.messaging import json_registry


class AsyncRunner:
    """Runs the contracts' bodies on the asyncio publishers and dispatcher (``Blocking``)."""

    @pytest.fixture(name="queue_publisher")
    def fixture_queue_publisher(self, backend: Any, event_loop_thread: EventLoopThread) -> Any:
        """Give an ``AsyncQueuePublisher`` on the backend under test."""
        return Blocking(AsyncQueuePublisher(json_registry(), backend.target), event_loop_thread)

    @pytest.fixture(name="topic_publisher")
    def fixture_topic_publisher(self, backend: Any, event_loop_thread: EventLoopThread) -> Any:
        """Give an ``AsyncTopicPublisher`` on the backend under test."""
        return Blocking(AsyncTopicPublisher(json_registry(), backend.target), event_loop_thread)

    @pytest.fixture(name="publisher")
    def fixture_publisher(self, queue_publisher: Any) -> Any:
        """Give the dispatcher contract the ``AsyncQueuePublisher``."""
        return queue_publisher

    def make_dispatcher(
        self,
        registry: SerializerRegistry,
        backend: Any,
        consumers: Iterable[Consumer],
        **options: Any,
    ) -> Any:
        """Build an ``AsyncMessageDispatcher`` run on the backend's event loop thread."""
        dispatcher = AsyncMessageDispatcher(
            registry, backend.target, consumers=consumers, **options
        )
        return Blocking(dispatcher, backend.loop)


class TestAsyncInMemoryBackend(
    AsyncRunner, BackendContract, DispatcherContract, DispatcherTimingContract
):
    """The asyncio backend, publishers and dispatcher honour both contracts, in memory.

    The asyncio dispatcher's own timing (``DispatcherTimingContract``) is tested here only.
    """

    def make_backend(self, request: pytest.FixtureRequest) -> Any:
        """Build an asyncio in-memory backend, called through the test's event loop thread."""
        return Blocking(AsyncInMemoryBackend(), request.getfixturevalue("event_loop_thread"))


class TestAsyncPrefixedBackend(AsyncRunner, BackendContract, DispatcherContract):
    """AsyncPrefixedBackend over the asyncio in-memory backend honours both contracts."""

    def make_backend(self, request: pytest.FixtureRequest) -> Any:
        """Build a prefixed asyncio in-memory backend, called through the event loop thread."""
        backend = AsyncPrefixedBackend(AsyncInMemoryBackend(), "env-")
        return Blocking(backend, request.getfixturevalue("event_loop_thread"))
