"""RedisDeduplicationCache on a real Redis: the deduplication contract, keys, outages, URLs."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import redis

from melange import Consumer, MessageDispatcher, RedisDeduplicationCache, consumer
from melange.aio import AsyncInMemoryBackend, AsyncMessageDispatcher
from melange.backends import InMemoryBackend
from melange.consuming.aio_dedup import AsyncRedisDeduplicationCache
from melange.consuming.dedup import ClaimStatus
from melange.exceptions import ConfigurationError, DeduplicationUnavailableError
from melange.messages import Destination, Envelope, OutgoingMessage
from tests.contract.dedup_contract import KEY, LEASE, DeduplicationContract, claimed, status_of
from tests.integration.conftest import MakeRedisCache
from tests.support.blocking import Blocking, EventLoopThread
from tests.support.consumers import Recorder, running
from tests.support.messaging import json_registry
from tests.support.polling import poll_until
from tests.support.servers import free_port

pytestmark = pytest.mark.integration


class TestRedisDeduplicationCache(DeduplicationContract):
    """The Redis cache honours the deduplication contract, on Redis's own clock."""

    def make_cache(self, request: pytest.FixtureRequest, **options: Any) -> RedisDeduplicationCache:
        """Build a Redis cache on the test Redis, with this test's key prefix."""
        make_redis_cache: MakeRedisCache = request.getfixturevalue("make_redis_cache")
        return make_redis_cache(**options)


class TestAsyncRedisDeduplicationCache(DeduplicationContract):
    """The asyncio Redis cache honours the same contract, called through an event loop."""

    def make_cache(self, request: pytest.FixtureRequest, **options: Any) -> Any:
        """Build an asyncio Redis cache on the test Redis, with this test's key prefix."""
        loop: EventLoopThread = request.getfixturevalue("event_loop_thread")
        url, prefix = request.getfixturevalue("redis_url"), request.getfixturevalue("redis_prefix")
        cache = loop.call(_built(AsyncRedisDeduplicationCache, url, prefix=prefix, **options))
        return Blocking(cache, loop)


async def _built(factory: Any, *args: Any, **kwargs: Any) -> Any:
    """Build ``factory(*args, **kwargs)`` on the event loop (redis.asyncio binds it there)."""
    return factory(*args, **kwargs)


def test_a_threaded_and_an_asyncio_worker_share_keys(
    make_redis_cache: MakeRedisCache,
    redis_url: str,
    redis_prefix: str,
    event_loop_thread: EventLoopThread,
) -> None:
    """A key claimed by the asyncio cache is busy for the sync one, then done for both."""
    threaded = make_redis_cache()
    asyncio_cache = Blocking(
        event_loop_thread.call(
            _built(AsyncRedisDeduplicationCache, redis_url, prefix=redis_prefix)
        ),
        event_loop_thread,
    )
    claim = asyncio_cache.claim(KEY, lease_seconds=LEASE)
    assert claim.status is ClaimStatus.CLAIMED
    assert status_of(threaded) is ClaimStatus.BUSY
    asyncio_cache.mark_done(KEY, claim.token)
    assert status_of(threaded) is ClaimStatus.DONE


def test_an_unreachable_redis_raises_deduplication_unavailable_when_awaited(
    event_loop_thread: EventLoopThread,
) -> None:
    """The asyncio cache on a Redis that does not answer raises naming the URL."""
    url = f"redis://127.0.0.1:{free_port()}/0"
    cache = Blocking(
        event_loop_thread.call(_built(AsyncRedisDeduplicationCache, url, socket_timeout=0.5)),
        event_loop_thread,
    )
    for operation in (lambda: cache.claim(KEY, lease_seconds=LEASE), cache.ping):
        with pytest.raises(DeduplicationUnavailableError, match=repr(url)):
            operation()


# -- what only Redis has: keys other processes share, a URL, a server that may be down ----


def test_a_claim_stores_its_token_under_the_prefix_with_the_lease(
    redis_cache: RedisDeduplicationCache, redis_client: redis.Redis[bytes], redis_prefix: str
) -> None:
    """A claim sets ``prefix + key`` to its token, expiring after the lease."""
    claim = claimed(redis_cache)
    assert redis_client.get(redis_prefix + KEY) == claim.token.encode()
    assert 0 < redis_client.pttl(redis_prefix + KEY) <= LEASE * 1000


def test_the_done_ttl_defaults_to_sqs_retention(
    redis_cache: RedisDeduplicationCache, redis_client: redis.Redis[bytes], redis_prefix: str
) -> None:
    """By default a done key expires after 14 days, the longest SQS keeps a message."""
    redis_cache.mark_done(KEY, claimed(redis_cache).token)
    ttl = redis_client.pttl(redis_prefix + KEY)
    assert 14 * 24 * 3600 * 1000 - 60_000 < ttl <= 14 * 24 * 3600 * 1000


