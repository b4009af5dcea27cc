"""Both halves of the consume core behind one blocking interface, for unit tests.

The threaded core (``melange.consuming._sync``) is generated from the asyncio one
(``_async``); unit tests of the handling, the acknowledgements and the heartbeat run on
each, so that a difference between the twins, or code only one of them reaches, shows.
``Awaited`` runs an asyncio object's coroutine methods to completion, one event loop per
call; the asyncio objects talk to the same in-memory store as the threaded ones, through
``AsyncInMemoryBackend``.
"""

from __future__ import annotations

import asyncio
import inspect
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

from melange.aio import AsyncInMemoryBackend
from melange.backends import InMemoryBackend
from melange.consuming._async.handling import AsyncAcks, AsyncMessageHandling
from melange.consuming._async.runner import AsyncQueueRunner
from melange.consuming._sync.handling import Acks, MessageHandling
from melange.consuming._sync.runner import QueueRunner
from melange.consuming.aio_concurrency import AsyncEvent, AsyncHandlers
from melange.consuming.aio_dedup import awaitable_cache
from melange.consuming.concurrency import Event, Handlers
from melange.consuming.dedup import DeduplicationCache

Half = Literal["threads", "asyncio"]
HALVES: tuple[Half, ...] = ("threads", "asyncio")

_EXECUTOR = ThreadPoolExecutor(4, thread_name_prefix="halves-test")


class Awaited:
    """An asyncio object whose coroutine methods block until done; other attributes pass."""

    def __init__(self, target: Any) -> None:
        self.target = target

    def __getattr__(self, name: str) -> Any:
        value = getattr(self.target, name)
        if inspect.iscoroutinefunction(value):
            return lambda *args, **kwargs: asyncio.run(value(*args, **kwargs))
        return value


def _unwrapped(value: Any) -> Any:
    return value.target if isinstance(value, Awaited) else value


def message_handling(
    half: Half,
    backend: InMemoryBackend,
    queue_name: str,
    setup: Any,
    stats: Any,
    *,
    cache: DeduplicationCache | None = None,
    probe: Any = None,
    acks: Any = None,
) -> Any:
    """Return the half's ``MessageHandling`` of ``queue_name``, blocking either way."""
    if half == "threads":
        return MessageHandling(
            backend, queue_name, setup, Handlers(), stats, cache=cache, probe=probe, acks=acks
        )
    return Awaited(
        AsyncMessageHandling(
            AsyncInMemoryBackend(backend),
            queue_name,
            setup,
            AsyncHandlers(_EXECUTOR),
            stats,
            cache=awaitable_cache(cache, _EXECUTOR),
            probe=probe,
            acks=_unwrapped(acks),
        )
    )


def acks(half: Half, backend: InMemoryBackend, queue_name: str, stats: Any, **options: Any) -> Any:
    """Return the half's acknowledgement batch of ``queue_name``, blocking either way."""
    if half == "threads":
        return Acks(backend, queue_name, stats, **options)
    return Awaited(AsyncAcks(AsyncInMemoryBackend(backend), queue_name, stats, **options))


def event(half: Half) -> Any:
    """Return the half's settable flag."""
    return Event() if half == "threads" else AsyncEvent()


def queue_runner(
    half: Half, backend: InMemoryBackend, queue_name: str, setup: Any, stats: Any, **options: Any
) -> Any:
    """Return the half's runner of ``queue_name`` (for its heartbeat), blocking either way."""
    if half == "threads":
        return QueueRunner(backend, queue_name, setup, Handlers(), stats, **options)
    cache = options.pop("cache", None)
    return Awaited(
        AsyncQueueRunner(
            AsyncInMemoryBackend(backend),
            queue_name,
            setup,
            AsyncHandlers(_EXECUTOR),
            stats,
            cache=awaitable_cache(cache, _EXECUTOR),
            **options,
        )
    )
