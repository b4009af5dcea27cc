"""The behaviour every deduplication cache must have, written once and run against each cache.

Subclasses provide ``make_cache`` and, for a cache on a clock the test controls,
``make_ticker``; see tests/unit/test_dedup.py (in memory, on a fake clock) and
tests/integration/test_redis_dedup.py (a real Redis, on real time). Leases run out in
these tests by polling with a deadline: each poll first lets the cache's time move on
(a fake clock advances a step; Redis's time moves by itself).

``NullDeduplicationCache`` does not run this suite: its contract is the opposite one
(every claim is granted, nothing is remembered), tested in tests/unit/test_null_dedup.py.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar

import pytest

from melange.consuming.dedup import Claim, ClaimStatus, DeduplicationCache
from melange.exceptions import ConfigurationError
from tests.support.polling import poll_until

KEY = "orders-consumer:message-1"
#: A lease no test outlives.
LEASE = 30.0

#: Builds a cache of the kind under test; keyword arguments go to its constructor.
MakeCache = Callable[..., DeduplicationCache]
#: Waits until a claim of the key succeeds (that claim then holds it) and gives the claim.
WaitUntilClaimable = Callable[..., Claim]


def claimed(cache: DeduplicationCache, key: str = KEY, lease: float = LEASE) -> Claim:
    """Claim ``key`` and check that the claim succeeded."""
    claim = cache.claim(key, lease_seconds=lease)
    assert claim.status is ClaimStatus.CLAIMED, f"{key!r}: {claim}"
    return claim


def status_of(cache: DeduplicationCache, key: str = KEY) -> ClaimStatus:
    """Try to claim ``key`` for a long lease and return the status."""
    return cache.claim(key, lease_seconds=LEASE).status


def assert_one_claim_wins(
    cache: DeduplicationCache, key: str, *, threads: int = 8, rounds: int = 20
) -> None:
    """Assert that of ``threads`` simultaneous claims on a key, exactly one is CLAIMED."""
    start = threading.Barrier(threads)

    def claim_at_once(round_key: str) -> ClaimStatus:
        start.wait(timeout=10)
        return cache.claim(round_key, lease_seconds=LEASE).status

    with ThreadPoolExecutor(max_workers=threads) as pool:
        for round_ in range(rounds):  # many rounds give a lost update many chances to show
            round_key = f"{key}:{round_}"
            futures = [pool.submit(claim_at_once, round_key) for _ in range(threads)]
            statuses = [future.result(timeout=10) for future in futures]
            assert statuses.count(ClaimStatus.CLAIMED) == 1, f"round {round_}: {statuses}"
            assert statuses.count(ClaimStatus.BUSY) == threads - 1


class DeduplicationContract:
    """Behaviour tests shared by every deduplication cache that remembers keys."""

    #: A lease short enough to watch run out on the cache's clock, long enough that a
    #: claim and the next command both happen inside it.
    short_lease: ClassVar[float] = 0.5

    def make_cache(self, request: pytest.FixtureRequest, **options: Any) -> DeduplicationCache:
        """Build the cache under test; ``options`` (e.g. ``done_ttl_seconds``) go to it."""
        raise NotImplementedError

    def make_ticker(self, request: pytest.FixtureRequest) -> Callable[[], None]:
        """Return what moves the cache's time on between two polls; real time needs nothing."""
        return lambda: None

    @pytest.fixture(name="make_cache")
    def fixture_make_cache(self, request: pytest.FixtureRequest) -> MakeCache:
        """Give a factory of caches of the kind under test."""
        return lambda **options: self.make_cache(request, **options)

    @pytest.fixture(name="cache")
    def fixture_cache(self, make_cache: MakeCache) -> DeduplicationCache:
        """Give a cache of the kind under test with its default settings."""
        return make_cache()

    @pytest.fixture(name="wait_until_claimable")
    def fixture_wait_until_claimable(self, request: pytest.FixtureRequest) -> WaitUntilClaimable:
        """Give a function polling (with a deadline) until a key can be claimed again."""
        tick = self.make_ticker(request)

        def wait(cache: DeduplicationCache, key: str = KEY, lease: float = LEASE) -> Claim:
            def attempt() -> Claim:
                tick()
                return cache.claim(key, lease_seconds=lease)

            return poll_until(
                attempt,
                lambda claim: claim.status is ClaimStatus.CLAIMED,
                timeout=5,
                interval=0.02,
                message=f"{key!r} claimable again",
            )

        return wait

    # -- claims -------------------------------------------------------------------------

    def test_the_cache_is_a_deduplication_cache(self, cache: DeduplicationCache) -> None:
        """The cache satisfies the ``DeduplicationCache`` protocol."""
        assert isinstance(cache, DeduplicationCache)

    def test_a_first_claim_succeeds_with_a_token(self, cache: DeduplicationCache) -> None:
        """Claiming a new key gives CLAIMED and a token, different for each claim."""
        first = claimed(cache, "a")
        second = claimed(cache, "b")
        assert first.token
        assert second.token
        assert first.token != second.token

    def test_a_leased_key_is_busy(self, cache: DeduplicationCache) -> None:
        """A second claim while the lease runs gives BUSY, without a token."""
        claimed(cache)
        assert cache.claim(KEY, lease_seconds=LEASE) == Claim(ClaimStatus.BUSY)

    def test_other_keys_are_independent(self, cache: DeduplicationCache) -> None:
        """A lease on one key does not block another key."""
        claimed(cache, "consumer-a:message-1")
        claimed(cache, "consumer-b:message-1")

    def test_exactly_one_of_many_racing_threads_claims_a_key(
        self, cache: DeduplicationCache
    ) -> None:
        """Eight threads claiming the same key at the same moment give exactly one CLAIMED."""
        assert_one_claim_wins(cache, KEY)

    # -- done and released keys -------------------------------------------------------

    def test_a_done_key_stays_done(self, cache: DeduplicationCache) -> None:
        """After ``mark_done`` every claim gives DONE, without a token."""
        cache.mark_done(KEY, claimed(cache).token)
        assert cache.claim(KEY, lease_seconds=LEASE) == Claim(ClaimStatus.DONE)
        assert cache.claim(KEY, lease_seconds=LEASE) == Claim(ClaimStatus.DONE)

    def test_a_done_key_outlives_the_lease(
        self, cache: DeduplicationCache, wait_until_claimable: WaitUntilClaimable
    ) -> None:
        """A key marked done during a short lease is still DONE after that lease would end."""
        cache.mark_done(KEY, claimed(cache, lease=self.short_lease).token)
        witness = "witness"  # claimed after the key's lease began, for as long: it ends later
        claimed(cache, witness, lease=self.short_lease)
        wait_until_claimable(cache, witness)
        assert status_of(cache) is ClaimStatus.DONE

    def test_a_released_key_can_be_claimed_again(self, cache: DeduplicationCache) -> None:
        """After ``release`` with the right token the key is claimable at once."""
        claim = claimed(cache)
        cache.release(KEY, claim.token)
        assert claimed(cache).token != claim.token

    def test_releasing_with_a_wrong_token_keeps_the_lease(self, cache: DeduplicationCache) -> None:
        """A release with someone else's token leaves the key BUSY."""
        claimed(cache)
        cache.release(KEY, "not-the-token")
        assert status_of(cache) is ClaimStatus.BUSY

    def test_a_done_key_is_forgotten_after_its_ttl(
        self, make_cache: MakeCache, wait_until_claimable: WaitUntilClaimable
    ) -> None:
        """A key marked done is claimable again once ``done_ttl_seconds`` has passed."""
        cache = make_cache(done_ttl_seconds=self.short_lease)
        cache.mark_done(KEY, claimed(cache).token)
        assert status_of(cache) is ClaimStatus.DONE
        wait_until_claimable(cache)

    def test_a_done_ttl_under_a_millisecond_is_refused(self, make_cache: MakeCache) -> None:
        """A done TTL of 0 is refused with ConfigurationError naming it."""
        with pytest.raises(ConfigurationError, match="done_ttl_seconds=0"):
            make_cache(done_ttl_seconds=0)

    # -- leases that run out, and the heartbeat that extends them ----------------------

    def test_an_expired_lease_lets_a_redelivery_run(
        self, cache: DeduplicationCache, wait_until_claimable: WaitUntilClaimable
    ) -> None:
        """A worker that crashed mid-handler holds the key only until its lease runs out."""
        claimed(cache, lease=self.short_lease)
        assert status_of(cache) is ClaimStatus.BUSY
        wait_until_claimable(cache)

    def test_extending_with_the_right_token_keeps_the_key_busy(
        self, cache: DeduplicationCache, wait_until_claimable: WaitUntilClaimable
    ) -> None:
        """A lease extended with its token is still BUSY after the original lease ran out."""
        claim = claimed(cache, lease=self.short_lease)
        witness = "witness"  # claimed after the key, for as long: it ends later
        claimed(cache, witness, lease=self.short_lease)
        cache.extend(KEY, claim.token, lease_seconds=LEASE)
        wait_until_claimable(cache, witness)
        assert status_of(cache) is ClaimStatus.BUSY

    def test_extending_with_a_wrong_token_does_not(
        self, cache: DeduplicationCache, wait_until_claimable: WaitUntilClaimable
    ) -> None:
        """An extend with someone else's token leaves the lease to run out as claimed."""
        claimed(cache, lease=self.short_lease)
        cache.extend(KEY, "not-the-token", lease_seconds=LEASE)
        wait_until_claimable(cache)

    def test_an_expired_lease_cannot_be_extended(
        self, cache: DeduplicationCache, wait_until_claimable: WaitUntilClaimable
    ) -> None:
        """Once a lease ran out the claim is lost: extending it, unclaimed since, does nothing.

        The worker's heartbeat came too late; another worker may already be running the
        redelivered message, so the key must not look held by the first one again.
        """
        claim = claimed(cache, lease=self.short_lease)
        witness = "witness"  # claimed after the key, for as long: it ends later
        claimed(cache, witness, lease=self.short_lease)
        wait_until_claimable(cache, witness)
        cache.extend(KEY, claim.token, lease_seconds=LEASE)
        assert status_of(cache) is ClaimStatus.CLAIMED

    def test_a_stale_worker_cannot_extend_or_release_the_new_lease(
        self, cache: DeduplicationCache, wait_until_claimable: WaitUntilClaimable
    ) -> None:
        """Once a lease expired and another worker took the key, the first token changes nothing."""
        stale = claimed(cache, lease=self.short_lease)
        wait_until_claimable(cache, KEY, self.short_lease)  # a fresh worker's short lease
        witness = "witness"  # claimed after the fresh lease, for as long: it ends later
        claimed(cache, witness, lease=self.short_lease)
        cache.release(KEY, stale.token)
        assert status_of(cache) is ClaimStatus.BUSY
        cache.extend(KEY, stale.token, lease_seconds=3_600)
        wait_until_claimable(cache, witness)
        wait_until_claimable(cache)  # the fresh lease ran out as claimed, not in an hour

    # -- reachability ------------------------------------------------------------------

    def test_ping_answers(self, cache: DeduplicationCache) -> None:
        """Ping returns quietly on a cache that answers."""
        cache.ping()
