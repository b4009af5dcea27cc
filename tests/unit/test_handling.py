"""Handling decisions and settling, one message at a time, on InMemoryBackend.

``MessageHandling.handle`` turns a received message into an ``Outcome``; ``settle``
carries the outcome out. Every test runs on both halves of the consume core (the
threaded twin is generated from the asyncio one), without a running dispatcher.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from melange import Consumer, QueuePublisher, wire
from melange.backends import InMemoryBackend
from melange.consuming.dedup import (
    CacheProbe,
    ClaimStatus,
    DeduplicationCache,
    InMemoryDeduplicationCache,
    RedisDeduplicationCache,
)
from melange.consuming.outcomes import (
    Action,
    DispatcherStats,
    HandlingSetup,
    InFlight,
    Outcome,
    message_context,
)
from melange.exceptions import BackendUnavailableError
from melange.messages import ReceivedMessage
from melange.options import AckPolicy, Backoff, DispatcherOptions
from melange.serializers import JsonSerializer, SerializerRegistry
from tests.support import halves
from tests.support.clock import FakeClock
from tests.support.consumers import OnlyLists, Recorder
from tests.support.faults import OutageBackend, SwitchableCache
from tests.support.servers import free_port

#: The half of the consume core the running test uses (set by ``fixture_half``).
HALF: list[halves.Half] = ["threads"]


@pytest.fixture(autouse=True, params=halves.HALVES, name="half")
def fixture_half(request: pytest.FixtureRequest) -> Iterator[halves.Half]:
    """Run every test of this module on the threaded half, then on the asyncio half."""
    HALF[0] = request.param
    yield request.param
    HALF[0] = "threads"


#: A fixed backoff, so delays can be asserted exactly.
FIXED = Backoff(base=30, cap=30, jitter=0)
OPTIONS = DispatcherOptions(backoff=FIXED)
#: What a broker outage looks like to the backend's callers.
UNREACHABLE = BackendUnavailableError("the test broker is unreachable", operation="test")


@pytest.fixture(name="registry")
def fixture_registry() -> SerializerRegistry:
    """Give a JSON-only registry."""
    return SerializerRegistry({"serializers": {"json": JsonSerializer}})


@pytest.fixture(name="backend")
def fixture_backend(clock: FakeClock) -> InMemoryBackend:
    """Give an in-memory backend on the fake clock, with 'q' (DLQ after 3) and 'plain'."""
    backend = InMemoryBackend(clock=clock)
    backend.declare_queue("q", dead_letter_queue="q-dlq", max_receive_count=3)
    backend.declare_queue("plain")
    return backend


def receive_one(registry: SerializerRegistry, backend: InMemoryBackend, queue: str = "q") -> Any:
    """Publish {"n": 1} to ``queue`` and return it as received."""
    QueuePublisher(registry, backend).publish(queue, {"n": 1})
    [received] = backend.receive(queue)
    return received


def handling(
    registry: SerializerRegistry,
    backend: InMemoryBackend,
    *consumers: Consumer,
    options: DispatcherOptions = OPTIONS,
    cache: DeduplicationCache | None = None,
    **hooks: Any,
) -> Any:
    """Build the handling of 'q' with ``consumers`` and the fixed backoff unless told otherwise."""
    setup = HandlingSetup(registry, list(consumers), options, **hooks)
    return halves.message_handling(
        HALF[0], backend, "q", setup, DispatcherStats(), cache=cache, probe=CacheProbe(cache)
    )


def flight(received: ReceivedMessage) -> InFlight:
    """Start handling ``received`` at time 0."""
    return InFlight(received, 0.0, 0.0)


# -- deciding ---------------------------------------------------------------------------


def test_a_message_every_consumer_handled_is_to_be_acknowledged(
    registry: SerializerRegistry, backend: InMemoryBackend
) -> None:
    """Success of every accepting consumer gives ACK, and each consumer ran once."""
    first, second = Recorder(), Recorder()
    received = receive_one(registry, backend)
    assert handling(registry, backend, first, second).handle(flight(received)) == Outcome(
        Action.ACK
    )
    assert first.handled == second.handled == [1]


def test_an_unreadable_message_is_to_be_dead_lettered_with_the_error(
    registry: SerializerRegistry, backend: InMemoryBackend
) -> None:
    """A message no serializer reads gives DEAD_LETTER whose reason names the error class."""
    backend.send_raw("q", "not json", {"serializer_id": 99})
    [received] = backend.receive("q")
    outcome = handling(registry, backend, Recorder()).handle(flight(received))
    assert outcome.action is Action.DEAD_LETTER
    assert outcome.reason.startswith("SerializerNotFoundError: ")


@pytest.mark.parametrize(
    ("ack_unhandled", "action"), [(False, Action.DEAD_LETTER), (True, Action.ACK)]
)
def test_a_message_no_consumer_accepts_follows_ack_unhandled(
    registry: SerializerRegistry, backend: InMemoryBackend, ack_unhandled: bool, action: Action
) -> None:
    """Nobody accepting gives DEAD_LETTER, or ACK with ack_unhandled; the reason says why."""
    options = DispatcherOptions(ack_unhandled=ack_unhandled)
    received = receive_one(registry, backend)
    outcome = handling(registry, backend, OnlyLists(), options=options).handle(flight(received))
    assert outcome.action is action
    assert "no consumer accepts dict: only-lists accepts list" in outcome.reason


def test_a_failure_is_to_be_retried_after_the_backoff_and_reported(
    registry: SerializerRegistry, backend: InMemoryBackend
) -> None:
    """A raising consumer gives RETRY after the backoff's delay; on_exception sees it."""
    seen: list[tuple[str, Any, int]] = []
    received = receive_one(registry, backend)
    outcome = handling(
        registry,
        backend,
        Recorder(failing={1: 1}),
        on_exception=lambda exc, message, r: seen.append((str(exc), message, r.receive_count)),
    ).handle(flight(received))
    assert outcome == Outcome(Action.RETRY, delay=30, reason="RuntimeError: handler failed on 1")
    assert seen == [("handler failed on 1", {"n": 1}, 1)]