def test_caches_with_their_own_connections_share_the_keys(
    make_redis_cache: MakeRedisCache,
) -> None:
    """Two caches (as in two processes) see each other's leases and done keys."""
    first, second = make_redis_cache(), make_redis_cache()
    claim = claimed(first)
    assert status_of(second) is ClaimStatus.BUSY
    first.mark_done(KEY, claim.token)
    assert status_of(second) is ClaimStatus.DONE


def test_an_unreachable_redis_raises_deduplication_unavailable() -> None:
    """Every operation on a Redis that does not answer, ping included, raises naming the URL."""
    url = f"redis://127.0.0.1:{free_port()}/0"
    cache = RedisDeduplicationCache(url, socket_timeout=0.5)
    operations = {
        "claim": lambda: cache.claim(KEY, lease_seconds=LEASE),
        "extend": lambda: cache.extend(KEY, "token", lease_seconds=LEASE),
        "mark_done": lambda: cache.mark_done(KEY, "token"),
        "release": lambda: cache.release(KEY, "token"),
        "ping": cache.ping,
    }
    for name, operation in operations.items():
        with pytest.raises(DeduplicationUnavailableError) as caught:
            operation()
        assert repr(url) in str(caught.value), name
        assert isinstance(caught.value.__cause__, redis.exceptions.ConnectionError), name


@pytest.mark.parametrize(
    "userinfo_and_query",
    [("user:s3cret-Pa55@", ""), (":s3cret-Pa55@", ""), ("", "?password=s3cret-Pa55")],
    ids=["user-and-password", "password-only", "password-in-query"],
)
def test_an_unreachable_redis_error_masks_the_password(
    userinfo_and_query: tuple[str, str],
) -> None:
    """The error of an unreachable Redis (which workers log) shows its URL without password."""
    userinfo, query = userinfo_and_query
    url = f"redis://{userinfo}127.0.0.1:{free_port()}/0{query}"
    with pytest.raises(DeduplicationUnavailableError) as caught:
        RedisDeduplicationCache(url, socket_timeout=0.5).ping()
    assert "s3cret-Pa55" not in str(caught.value)
    assert "***" in str(caught.value)
    assert "127.0.0.1:" in str(caught.value)


def test_an_invalid_url_is_refused_naming_it() -> None:
    """A URL that is not a Redis URL raises ConfigurationError naming it."""
    with pytest.raises(ConfigurationError, match=r"'http://x'"):
        RedisDeduplicationCache("http://x")


def test_two_dispatchers_sharing_redis_run_a_duplicated_message_once(
    make_redis_cache: MakeRedisCache,
) -> None:
    """Two dispatchers (as two processes would) with one Redis run a duplicate's handler once."""
    backend = InMemoryBackend()
    backend.declare_queue("q")
    envelope = Envelope(content='{"n": 1}', manifest="json", serializer_id=1)
    for _ in range(2):  # the same message id twice: what a redelivery race looks like
        backend.publish(Destination.queue("q"), [OutgoingMessage(envelope)])
    recorder = Recorder(seconds=1)
    dispatchers = [
        MessageDispatcher(
            json_registry(),
            backend,
            consumers=[recorder],
            cache=make_redis_cache(),  # each with its own connection
            wait_time_seconds=1,
            visibility_timeout=2,
        )
        for _ in range(2)
    ]
    with running(dispatchers[0], "q"), running(dispatchers[1], "q"):
        poll_until(
            lambda: sum(d.stats.acknowledged for d in dispatchers),
            lambda n: n == 2,
            timeout=20,
            message="both copies acknowledged",
        )
    assert recorder.handled == [1]
    assert backend.message_count("q") == 0


def test_the_asyncio_dispatcher_runs_a_duplicate_once_with_the_asyncio_redis_cache(
    redis_url: str, redis_prefix: str
) -> None:
    """Two copies of one message at once, two concurrent handlers: one run, both acknowledged."""
    handled: list[int] = []

    class Slow(Consumer):
        def __init__(self) -> None:
            super().__init__(name="slow")

        @consumer
        async def on_message(self, message: dict[str, int]) -> None:
            handled.append(message["n"])
            await asyncio.sleep(0.5)

    async def scenario() -> int:
        backend = AsyncInMemoryBackend()
        await backend.declare_queue("q")
        envelope = Envelope(content='{"n": 5}', manifest="json", serializer_id=1)
        for _ in range(2):  # the second is an injected duplicate: same message id
            await backend.publish(Destination.queue("q"), [OutgoingMessage(envelope)])
        cache = AsyncRedisDeduplicationCache(redis_url, prefix=redis_prefix)
        dispatcher = AsyncMessageDispatcher(
            json_registry(),
            backend,
            consumers=[Slow()],
            cache=cache,
            workers=2,
            visibility_timeout=2,
            wait_time_seconds=1,
        )
        task = asyncio.create_task(dispatcher.run("q"))
        while dispatcher.stats.acknowledged < 2:
            await asyncio.sleep(0.02)
        dispatcher.stop()
        await task
        await cache.close()
        return backend.message_count("q")

    assert asyncio.run(asyncio.wait_for(scenario(), timeout=30)) == 0
    assert handled == [5]
