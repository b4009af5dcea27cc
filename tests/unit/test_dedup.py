"""InMemoryDeduplicationCache: claims, leases, done keys, and one winner among racing threads."""

from __future__ import annotations

import pytest

from melange import DeduplicationCache, InMemoryDeduplicationCache
from melange.dedup import Claim, ClaimStatus
from tests.dedup_race import assert_one_claim_wins
from tests.unit.conftest import FakeClock

KEY = "orders-consumer:message-1"
LEASE = 30.0


@pytest.fixture(name="cache")
def fixture_cache(clock: FakeClock) -> InMemoryDeduplicationCache:
    """Give an in-memory cache on the fake clock that remembers done keys for an hour."""
    return InMemoryDeduplicationCache(done_ttl_seconds=3_600, clock=clock)


def claimed(cache: InMemoryDeduplicationCache, key: str = KEY) -> Claim:
    """Claim ``key`` for a 30 s lease and check that the claim succeeded."""
    claim = cache.claim(key, lease_seconds=LEASE)
    assert claim.status is ClaimStatus.CLAIMED
    return claim


def test_the_in_memory_cache_is_a_deduplication_cache(cache: InMemoryDeduplicationCache) -> None:
    """The in-memory cache satisfies the ``DeduplicationCache`` protocol."""
    assert isinstance(cache, DeduplicationCache)


def test_a_first_claim_succeeds_with_a_token(cache: InMemoryDeduplicationCache) -> None:
    """Claiming a new key gives CLAIMED and a token, different for each claim."""
    first = claimed(cache, "a")
    second = claimed(cache, "b")
    assert first.token
    assert second.token
    assert first.token != second.token


def test_a_leased_key_is_busy(cache: InMemoryDeduplicationCache) -> None:
    """A second claim while the lease runs gives BUSY, without a token."""
    claimed(cache)
    assert cache.claim(KEY, lease_seconds=LEASE) == Claim(ClaimStatus.BUSY)


def test_other_keys_are_independent(cache: InMemoryDeduplicationCache) -> None:
    """A lease on one key does not block another key."""
    claimed(cache, "consumer-a:message-1")
    claimed(cache, "consumer-b:message-1")


def test_a_done_key_stays_done(cache: InMemoryDeduplicationCache, clock: FakeClock) -> None:
    """After ``mark_done`` every claim gives DONE, also after the lease would have run out."""
    claim = claimed(cache)
    cache.mark_done(KEY, claim.token)
    assert cache.claim(KEY, lease_seconds=LEASE) == Claim(ClaimStatus.DONE)
    clock.advance(LEASE * 10)
    assert cache.claim(KEY, lease_seconds=LEASE) == Claim(ClaimStatus.DONE)


def test_a_released_key_can_be_claimed_again(cache: InMemoryDeduplicationCache) -> None:
    """After ``release`` with the right token the key is claimable at once."""
    claim = claimed(cache)
    cache.release(KEY, claim.token)
    again = claimed(cache)
    assert again.token != claim.token


def test_an_expired_lease_lets_a_redelivery_run(
    cache: InMemoryDeduplicationCache, clock: FakeClock
) -> None:
    """A worker that crashed mid-handler holds the key only until its lease runs out."""
    claimed(cache)
    clock.advance(LEASE - 0.1)
    assert cache.claim(KEY, lease_seconds=LEASE).status is ClaimStatus.BUSY
    clock.advance(0.1)
    claimed(cache)


def test_extending_with_the_right_token_keeps_the_key_busy(
    cache: InMemoryDeduplicationCache, clock: FakeClock
) -> None:
    """A lease extended with its token stays BUSY past the original lease, until the new one."""
    claim = claimed(cache)
    clock.advance(LEASE - 1)
    cache.extend(KEY, claim.token, lease_seconds=LEASE)
    clock.advance(LEASE - 1)  # 2 * LEASE - 2 since the claim: the original lease is long gone
    assert cache.claim(KEY, lease_seconds=LEASE).status is ClaimStatus.BUSY
    clock.advance(1)
    claimed(cache)


def test_extending_with_a_wrong_token_does_not(
    cache: InMemoryDeduplicationCache, clock: FakeClock
) -> None:
    """An extend with someone else's token leaves the lease to run out as claimed."""
    claimed(cache)
    clock.advance(LEASE - 1)
    cache.extend(KEY, "not-the-token", lease_seconds=LEASE)
    clock.advance(1)
    claimed(cache)


def test_a_stale_worker_cannot_extend_or_release_the_new_lease(
    cache: InMemoryDeduplicationCache, clock: FakeClock
) -> None:
    """Once a lease expired and another worker took the key, the first token changes nothing."""
    stale = claimed(cache)
    clock.advance(LEASE)
    fresh = claimed(cache)
    cache.release(KEY, stale.token)
    assert cache.claim(KEY, lease_seconds=LEASE).status is ClaimStatus.BUSY
    clock.advance(LEASE - 1)
    cache.extend(KEY, stale.token, lease_seconds=LEASE)
    clock.advance(1)
    assert claimed(cache).token != fresh.token


def test_releasing_with_a_wrong_token_keeps_the_lease(cache: InMemoryDeduplicationCache) -> None:
    """A release with someone else's token leaves the key BUSY."""
    claimed(cache)
    cache.release(KEY, "not-the-token")
    assert cache.claim(KEY, lease_seconds=LEASE).status is ClaimStatus.BUSY


def test_a_done_key_is_forgotten_after_its_ttl(
    cache: InMemoryDeduplicationCache, clock: FakeClock
) -> None:
    """A key marked done is claimable again once ``done_ttl_seconds`` has passed."""
    cache.mark_done(KEY, claimed(cache).token)
    clock.advance(3_600 - 1)
    assert cache.claim(KEY, lease_seconds=LEASE).status is ClaimStatus.DONE
    clock.advance(1)
    claimed(cache)


def test_the_done_ttl_defaults_to_sqs_retention() -> None:
    """By default a done key is remembered for 14 days, the longest SQS keeps a message."""
    clock = FakeClock()
    cache = InMemoryDeduplicationCache(clock=clock)
    cache.mark_done(KEY, claimed(cache).token)
    clock.advance(14 * 24 * 3600 - 1)
    assert cache.claim(KEY, lease_seconds=LEASE).status is ClaimStatus.DONE
    clock.advance(1)
    claimed(cache)


def test_exactly_one_of_many_racing_threads_claims_a_key() -> None:
    """Eight threads claiming the same key at the same moment give exactly one CLAIMED."""
    assert_one_claim_wins(InMemoryDeduplicationCache(), KEY)
