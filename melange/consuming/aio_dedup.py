"""Deduplication in Redis for asyncio, through ``redis.asyncio``: the sync cache, awaited.

The keys, lease and done semantics, Lua scripts, claim decision and error translation
are ``melange.consuming.dedup``'s own; only the Redis calls are awaited, so an asyncio
worker and a threaded one can share one Redis and see each other's keys. ``OffLoopCache``
lets the asyncio dispatcher use a sync cache, calling it in its thread pool.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any, Protocol, TypeVar, runtime_checkable

from melange.consuming.dedup import (
    DEFAULT_DONE_TTL_SECONDS,
    DELETE_IF_HELD,
    DONE_VALUE,
    EXTEND_IF_HELD,
    Claim,
    ClaimStatus,
    DeduplicationCache,
    check_done_ttl,
    claim_held,
    connect_redis,
    deduplicating,
    milliseconds,
    new_token,
    redis_errors_as_unavailable,
)

__all__ = [
    "AsyncDeduplicationCache",
    "AsyncRedisDeduplicationCache",
    "OffLoopCache",
    "awaitable_cache",
]

T = TypeVar("T")


@runtime_checkable
class AsyncDeduplicationCache(Protocol):
    """``melange.consuming.dedup.DeduplicationCache``, awaited: what the asyncio dispatcher can use.

    It also takes the sync caches (``InMemoryDeduplicationCache``, ``RedisDeduplicationCache``),
    calling them in its thread pool.
    """

    async def claim(self, key: str, *, lease_seconds: float) -> Claim:
        """Claim ``key`` for a lease unless it is done or leased."""

    async def extend(self, key: str, token: str, *, lease_seconds: float) -> None:
        """Renew the lease if ``token`` still holds it."""

    async def mark_done(self, key: str, token: str) -> None:
        """Remember the key as handled."""

    async def release(self, key: str, token: str) -> None:
        """Give the lease up if ``token`` still holds it."""

    async def ping(self) -> None:
        """Raise ``DeduplicationUnavailableError`` unless the cache answers."""


class AsyncRedisDeduplicationCache:
    """A deduplication cache in Redis, awaited (see ``RedisDeduplicationCache``).

    Args:
        url: the Redis URL, e.g. ``redis://127.0.0.1:6379/0``.
        prefix: prepended to every key.
        done_ttl_seconds: how long a handled key is remembered.
        socket_timeout: seconds before an unreachable Redis counts as unavailable.
        client: an existing ``redis.asyncio.Redis`` to use instead of connecting to ``url``.
    """

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        prefix: str = "melange:dedup:",
        done_ttl_seconds: float = DEFAULT_DONE_TTL_SECONDS,
        socket_timeout: float = 2.0,
        client: Any = None,
    ) -> None:
        if client is None:
            import redis.asyncio

            client = connect_redis(url, socket_timeout, client_class=redis.asyncio.Redis)
        self._client = client
        self._prefix = prefix
        self._done_ttl_ms = milliseconds(check_done_ttl(done_ttl_seconds))
        self._extend = client.register_script(EXTEND_IF_HELD)
        self._delete = client.register_script(DELETE_IF_HELD)
        self.url = url

    async def claim(self, key: str, *, lease_seconds: float) -> Claim:
        """Take the key with ``SET NX PX`` unless it is done or leased."""
        token = new_token()
        full_key = self._prefix + key
        with redis_errors_as_unavailable(self.url):
            if await self._client.set(full_key, token, nx=True, px=milliseconds(lease_seconds)):
                return Claim(ClaimStatus.CLAIMED, token)
            current = await self._client.get(full_key)
        held = claim_held(current)
        if held is None:  # the other lease expired between SET and GET: try once more
            return await self.claim(key, lease_seconds=lease_seconds)
        return held

    async def extend(self, key: str, token: str, *, lease_seconds: float) -> None:
        """Renew the lease if ``token`` still holds it."""
        with redis_errors_as_unavailable(self.url):
            await self._extend(keys=[self._prefix + key], args=[token, milliseconds(lease_seconds)])

    async def mark_done(self, key: str, token: str) -> None:
        """Remember the key as handled."""
        with redis_errors_as_unavailable(self.url):
            await self._client.set(self._prefix + key, DONE_VALUE, px=self._done_ttl_ms)

    async def release(self, key: str, token: str) -> None:
        """Delete the lease if ``token`` still holds it."""
        with redis_errors_as_unavailable(self.url):
            await self._delete(keys=[self._prefix + key], args=[token])

    async def ping(self) -> None:
        """Send Redis a ``PING``; raise ``DeduplicationUnavailableError`` if it does not answer."""
        with redis_errors_as_unavailable(self.url):
            await self._client.ping()

    async def close(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()


class OffLoopCache:
    """A sync deduplication cache, awaited: each call runs in a thread pool.

    Args:
        cache: the sync cache (``InMemoryDeduplicationCache``, ``RedisDeduplicationCache``).
        executor: where its blocking calls run.
    """

    def __init__(self, cache: DeduplicationCache, executor: Executor) -> None:
        self.cache = cache
        self.executor = executor

    async def _call(self, method: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        call = functools.partial(method, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self.executor, call)

    async def claim(self, key: str, *, lease_seconds: float) -> Claim:
        """Claim ``key`` (see ``DeduplicationCache.claim``)."""
        return await self._call(self.cache.claim, key, lease_seconds=lease_seconds)

    async def extend(self, key: str, token: str, *, lease_seconds: float) -> None:
        """Extend a held lease (see ``DeduplicationCache.extend``)."""
        await self._call(self.cache.extend, key, token, lease_seconds=lease_seconds)

    async def mark_done(self, key: str, token: str) -> None:
        """Record ``key`` as done (see ``DeduplicationCache.mark_done``)."""
        await self._call(self.cache.mark_done, key, token)

    async def release(self, key: str, token: str) -> None:
        """Give up a claim (see ``DeduplicationCache.release``)."""
        await self._call(self.cache.release, key, token)

    async def ping(self) -> None:
        """Check that the cache answers (see ``DeduplicationCache.ping``)."""
        await self._call(self.cache.ping)


def awaitable_cache(
    cache: DeduplicationCache | AsyncDeduplicationCache | None, executor: Executor
) -> AsyncDeduplicationCache | None:
    """Return ``cache`` as the asyncio dispatcher awaits it: as it is, or ``OffLoopCache``.

    ``None`` for a ``NullDeduplicationCache`` (``deduplicating``): no claim is awaited.
    """
    cache = deduplicating(cache)
    if cache is None or inspect.iscoroutinefunction(getattr(cache, "claim", None)):
        return cache  # type: ignore[return-value]  # an asyncio cache
    return OffLoopCache(cache, executor)  # type: ignore[arg-type]  # a sync cache
