"""A race both deduplication caches must win: many threads claiming one key at once."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from melange.dedup import ClaimStatus, DeduplicationCache


def assert_one_claim_wins(
    cache: DeduplicationCache, key: str, *, threads: int = 8, rounds: int = 20
) -> None:
    """Assert that of ``threads`` simultaneous claims on a key, exactly one is CLAIMED."""
    start = threading.Barrier(threads)

    def claim_at_once(round_key: str) -> ClaimStatus:
        start.wait(timeout=10)
        return cache.claim(round_key, lease_seconds=30).status

    with ThreadPoolExecutor(max_workers=threads) as pool:
        for round_ in range(rounds):  # many rounds give a lost update many chances to show
            round_key = f"{key}:{round_}"
            futures = [pool.submit(claim_at_once, round_key) for _ in range(threads)]
            statuses = [future.result(timeout=10) for future in futures]
            assert statuses.count(ClaimStatus.CLAIMED) == 1, f"round {round_}: {statuses}"
            assert statuses.count(ClaimStatus.BUSY) == threads - 1
