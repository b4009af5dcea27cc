"""RedisDeduplicationCache against a real Redis: claims, leases, done keys, races, outages."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import redis

from melange import DeduplicationCache, MessageDispatcher, RedisDeduplicationCache
from melange.backends import InMemoryBackend
from melange.dedup import Claim, ClaimStatus
from melange.exceptions import ConfigurationError, DeduplicationUnavailableError
from melange.messages import Destination, Envelope, OutgoingMessage
from tests.contract.backend_contract import json_registry
from tests.contract.dispatcher_contract import Recorder, running
from tests.dedup_race import assert_one_claim_wins
from tests.polling import poll_until
from tests.servers import free_port

pytestmark = pytest.mark.integration

#: The ``make_redis_cache`` fixture: keyword arguments go to ``RedisDeduplicationCache``.
MakeRedisCache = Callable[..., RedisDeduplicationCache]

KEY = "orders-consumer:message-1"
LEASE = 30.0
#: A lease short enough to watch run out; the tests poll for its end, never sleep.
SHORT_LEASE = 0.2


def claimed(cache: RedisDeduplicationCache, key: str = KEY, lease: float = LEASE) -> Claim:
    """Claim ``key`` and check that the claim succeeded."""
    claim = cache.claim(key, lease_seconds=lease)
    assert claim.status is ClaimStatus.CLAIMED
    return claim


def status_of(cache: RedisDeduplicationCache, key: str = KEY) -> ClaimStatus:
    """Try to claim ``key`` for a long lease and return the status."""
    return cache.claim(key, lease_seconds=LEASE).status


def wait_until_claimable(cache: RedisDeduplicationCache, key: str = KEY) -> None:
    """Poll until a claim of ``key`` succeeds (the claim then holds it for ``LEASE``)."""
    poll_until(
        lambda: status_of(cache, key),
        lambda status: status is ClaimStatus.CLAIMED,
        timeout=5,
        interval=0.02,
        message=f"{key!r} claimable again",
    )


def test_the_redis_cache_is_a_deduplication_cache(redis_cache: RedisDeduplicationCache) -> None:
    """The Redis cache satisfies the ``DeduplicationCache`` protocol."""
    assert isinstance(redis_cache, DeduplicationCache)


def test_a_claim_stores_its_token_under_the_prefix_with_the_lease(
    redis_cache: RedisDeduplicationCache, redis_client: redis.Redis[bytes], redis_prefix: str
) -> None:
    """A claim sets ``prefix + key`` to its token, expiring after the lease."""
    claim = claimed(redis_cache)
    assert claim.token
    assert redis_client.get(redis_prefix + KEY) == claim.token.encode()
    assert 0 < redis_client.pttl(redis_prefix + KEY) <= LEASE * 1000


def test_a_leased_key_is_busy(redis_cache: RedisDeduplicationCache) -> None:
    """A second claim while the lease runs gives BUSY, without a token."""
    claimed(redis_cache)
    assert redis_cache.claim(KEY, lease_seconds=LEASE) == Claim(ClaimStatus.BUSY)


def test_a_done_key_stays_done(redis_cache: RedisDeduplicationCache) -> None:
    """After ``mark_done`` every claim gives DONE."""
    redis_cache.mark_done(KEY, claimed(redis_cache).token)
    assert redis_cache.claim(KEY, lease_seconds=LEASE) == Claim(ClaimStatus.DONE)
    assert redis_cache.claim(KEY, lease_seconds=LEASE) == Claim(ClaimStatus.DONE)


def test_a_released_key_can_be_claimed_again(redis_cache: RedisDeduplicationCache) -> None:
    """After ``release`` with the right token the key is claimable at once."""
    claim = claimed(redis_cache)
    redis_cache.release(KEY, claim.token)
    assert claimed(redis_cache).token != claim.token


def test_releasing_with_a_wrong_token_keeps_the_lease(
    redis_cache: RedisDeduplicationCache,
) -> None:
    """A release with someone else's token leaves the key BUSY."""
    claimed(redis_cache)
    redis_cache.release(KEY, "not-the-token")
    assert status_of(redis_cache) is ClaimStatus.BUSY


def test_an_expired_lease_lets_a_redelivery_run(redis_cache: RedisDeduplicationCache) -> None:
    """A worker that crashed mid-handler holds the key only until its lease runs out."""
    claimed(redis_cache, lease=SHORT_LEASE)
    assert status_of(redis_cache) is ClaimStatus.BUSY
    wait_until_claimable(redis_cache)


