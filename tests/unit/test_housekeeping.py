"""The runner's housekeeping: acknowledgements sent ten at a time, and the heartbeat.

Both on the injected fake clock, and each test on both halves of the consume core (the
threaded twin is generated from the asyncio one).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from melange import QueuePublisher
from melange.consuming.dedup import ClaimStatus, DeduplicationCache, InMemoryDeduplicationCache
from melange.consuming.outcomes import DispatcherStats, HandlingSetup, InFlight
from melange.exceptions import BackendUnavailableError
from melange.messages import ReceivedMessage
from melange.options import DispatcherOptions
from melange.serializers import JsonSerializer, SerializerRegistry
from tests.support import halves
from tests.support.clock import FakeClock
from tests.support.faults import OutageBackend, SwitchableCache

QUEUE = "acks"
#: The half of the consume core the running test uses (set by ``fixture_half``).
HALF: list[halves.Half] = ["threads"]


@pytest.fixture(autouse=True, params=halves.HALVES, name="half")
def fixture_half(request: pytest.FixtureRequest) -> Iterator[halves.Half]:
    """Run every test of this module on the threaded half, then on the asyncio half."""
    HALF[0] = request.param
    yield request.param
    HALF[0] = "threads"


#: What the broker's outage looks like to the backend's callers.
UNREACHABLE = BackendUnavailableError(
    "the test broker is unreachable", operation="ChangeMessageVisibilityBatch"
)
#: The visibility timeout (and lease) the heartbeat renews, in seconds.
VISIBILITY = 30
KEY = "consumer:message-1"


class AckCounter(DispatcherStats):
    """Stats that also record each acknowledged count they are given, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: list[int] = []

    def count(self, name: str, amount: int = 1, *, reason: str = "") -> None:
        """Count as usual, and keep each acknowledged amount."""
        super().count(name, amount, reason=reason)
        if name == "acknowledged":
            self.counts.append(amount)

    @property
    def total(self) -> int:
        """All acknowledgements reported so far."""
        return sum(self.counts)


@pytest.fixture(name="backend")
def fixture_backend(clock: FakeClock) -> OutageBackend:
    """Give an in-memory backend on the fake clock with one declared queue, up for now."""
    backend = OutageBackend(UNREACHABLE, clock=clock)
    backend.declare_queue(QUEUE, visibility_timeout=300)
    return backend


def publish(backend: OutageBackend, count: int) -> None:
    """Publish ``count`` JSON messages to the queue."""
    registry = SerializerRegistry({"serializers": {"json": JsonSerializer}})
    QueuePublisher(registry, backend).publish_many(QUEUE, [{"n": n} for n in range(count)])


@pytest.fixture(name="handles")
def fixture_handles(backend: OutageBackend) -> list[str]:
    """Give the receipt handles of 25 messages published to and received from the queue."""
    publish(backend, 25)
    handles: list[str] = []
    while batch := backend.receive(QUEUE, max_messages=10):
        handles.extend(message.receipt_handle for message in batch)
    assert len(handles) == 25
    return handles


@pytest.fixture(name="acknowledged")
def fixture_acknowledged() -> AckCounter:
    """Give stats that record how many acknowledgements each flush reports."""
    return AckCounter()


@pytest.fixture(name="batcher")
def fixture_batcher(backend: OutageBackend, clock: FakeClock, acknowledged: AckCounter) -> Any:
    """Give the queue's acknowledgements, sent at once when full, on the fake clock."""
    return halves.acks(HALF[0], backend, QUEUE, acknowledged, clock=clock)


# -- Acks ------------------------------------------------------------------------------