def test_with_ack_policy_always_a_failure_is_to_be_acknowledged(
    registry: SerializerRegistry, backend: InMemoryBackend
) -> None:
    """AckPolicy.ALWAYS turns a failure into ACK (melange 7's always_ack)."""
    options = DispatcherOptions(ack_policy=AckPolicy.ALWAYS)
    received = receive_one(registry, backend)
    outcome = handling(registry, backend, Recorder(failing={1: 1}), options=options).handle(
        flight(received)
    )
    assert outcome.action is Action.ACK


def test_with_a_cache_a_consumer_runs_once_per_message_id(
    registry: SerializerRegistry, backend: InMemoryBackend
) -> None:
    """A message id already handled is skipped (ACK); one being handled elsewhere is LEFT."""
    cache = InMemoryDeduplicationCache()
    recorder = Recorder()
    steps = handling(registry, backend, recorder, cache=cache)
    received = receive_one(registry, backend)
    again = ReceivedMessage("q", "another-handle", "b-2", received.body, received.attributes)
    assert steps.handle(flight(received)).action is Action.ACK
    assert steps.handle(flight(again)).action is Action.ACK
    assert recorder.handled == [1]
    message_id = wire.unwrap(received).message_id
    cache.claim(f"other:{message_id}", lease_seconds=30)
    busy = Recorder()
    busy.name = "other"
    busy_flight = flight(again)
    assert handling(registry, backend, busy, cache=cache).handle(busy_flight).action is Action.LEAVE
    assert busy.handled == []
    assert busy_flight.claims == {}


def test_an_unreachable_cache_releases_the_message_when_told_to_redeliver(
    registry: SerializerRegistry, backend: InMemoryBackend
) -> None:
    """With on_cache_unavailable='redeliver', a cache that does not answer gives RELEASE."""
    cache = RedisDeduplicationCache(f"redis://127.0.0.1:{free_port()}/0", socket_timeout=0.5)
    options = DispatcherOptions(on_cache_unavailable="redeliver")
    recorder = Recorder()
    steps = handling(registry, backend, recorder, cache=cache, options=options)
    received = receive_one(registry, backend)
    assert steps.handle(flight(received)).action is Action.RELEASE
    assert not steps.probe.available
    assert recorder.handled == []


