"""InMemoryDeduplicationCache: the deduplication contract on a fake clock, and exact lease ends."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from melange import InMemoryDeduplicationCache
from melange.consuming.dedup import ClaimStatus
from tests.contract.dedup_contract import KEY, LEASE, DeduplicationContract, claimed, status_of
from tests.support.clock import FakeClock


class TestInMemoryDeduplicationCache(DeduplicationContract):
    """The in-memory cache honours the deduplication contract, its time moved by hand."""

    def make_cache(
        self, request: pytest.FixtureRequest, **options: Any
    ) -> InMemoryDeduplicationCache:
        """Build an in-memory cache on the test's fake clock."""
        clock: FakeClock = request.getfixturevalue("clock")
        return InMemoryDeduplicationCache(clock=clock, **options)

    def make_ticker(self, request: pytest.FixtureRequest) -> Callable[[], None]:
        """Advance the fake clock by a tenth of the short lease at each poll."""
        clock: FakeClock = request.getfixturevalue("clock")
        return lambda: clock.advance(self.short_lease / 10)


# -- what only a clock the test controls can show: leases end exactly when they should ----


@pytest.fixture(name="timed_cache")
def fixture_timed_cache(clock: FakeClock) -> InMemoryDeduplicationCache:
    """Give an in-memory cache on the fake clock that remembers done keys for an hour."""
    return InMemoryDeduplicationCache(done_ttl_seconds=3_600, clock=clock)


def test_a_lease_ends_exactly_when_it_runs_out(
    timed_cache: InMemoryDeduplicationCache, clock: FakeClock
) -> None:
    """A key is BUSY until the last instant of its lease and claimable at its end."""
    claimed(timed_cache)
    clock.advance(LEASE - 0.1)
    assert status_of(timed_cache) is ClaimStatus.BUSY
    clock.advance(0.1)
    claimed(timed_cache)


def test_an_extended_lease_ends_a_full_lease_after_the_extension(
    timed_cache: InMemoryDeduplicationCache, clock: FakeClock
) -> None:
    """A lease extended with its token lasts ``lease_seconds`` from the extension, no more."""
    claim = claimed(timed_cache)
    clock.advance(LEASE - 1)
    timed_cache.extend(KEY, claim.token, lease_seconds=LEASE)
    clock.advance(LEASE - 1)  # 2 * LEASE - 2 since the claim: the original lease is long gone
    assert status_of(timed_cache) is ClaimStatus.BUSY
    clock.advance(1)
    claimed(timed_cache)


def test_an_extension_at_the_instant_the_lease_ends_is_too_late(
    timed_cache: InMemoryDeduplicationCache, clock: FakeClock
) -> None:
    """At the instant a lease runs out the claim is lost: extending it then does nothing."""
    claim = claimed(timed_cache)
    clock.advance(LEASE)
    timed_cache.extend(KEY, claim.token, lease_seconds=LEASE)
    claimed(timed_cache)


def test_a_done_key_is_forgotten_exactly_after_its_ttl(
    timed_cache: InMemoryDeduplicationCache, clock: FakeClock
) -> None:
    """A key marked done is DONE until ``done_ttl_seconds`` have passed, then claimable."""
    timed_cache.mark_done(KEY, claimed(timed_cache).token)
    clock.advance(3_600 - 1)
    assert status_of(timed_cache) is ClaimStatus.DONE
    clock.advance(1)
    claimed(timed_cache)


def test_the_done_ttl_defaults_to_sqs_retention(clock: FakeClock) -> None:
    """By default a done key is remembered for 14 days, the longest SQS keeps a message."""
    cache = InMemoryDeduplicationCache(clock=clock)
    cache.mark_done(KEY, claimed(cache).token)
    clock.advance(14 * 24 * 3600 - 1)
    assert status_of(cache) is ClaimStatus.DONE
    clock.advance(1)
    claimed(cache)