def test_extending_with_the_right_token_keeps_the_key_busy(
    redis_cache: RedisDeduplicationCache,
) -> None:
    """A lease extended with its token is still BUSY after the original lease ran out."""
    claim = claimed(redis_cache, lease=SHORT_LEASE)
    witness = "witness"  # claimed after the key, with the same lease: it ends later
    claimed(redis_cache, witness, lease=SHORT_LEASE)
    redis_cache.extend(KEY, claim.token, lease_seconds=LEASE)
    wait_until_claimable(redis_cache, witness)
    assert status_of(redis_cache) is ClaimStatus.BUSY


def test_extending_with_a_wrong_token_does_not(
    redis_cache: RedisDeduplicationCache, redis_client: redis.Redis[bytes], redis_prefix: str
) -> None:
    """An extend with someone else's token leaves the lease to run out as claimed."""
    claimed(redis_cache, lease=SHORT_LEASE)
    redis_cache.extend(KEY, "not-the-token", lease_seconds=LEASE)
    assert redis_client.pttl(redis_prefix + KEY) <= SHORT_LEASE * 1000
    wait_until_claimable(redis_cache)


def test_a_stale_worker_cannot_extend_or_release_the_new_lease(
    redis_cache: RedisDeduplicationCache, redis_client: redis.Redis[bytes], redis_prefix: str
) -> None:
    """Once a lease expired and another worker took the key, the first token changes nothing."""
    stale = claimed(redis_cache, lease=SHORT_LEASE)
    wait_until_claimable(redis_cache)  # the new claim holds the key for LEASE
    fresh_token = redis_client.get(redis_prefix + KEY)
    redis_cache.release(KEY, stale.token)
    redis_cache.extend(KEY, stale.token, lease_seconds=3_600)
    assert redis_client.get(redis_prefix + KEY) == fresh_token
    assert redis_client.pttl(redis_prefix + KEY) <= LEASE * 1000
    assert status_of(redis_cache) is ClaimStatus.BUSY


def test_a_done_key_is_forgotten_after_its_ttl(make_redis_cache: MakeRedisCache) -> None:
    """A key marked done is claimable again once ``done_ttl_seconds`` has passed."""
    cache = make_redis_cache(done_ttl_seconds=SHORT_LEASE)
    cache.mark_done(KEY, claimed(cache).token)
    assert status_of(cache) is ClaimStatus.DONE
    wait_until_claimable(cache)


def test_the_done_ttl_defaults_to_sqs_retention(
    redis_cache: RedisDeduplicationCache, redis_client: redis.Redis[bytes], redis_prefix: str
) -> None:
    """By default a done key expires after 14 days, the longest SQS keeps a message."""
    redis_cache.mark_done(KEY, claimed(redis_cache).token)
    ttl = redis_client.pttl(redis_prefix + KEY)
    assert 14 * 24 * 3600 * 1000 - 60_000 < ttl <= 14 * 24 * 3600 * 1000


def test_a_done_ttl_under_a_millisecond_is_refused(make_redis_cache: MakeRedisCache) -> None:
    """A done TTL of 0 is refused with ConfigurationError naming it, not a raw redis error."""
    with pytest.raises(ConfigurationError, match="done_ttl_seconds=0"):
        make_redis_cache(done_ttl_seconds=0)


def test_caches_with_their_own_connections_share_the_keys(
    make_redis_cache: MakeRedisCache,
) -> None:
    """Two caches (as in two processes) see each other's leases and done keys."""
    first, second = make_redis_cache(), make_redis_cache()
    claim = claimed(first)
    assert status_of(second) is ClaimStatus.BUSY
    first.mark_done(KEY, claim.token)
    assert status_of(second) is ClaimStatus.DONE


def test_exactly_one_of_many_racing_threads_claims_a_key(
    redis_cache: RedisDeduplicationCache,
) -> None:
    """Eight threads claiming the same key at the same moment give exactly one CLAIMED."""
    assert_one_claim_wins(redis_cache, KEY)


def test_an_unreachable_redis_raises_deduplication_unavailable() -> None:
    """Every operation on a Redis that does not answer raises an error naming the URL."""
    url = f"redis://127.0.0.1:{free_port()}/0"
    cache = RedisDeduplicationCache(url, socket_timeout=0.5)
    operations = {
        "claim": lambda: cache.claim(KEY, lease_seconds=LEASE),
        "extend": lambda: cache.extend(KEY, "token", lease_seconds=LEASE),
        "mark_done": lambda: cache.mark_done(KEY, "token"),
        "release": lambda: cache.release(KEY, "token"),
    }
    for name, operation in operations.items():
        with pytest.raises(DeduplicationUnavailableError) as caught:
            operation()
        assert repr(url) in str(caught.value), name
        assert isinstance(caught.value.__cause__, redis.exceptions.ConnectionError), name


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