def test_the_context_of_an_sns_notification_names_the_topic_and_subject() -> None:
    """A message in an SNS envelope (raw delivery off) gives its topic ARN and subject."""
    arn = "arn:aws:sns:us-east-1:123456789012:orders"
    body = wire.sns_notification_body(
        topic_arn=arn,
        sns_message_id="sns-1",
        message='{"n": 1}',
        attributes={"message_id": "m-1", "serializer_id": 1, "manifest": "json", "shop": "x"},
        subject="Order placed",
    )
    received = ReceivedMessage("billing", "r-1", "b-1", body, receive_count=2)
    envelope, origin = wire.unwrap_with_origin(received)
    context = message_context(received, envelope, origin)
    assert (context.message_id, context.broker_message_id, context.receive_count) == (
        "m-1",
        "b-1",
        2,
    )
    assert (context.queue_name, context.attributes) == ("billing", {"shop": "x"})
    assert (context.sns_topic_arn, context.topic_name, context.sns_subject) == (
        arn,
        "orders",
        "Order placed",
    )


# -- settling ---------------------------------------------------------------------------


def settler(backend: InMemoryBackend, queue: str = "q", **options: Any) -> Any:
    """Build a handling that settles on ``queue`` and acknowledges at once (fixed backoff)."""
    registry = SerializerRegistry({"serializers": {"json": JsonSerializer}})
    setup = HandlingSetup(registry, [], DispatcherOptions(backoff=FIXED, **options))
    return halves.message_handling(HALF[0], backend, queue, setup, DispatcherStats())


def test_retry_hides_the_message_for_the_outcome_s_delay(
    registry: SerializerRegistry, backend: InMemoryBackend, clock: FakeClock
) -> None:
    """RETRY makes the message visible again after exactly its delay, and counts it."""
    received = receive_one(registry, backend)
    settle = settler(backend)
    settle.settle(received, Outcome(Action.RETRY, delay=10, reason="boom"))
    clock.advance(9)
    assert backend.receive("q") == []
    clock.advance(1)
    [again] = backend.receive("q")
    assert again.receive_count == 2
    assert settle.stats.retried == 1


def test_retry_on_the_last_allowed_receive_dead_letters_with_the_reason(
    registry: SerializerRegistry, backend: InMemoryBackend, clock: FakeClock
) -> None:
    """A RETRY on receive max_receive_count moves the message to the DLQ with its reason."""
    received = receive_one(registry, backend)
    for _ in range(2):
        backend.change_visibility("q", [received.receipt_handle], 0)
        [received] = backend.receive("q")
    assert received.receive_count == 3
    settle = settler(backend)
    settle.settle(received, Outcome(Action.RETRY, delay=10, reason="RuntimeError: boom"))
    [dead] = backend.receive("q-dlq")
    assert dead.attributes["melange_error"] == "RuntimeError: boom"
    assert (settle.stats.dead_lettered, settle.stats.retried) == (1, 0)
    assert backend.message_count("q") == 0


def test_a_failure_on_the_last_allowed_receive_is_decided_a_dead_letter_by_handle(
    registry: SerializerRegistry, backend: InMemoryBackend
) -> None:
    """The handling says DEAD_LETTER, not RETRY, so the span and metrics name what happens."""
    received = receive_one(registry, backend)
    for _ in range(2):
        backend.change_visibility("q", [received.receipt_handle], 0)
        [received] = backend.receive("q")
    outcome = handling(registry, backend, Recorder(failing={1: 1})).handle(flight(received))
    assert (outcome.action, outcome.reason) == (
        Action.DEAD_LETTER,
        "RuntimeError: handler failed on 1",
    )


def test_dead_letter_without_a_dead_letter_queue_hides_the_message_for_the_backoff(
    registry: SerializerRegistry, backend: InMemoryBackend, clock: FakeClock
) -> None:
    """Without a DLQ, DEAD_LETTER leaves the message hidden for the backoff, uncounted."""
    received = receive_one(registry, backend, "plain")
    settle = settler(backend, "plain")
    settle.settle(received, Outcome(Action.DEAD_LETTER, reason="unreadable"))
    clock.advance(29)
    assert backend.receive("plain") == []
    clock.advance(1)
    assert len(backend.receive("plain")) == 1
    assert settle.stats.dead_lettered == 0


