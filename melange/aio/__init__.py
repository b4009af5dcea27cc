"""melange for asyncio: awaitable publishers, backends and a dispatcher on the sync core.

Wire format, serialization, checks, request shaping and every consume decision are shared
with ``melange``; these modules only await where the sync ones block.
"""

from __future__ import annotations

from melange.aio.dispatcher import AsyncMessageDispatcher
from melange.aio.memory import AsyncInMemoryBackend
from melange.aio.protocol import AsyncMessagingAdmin, AsyncMessagingBackend, AsyncMessagingTransport
from melange.aio.publishers import AsyncQueuePublisher, AsyncTopicPublisher

__all__ = [
    "AsyncInMemoryBackend",
    "AsyncMessageDispatcher",
    "AsyncMessagingAdmin",
    "AsyncMessagingBackend",
    "AsyncMessagingTransport",
    "AsyncQueuePublisher",
    "AsyncTopicPublisher",
]
