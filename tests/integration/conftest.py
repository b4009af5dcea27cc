"""Integration fixtures: a reachable Redis, and deduplication caches with keys unique per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from melange.consuming.dedup import RedisDeduplicationCache
from tests.support.servers import missing_service, start_local_redis

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"

#: Builds a cache on the test's Redis and key prefix; keyword arguments go to the cache.
MakeRedisCache = Callable[..., RedisDeduplicationCache]


@pytest.fixture(name="redis_url", scope="session")
def fixture_redis_url() -> str:
    """Give the URL of a Redis that answers (starting the local one if it is down).

    Without one the Redis tests skip, except under CI, where they fail.
    """
    url = os.environ.get("MELANGE_REDIS_URL", DEFAULT_REDIS_URL)
    error = start_local_redis(url)
    if error is None:
        return url
    reason = f"Redis at {url!r} is not reachable ({error}); set MELANGE_REDIS_URL or start Redis"
    missing_service(reason)


@pytest.fixture(name="redis_client")
def fixture_redis_client(redis_url: str) -> Iterator[redis.Redis[bytes]]:
    """Give a plain Redis client on the test Redis, to look at keys directly."""
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture(name="redis_prefix")
def fixture_redis_prefix(redis_client: redis.Redis[bytes]) -> Iterator[str]:
    """Give a key prefix unique to this test, and delete the test's keys afterwards."""
    prefix = f"melange-test:{uuid.uuid4().hex}:"
    yield prefix
    keys = list(redis_client.scan_iter(match=f"{prefix}*"))
    if keys:
        redis_client.delete(*keys)


@pytest.fixture(name="make_redis_cache")
def fixture_make_redis_cache(redis_url: str, redis_prefix: str) -> MakeRedisCache:
    """Give a factory of Redis deduplication caches sharing this test's key prefix."""

    def make(**kwargs: Any) -> RedisDeduplicationCache:
        return RedisDeduplicationCache(redis_url, prefix=redis_prefix, **kwargs)

    return make


@pytest.fixture(name="redis_cache")
def fixture_redis_cache(make_redis_cache: MakeRedisCache) -> RedisDeduplicationCache:
    """Give a Redis deduplication cache with this test's key prefix and default settings."""
    return make_redis_cache()