def test_release_and_leave(registry: SerializerRegistry, backend: InMemoryBackend) -> None:
    """RELEASE makes the message visible at once; LEAVE does nothing but count it."""
    received = receive_one(registry, backend)
    settle = settler(backend)
    settle.settle(received, Outcome(Action.LEAVE))
    assert backend.receive("q") == []
    settle.settle(received, Outcome(Action.RELEASE))
    assert len(backend.receive("q")) == 1
    assert (settle.stats.left, settle.stats.released) == (1, 1)


def test_acknowledge_goes_through_the_given_batch(
    registry: SerializerRegistry, backend: InMemoryBackend
) -> None:
    """With a batch of acknowledgements, ACK waits in it until the batch is flushed."""
    received = receive_one(registry, backend)
    stats = DispatcherStats()
    acks = halves.acks(HALF[0], backend, "q", stats)
    setup = HandlingSetup(registry, [], OPTIONS)
    settle = halves.message_handling(HALF[0], backend, "q", setup, stats, acks=acks)
    settle.settle(received, Outcome(Action.ACK))
    assert (backend.message_count("q"), stats.acknowledged) == (1, 0)
    acks.flush()
    assert (backend.message_count("q"), stats.acknowledged) == (0, 1)


def test_after_acknowledging_on_receipt_a_failure_is_only_logged(
    registry: SerializerRegistry, backend: InMemoryBackend, caplog: pytest.LogCaptureFixture
) -> None:
    """With AckPolicy.ON_RECEIPT, settling a failure touches nothing and logs an ERROR."""
    received = receive_one(registry, backend)
    settle = settler(backend, ack_policy=AckPolicy.ON_RECEIPT)
    with caplog.at_level(logging.ERROR, logger="melange.consuming.handling"):
        settle.settle(received, Outcome(Action.RETRY, delay=1, reason="RuntimeError: boom"))
    [record] = caplog.records
    assert record.name == "melange.consuming.handling"
    assert "acknowledged on receipt" in record.getMessage()
    assert settle.stats.retried == 0


# -- what goes wrong around the handler: filters, the cache, the broker -----------------


class PickyConsumer(Consumer):
    """A consumer whose own filter raises, as a user's ``accepts`` override can."""

    def __init__(self) -> None:
        super().__init__(on_message=lambda message: None, name="picky")

    def accepts(self, message: Any) -> bool:
        """Fail to decide."""
        raise ValueError("cannot tell")


def test_a_filter_that_raises_is_a_failure_to_retry(
    registry: SerializerRegistry, backend: InMemoryBackend
) -> None:
    """A consumer whose ``accepts`` raises gives RETRY after the backoff, naming the error."""
    received = receive_one(registry, backend)
    outcome = handling(registry, backend, PickyConsumer()).handle(flight(received))
    assert outcome == Outcome(Action.RETRY, delay=30, reason="ValueError: cannot tell")


def test_a_cache_lost_after_the_handler_ran_still_acknowledges(
    registry: SerializerRegistry, backend: InMemoryBackend, caplog: pytest.LogCaptureFixture
) -> None:
    """A cache that stops answering while the handler runs leaves the message ACKed, and warns."""
    cache = SwitchableCache()

    def handle(message: Any) -> None:
        cache.reachable = False  # the cache goes down while the handler runs

    received = receive_one(registry, backend)
    lost = flight(received)
    outcome = handling(registry, backend, Consumer(handle, name="c"), cache=cache).handle(lost)
    assert outcome.action is Action.ACK
    assert "could not record c:" in caplog.text
    assert lost.claims == {}