def test_every_tenth_handle_sends_a_batch(
    batcher: Any,
    backend: OutageBackend,
    handles: list[str],
    acknowledged: AckCounter,
) -> None:
    """The 10th and 20th handles each delete a batch of ten at once; the rest wait."""
    for position, handle in enumerate(handles, start=1):
        batcher.add(handle)
        deleted = (position // 10) * 10
        assert backend.message_count(QUEUE) == 25 - deleted, f"after handle {position}"
    assert acknowledged.counts == [10, 10]


def test_flush_sends_what_is_pending(
    batcher: Any,
    backend: OutageBackend,
    handles: list[str],
    acknowledged: AckCounter,
) -> None:
    """``flush`` deletes the handles short of a full batch, and a second flush sends nothing."""
    for handle in handles:
        batcher.add(handle)
    assert backend.message_count(QUEUE) == 5
    batcher.flush()
    batcher.flush()
    assert backend.message_count(QUEUE) == 0
    assert acknowledged.counts == [10, 10, 5]


def test_flush_due_waits_until_the_oldest_handle_is_old_enough(
    batcher: Any,
    backend: OutageBackend,
    handles: list[str],
    clock: FakeClock,
    acknowledged: AckCounter,
) -> None:
    """``flush_due`` sends the remaining 5 only once the oldest waited ``max_age`` seconds."""
    for handle in handles[:20]:
        batcher.add(handle)
    batcher.add(handles[20])  # the oldest pending handle: the age counts from here
    clock.advance(0.5)
    for handle in handles[21:]:
        batcher.add(handle)
    batcher.flush(1.0)
    assert backend.message_count(QUEUE) == 5
    clock.advance(0.4)
    batcher.flush(1.0)
    assert backend.message_count(QUEUE) == 5
    clock.advance(0.1)
    batcher.flush(1.0)
    assert backend.message_count(QUEUE) == 0
    assert acknowledged.total == 25


def test_flush_due_with_nothing_pending_sends_nothing(
    batcher: Any, clock: FakeClock, acknowledged: AckCounter
) -> None:
    """An empty batcher reports no acknowledgement however much time passes."""
    clock.advance(3_600)
    batcher.flush(1.0)
    assert acknowledged.counts == []


def test_refused_handles_are_not_counted(
    batcher: Any,
    backend: OutageBackend,
    handles: list[str],
    acknowledged: AckCounter,
) -> None:
    """Handles the backend reports as failed are left out of the acknowledged count."""
    for handle in handles[:5]:
        batcher.add(handle)
    batcher.add("not-a-receipt-handle")
    batcher.flush()
    assert backend.message_count(QUEUE) == 20
    assert acknowledged.counts == [5]


def test_a_full_batch_with_refused_handles_counts_only_the_deleted(
    batcher: Any,
    backend: OutageBackend,
    handles: list[str],
    acknowledged: AckCounter,
) -> None:
    """A batch of ten filled out with bogus handles deletes and counts only the real ones."""
    for handle in handles[:7]:
        batcher.add(handle)
    for n in range(3):
        batcher.add(f"bogus-{n}")
    assert backend.message_count(QUEUE) == 18
    assert acknowledged.counts == [7]


def test_handles_whose_delete_failed_go_out_with_the_next_flush(
    batcher: Any,
    backend: OutageBackend,
    handles: list[str],
    acknowledged: AckCounter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A flush the broker could not take keeps its handles, sent with the next flush."""
    for handle in handles[:3]:
        batcher.add(handle)
    backend.down = {"acknowledge"}
    batcher.flush()
    assert backend.message_count(QUEUE) == 25
    assert acknowledged.counts == []
    assert "acknowledging 3 messages failed" in caplog.text
    backend.down.clear()
    batcher.add(handles[3])
    batcher.flush()
    assert backend.message_count(QUEUE) == 21
    assert acknowledged.counts == [4]


def test_a_full_batch_is_signalled_for_the_background_sender_not_sent(
    backend: OutageBackend, clock: FakeClock, handles: list[str], acknowledged: AckCounter
) -> None:
    """With ``wake``, the 10th handle wakes the sender; ``flush`` then sends the full batch."""
    wake = halves.event(HALF[0])
    batcher = halves.acks(HALF[0], backend, QUEUE, acknowledged, wake=wake, clock=clock)
    for handle in handles[:9]:
        batcher.add(handle)
    assert not wake.is_set()
    for handle in handles[9:12]:
        batcher.add(handle)
    assert wake.is_set()
    assert backend.message_count(QUEUE) == 25  # nothing sent by the adding thread
    batcher.flush(3600.0)  # full, however young
    assert backend.message_count(QUEUE) == 13
    assert acknowledged.counts == [12]


def test_a_sender_four_batches_behind_makes_the_adding_thread_send(
    backend: OutageBackend, clock: FakeClock, acknowledged: AckCounter
) -> None:
    """When signalled batches pile up to 40 handles, the thread adding the 40th sends them all."""
    publish(backend, 40)
    received = [m for _ in range(4) for m in backend.receive(QUEUE, max_messages=10)]
    wake = halves.event(HALF[0])  # no sender comes
    batcher = halves.acks(HALF[0], backend, QUEUE, acknowledged, wake=wake, clock=clock)
    for message in received[:39]:
        batcher.add(message.receipt_handle)
    assert acknowledged.counts == []
    batcher.add(received[39].receipt_handle)
    assert acknowledged.counts == [40]


# -- the heartbeat ------------------------------------------------------------------------


def running_for(
    backend: OutageBackend, clock: FakeClock, seconds: float, cache: DeduplicationCache
) -> tuple[Any, InFlight]:
    """Receive a message, claim its key; give a runner handling it, extended ``seconds`` ago."""
    publish(backend, 1)
    [received] = backend.receive(QUEUE, max_messages=1, visibility_timeout=VISIBILITY)
    claim = cache.claim(KEY, lease_seconds=VISIBILITY)
    then = clock() - seconds
    flight = InFlight(received, then, then, claims={KEY: claim.token})
    registry = SerializerRegistry({"serializers": {"json": JsonSerializer}})
    options = DispatcherOptions(visibility_timeout=VISIBILITY)
    setup = HandlingSetup(registry, [], options, clock=clock)
    runner = halves.queue_runner(HALF[0], backend, QUEUE, setup, DispatcherStats(), cache=cache)
    runner.in_flight[received.receipt_handle] = flight
    return runner, flight


def visible(backend: OutageBackend) -> list[ReceivedMessage]:
    """Receive what is visible on the queue now (hiding it again for the visibility timeout)."""
    return backend.receive(QUEUE, max_messages=10, visibility_timeout=VISIBILITY)


def test_the_heartbeat_keeps_a_due_message_hidden_and_its_lease_held(
    backend: OutageBackend, clock: FakeClock
) -> None:
    """A message extended half a timeout ago gets a new timeout, and its lease a new lease."""
    cache = InMemoryDeduplicationCache(clock=clock)
    heartbeat, flight = running_for(backend, clock, VISIBILITY / 2, cache)
    before = flight.extended_at
    clock.advance(VISIBILITY - 10)
    heartbeat.extend_due()
    clock.advance(20)  # 40 s after the receive: the first timeout and lease are over
    assert visible(backend) == []
    assert cache.claim(KEY, lease_seconds=VISIBILITY).status is ClaimStatus.BUSY
    assert flight.extended_at > before


def test_the_heartbeat_leaves_a_message_extended_recently_alone(
    backend: OutageBackend, clock: FakeClock
) -> None:
    """A message whose visibility was set under half a timeout ago is not extended."""
    cache = InMemoryDeduplicationCache(clock=clock)
    heartbeat, flight = running_for(backend, clock, 0, cache)
    before = flight.extended_at
    heartbeat.extend_due()
    clock.advance(VISIBILITY)
    assert len(visible(backend)) == 1
    assert cache.claim(KEY, lease_seconds=VISIBILITY).status is ClaimStatus.CLAIMED
    assert flight.extended_at == before


def test_a_broker_outage_skips_the_extension_and_its_leases(
    backend: OutageBackend, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """While the broker is down the heartbeat warns, and extends neither message nor lease."""
    cache = InMemoryDeduplicationCache(clock=clock)
    heartbeat, flight = running_for(backend, clock, VISIBILITY / 2, cache)
    before = flight.extended_at
    backend.down = {"change_visibility"}
    heartbeat.extend_due()
    backend.down.clear()
    clock.advance(VISIBILITY)
    assert "heartbeat could not extend 1 messages" in caplog.text
    assert flight.extended_at == before  # due again at the next beat
    assert cache.claim(KEY, lease_seconds=VISIBILITY).status is ClaimStatus.CLAIMED
    assert len(visible(backend)) == 1


def test_an_unreachable_cache_does_not_stop_the_visibility_extension(
    backend: OutageBackend, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A lease the cache cannot renew is reported; the message's visibility is extended still."""
    cache = SwitchableCache()
    heartbeat, _ = running_for(backend, clock, VISIBILITY / 2, cache)
    cache.reachable = False
    clock.advance(VISIBILITY - 10)
    with caplog.at_level(logging.WARNING, logger="melange.consuming.runner"):
        heartbeat.extend_due()
    clock.advance(20)  # 40 s after the receive: only the extension keeps it hidden
    assert f"heartbeat could not extend the lease on {KEY}" in caplog.text
    assert visible(backend) == []