def test_a_retry_whose_redrive_policy_cannot_be_read_is_retried(
    registry: SerializerRegistry, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A RETRY on the last receive, redrive policy unreadable, is retried, not dead-lettered."""
    backend = OutageBackend(UNREACHABLE, clock=clock)
    backend.declare_queue("q", dead_letter_queue="q-dlq", max_receive_count=1)
    received = receive_one(registry, backend)
    backend.down = {"redrive_policy"}
    settle = settler(backend)
    settle.settle(received, Outcome(Action.RETRY, delay=10, reason="RuntimeError: boom"))
    assert (settle.stats.retried, settle.stats.dead_lettered) == (1, 0)
    assert "could not read the redrive policy of 'q'" in caplog.text
    assert backend.message_count("q-dlq") == 0


def test_a_release_the_broker_refuses_is_logged_and_not_counted(
    registry: SerializerRegistry, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Releasing while the broker is down warns and counts nothing; releasing nothing is a no-op."""
    backend = OutageBackend(UNREACHABLE, clock=clock)
    backend.declare_queue("q")
    received = receive_one(registry, backend)
    backend.down = {"change_visibility"}
    settle = settler(backend)
    settle.release([])
    settle.release([received])
    assert settle.stats.released == 0
    [warning] = caplog.records
    assert "could not release 1 messages" in warning.getMessage()


# -- the branches each half must take: caches, acknowledging on receipt, unreadable wire --


def test_a_failed_handler_releases_its_claim_for_the_next_try(
    registry: SerializerRegistry, backend: InMemoryBackend
) -> None:
    """A consumer that raises gives RETRY and releases its claim: the next try may claim it."""
    cache = InMemoryDeduplicationCache()
    received = receive_one(registry, backend)
    recorder = Recorder(failing={1: 1})
    outcome = handling(registry, backend, recorder, cache=cache).handle(flight(received))
    assert outcome.action is Action.RETRY
    key = f"{recorder.name}:{wire.unwrap(received).message_id}"
    assert cache.claim(key, lease_seconds=30).status is ClaimStatus.CLAIMED


def test_an_unreachable_cache_is_skipped_when_told_to_process(
    registry: SerializerRegistry, backend: InMemoryBackend, caplog: pytest.LogCaptureFixture
) -> None:
    """With on_cache_unavailable='process', the handler runs without deduplication, and warns."""
    cache = SwitchableCache()
    cache.reachable = False
    recorder = Recorder()
    received = receive_one(registry, backend)
    outcome = handling(registry, backend, recorder, cache=cache).handle(flight(received))
    assert outcome.action is Action.ACK
    assert recorder.handled == [1]
    assert "handling message" in caplog.text and "without deduplication" in caplog.text


def test_acknowledging_on_receipt_deletes_the_batch_before_any_handler(
    registry: SerializerRegistry, backend: InMemoryBackend
) -> None:
    """With AckPolicy.ON_RECEIPT, acknowledge_on_receipt deletes each message of the batch."""
    QueuePublisher(registry, backend).publish_many("q", [{"n": 1}, {"n": 2}])
    batch = backend.receive("q", max_messages=10)
    stats = DispatcherStats()
    setup = HandlingSetup(registry, [], DispatcherOptions(ack_policy=AckPolicy.ON_RECEIPT))
    acks = halves.acks(HALF[0], backend, "q", stats)
    settle = halves.message_handling(HALF[0], backend, "q", setup, stats, acks=acks)
    settle.acknowledge_on_receipt(batch)
    assert (backend.message_count("q"), stats.acknowledged) == (0, 2)


def test_attributes_of_the_wrong_type_are_dead_lettered_with_the_reason(
    registry: SerializerRegistry, backend: InMemoryBackend
) -> None:
    """A message whose manifest attribute is not text cannot be read: DEAD_LETTER, and why."""
    backend.send_raw("q", '{"Message": "{}"}', {"message_id": "m-1", "manifest": 7})
    [received] = backend.receive("q")
    outcome = handling(registry, backend, Recorder()).handle(flight(received))
    assert outcome.action is Action.DEAD_LETTER
    assert outcome.reason.startswith("MalformedMessageError: attribute 'manifest' is 7")


@pytest.mark.parametrize("hook", ["after_consume", "on_exception"])
def test_a_hook_that_raises_is_logged_and_the_message_still_settles(
    registry: SerializerRegistry,
    backend: InMemoryBackend,
    caplog: pytest.LogCaptureFixture,
    hook: str,
) -> None:
    """A failing after_consume still acks; a failing on_exception still retries; both logged."""

    def broken(*args: Any) -> None:
        raise RuntimeError("the error tracker is down")

    consumer = Recorder(failing={1: 1}) if hook == "on_exception" else Recorder()
    received = receive_one(registry, backend)
    handle = handling(registry, backend, consumer, **{hook: broken})
    with caplog.at_level(logging.ERROR, logger="melange"):
        outcome = handle.handle(flight(received))
    assert outcome.action is (Action.RETRY if hook == "on_exception" else Action.ACK)
    [logged] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert f"the {hook} hook raised" in logged.getMessage()
    assert logged.exc_info is not None
