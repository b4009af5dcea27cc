"""What only InMemoryBackend does: a controllable clock, exact fan-out counts, threads."""

from __future__ import annotations

import re
import threading

import pytest

from melange import QueuePublisher, TopicPublisher, wire
from melange.backends import InMemoryBackend
from melange.exceptions import (
    BackendError,
    ConfigurationError,
    QueueNotFoundError,
    TopicNotFoundError,
)
from melange.serializers import JsonSerializer, SerializerRegistry
from tests.support.clock import FakeClock


@pytest.fixture(name="backend")
def fixture_backend(clock: FakeClock) -> InMemoryBackend:
    """Give an in-memory backend on the fake clock."""
    return InMemoryBackend(clock=clock)


@pytest.fixture(name="registry")
def fixture_registry() -> SerializerRegistry:
    """Give a JSON-only serializer registry."""
    return SerializerRegistry({"serializers": {"json": JsonSerializer}})


def drain_ids(backend: InMemoryBackend, queue: str) -> list[str]:
    """Receive and acknowledge everything visible on ``queue``; return the message ids."""
    ids: list[str] = []
    while batch := backend.receive(queue, max_messages=10):
        ids.extend(wire.unwrap(m).message_id for m in batch)
        backend.acknowledge(queue, [m.receipt_handle for m in batch])
    return ids


def test_each_publish_reaches_each_subscribed_queue_exactly_once(
    backend: InMemoryBackend, registry: SerializerRegistry
) -> None:
    """2,000 topic publishes give exactly 2,000 messages per subscribed queue, not 2,001,000."""
    backend.declare_queue("a", topics=["events"])
    backend.declare_queue("b", topics=["events"], raw_message_delivery=True)
    publisher = TopicPublisher(registry, backend)
    sent = [publisher.publish("events", {"n": n}) for n in range(2_000)]
    assert backend.message_count("a") == backend.message_count("b") == 2_000
    for queue in ("a", "b"):
        received = drain_ids(backend, queue)
        assert len(received) == 2_000
        assert sorted(received) == sorted(sent)


def test_visibility_timeout_expires_on_the_clock(
    backend: InMemoryBackend, registry: SerializerRegistry, clock: FakeClock
) -> None:
    """A received message stays hidden until its visibility timeout passes, then returns."""
    backend.declare_queue("q", visibility_timeout=30)
    QueuePublisher(registry, backend).publish("q", {"n": 1})
    [first] = backend.receive("q")
    clock.advance(29.9)
    assert backend.receive("q") == []
    clock.advance(0.2)
    [again] = backend.receive("q")
    assert again.receive_count == 2
    assert backend.acknowledge("q", [first.receipt_handle]) == [first.receipt_handle]
    assert backend.acknowledge("q", [again.receipt_handle]) == []
    assert backend.message_count("q") == 0


def test_retention_drops_old_messages(
    backend: InMemoryBackend, registry: SerializerRegistry, clock: FakeClock
) -> None:
    """Messages older than the retention period are gone, as in SQS."""
    backend.declare_queue("q", retention_seconds=60)
    QueuePublisher(registry, backend).publish("q", {"n": 1})
    clock.advance(61)
    assert backend.receive("q") == []
    assert backend.message_count("q") == 0


def test_fifo_deduplication_lasts_five_minutes(
    backend: InMemoryBackend, registry: SerializerRegistry, clock: FakeClock
) -> None:
    """A repeated deduplication id is dropped within 5 minutes and accepted after."""
    backend.declare_queue("q.fifo")
    publisher = QueuePublisher(registry, backend)
    publisher.publish("q.fifo", {"n": 1}, message_group_id="g", deduplication_id="same")
    clock.advance(299)
    publisher.publish("q.fifo", {"n": 2}, message_group_id="g", deduplication_id="same")
    assert backend.message_count("q.fifo") == 1
    clock.advance(2)
    publisher.publish("q.fifo", {"n": 3}, message_group_id="g", deduplication_id="same")
    assert backend.message_count("q.fifo") == 2


def test_content_based_deduplication_hashes_the_body(backend: InMemoryBackend) -> None:
    """With content-based deduplication and no explicit id, equal bodies are one message."""
    from melange.messages import Destination, Envelope, OutgoingMessage, SendOptions

    backend.declare_queue("q.fifo", content_based_deduplication=True)
    options = SendOptions(message_group_id="g", deduplication_id=None)
    for message_id in ("m1", "m2"):
        envelope = Envelope(content="same", manifest="json", serializer_id=1, message_id=message_id)
        backend.publish(Destination.queue("q.fifo"), [OutgoingMessage(envelope, options)])
    # melange always sends its message id as the deduplication id on FIFO queues, so two
    # publishes of equal content stay two messages unless the caller passes the same id.
    assert backend.message_count("q.fifo") == 2


def test_without_dead_letter_queue_redelivery_goes_on(
    backend: InMemoryBackend, registry: SerializerRegistry
) -> None:
    """With no dead-letter queue a failing message keeps coming back with a growing count."""
    backend.declare_queue("q", max_receive_count=2)
    QueuePublisher(registry, backend).publish("q", {"n": 1})
    counts = []
    for _ in range(4):
        [received] = backend.receive("q")
        counts.append(received.receive_count)
        backend.change_visibility("q", [received.receipt_handle], 0)
    assert counts == [1, 2, 3, 4]


def test_long_poll_returns_a_message_published_while_waiting(
    registry: SerializerRegistry,
) -> None:
    """A receive waiting up to 10 s returns the message another thread publishes meanwhile."""
    backend = InMemoryBackend()
    backend.declare_queue("q")
    results: list[int] = []
    waiting = threading.Thread(
        target=lambda: results.append(len(backend.receive("q", wait_time_seconds=10)))
    )
    waiting.start()
    QueuePublisher(registry, backend).publish("q", {"n": 1})
    waiting.join(timeout=15)
    assert results == [1]


def test_close_ends_a_pending_long_poll_and_refuses_further_use() -> None:
    """Closing the backend ends a 20 s long poll within 5 s; later calls raise BackendError."""
    backend = InMemoryBackend()
    backend.declare_queue("q")
    outcomes: list[object] = []

    def long_poll() -> None:
        try:
            outcomes.append(backend.receive("q", wait_time_seconds=20))
        except BackendError as exc:  # closed before the receive started
            outcomes.append(exc)

    waiting = threading.Thread(target=long_poll)
    waiting.start()
    backend.close()
    waiting.join(timeout=5)
    assert not waiting.is_alive()
    assert outcomes == [[]] or isinstance(outcomes[0], BackendError)
    with pytest.raises(BackendError, match="closed"):
        backend.declare_queue("other")


def test_concurrent_producers_and_consumers_handle_each_message_once(
    registry: SerializerRegistry,
) -> None:
    """Four producer and four consumer threads move 1,000 messages with no loss or duplicate."""
    backend = InMemoryBackend()
    backend.declare_queue("q", visibility_timeout=60)
    publisher = QueuePublisher(registry, backend)
    seen: list[str] = []
    lock = threading.Lock()
    done = threading.Event()

    def produce(worker: int) -> None:
        for n in range(250):
            publisher.publish("q", {"worker": worker, "n": n})

    def consume() -> None:
        while not done.is_set():
            batch = backend.receive("q", max_messages=10, wait_time_seconds=1)
            backend.acknowledge("q", [m.receipt_handle for m in batch])
            with lock:
                seen.extend(wire.unwrap(m).message_id for m in batch)
                if len(seen) >= 1_000:
                    done.set()

    threads = [threading.Thread(target=produce, args=(w,)) for w in range(4)]
    threads += [threading.Thread(target=consume) for _ in range(4)]
    for thread in threads:
        thread.start()
    assert done.wait(timeout=60)
    for thread in threads:
        thread.join(timeout=10)
    assert len(seen) == len(set(seen)) == 1_000
    assert backend.message_count("q") == 0


def test_fifo_topic_refuses_a_standard_queue(backend: InMemoryBackend) -> None:
    """Subscribing a standard queue to a FIFO topic is refused, naming both."""
    backend.declare_topic("events.fifo")
    backend.declare_queue("plain")
    with pytest.raises(ConfigurationError, match=r"'events\.fifo'.*'plain'"):
        backend.subscribe("plain", ["events.fifo"])


def test_fifo_topic_delivers_groups_in_order_to_fifo_queues(
    backend: InMemoryBackend, registry: SerializerRegistry
) -> None:
    """A FIFO topic keeps the group and order when fanning out to a FIFO queue."""
    backend.declare_queue("orders.fifo", topics=["events.fifo"], raw_message_delivery=True)
    publisher = TopicPublisher(registry, backend)
    for n in range(3):
        publisher.publish("events.fifo", n, message_group_id="g")
    received = backend.receive("orders.fifo")
    assert [registry.deserialize_envelope(wire.unwrap(m)) for m in received] == [0, 1, 2]
    assert {m.message_group_id for m in received} == {"g"}


def test_invalid_filter_policy_is_refused(backend: InMemoryBackend) -> None:
    """A filter policy value that is not a list is refused at declaration."""
    with pytest.raises(ConfigurationError, match="expected a list"):
        backend.declare_queue("q", topics=["t"], filter_policy={"kind": "a"})


@pytest.mark.parametrize(
    ("policy", "where"),
    [
        ({"tier": [{"prefix": 3}]}, "filter_policy['tier'][0]"),
        ({"tier": [["vip"]]}, "filter_policy['tier'][0]"),
    ],
    ids=["prefix-number", "nested-list"],
)
def test_the_issues_policies_are_refused_at_declare_and_nothing_is_declared(
    backend: InMemoryBackend, policy: dict[str, object], where: str
) -> None:
    """The two policies of issue 17 are refused before any queue or topic exists.

    Before, the first crashed every later publish with a TypeError and the second matched
    nothing in memory while moto refused it at declare.
    """
    with pytest.raises(ConfigurationError, match=re.escape(where)):
        backend.declare_queue("tiers", topics=["members"], filter_policy=policy)

    assert "tiers" not in backend.list_queues()


def test_a_policy_changed_after_declare_does_not_change_the_subscription(
    backend: InMemoryBackend, registry: SerializerRegistry
) -> None:
    """The subscription keeps the policy it validated: the caller's lists are not shared."""
    policy: dict[str, list[object]] = {"tier": ["gold"]}
    backend.declare_queue("gold", topics=["members"], filter_policy=policy)
    policy["tier"].append({"prefix": 3})  # would be refused; it reaches no subscription

    TopicPublisher(registry, backend).publish("members", {"n": 1}, attributes={"tier": "gold"})
    TopicPublisher(registry, backend).publish("members", {"n": 2}, attributes={"tier": "grey"})

    assert backend.message_count("gold") == 1


def test_fan_out_ignores_binary_attributes_in_filter_policies(
    backend: InMemoryBackend, registry: SerializerRegistry
) -> None:
    """A Binary attribute neither passes exists: true nor fails exists: false, as on AWS.

    AWS ("Filter policy constraints"): attribute-based filtering compares only String,
    String.Array and Number attributes.
    """
    backend.declare_queue(
        "wants-blob", topics=["events"], filter_policy={"blob": [{"exists": True}]}
    )
    backend.declare_queue("no-blob", topics=["events"], filter_policy={"blob": [{"exists": False}]})

    TopicPublisher(registry, backend).publish("events", {"n": 1}, attributes={"blob": b"\x00\x01"})

    assert backend.message_count("wants-blob") == 0
    assert backend.message_count("no-blob") == 1


def test_a_missing_topic_says_the_backend_is_in_memory_and_how_to_choose_a_broker(
    backend: InMemoryBackend, registry: SerializerRegistry
) -> None:
    """Publishing to a topic nobody declared here names the in-memory backend and MELANGE_ENV."""
    with pytest.raises(TopicNotFoundError) as caught:
        TopicPublisher(registry, backend).publish("ticket-events", {"n": 1})

    assert caught.value.in_memory
    message = str(caught.value)
    assert "topic 'ticket-events' does not exist on the in-memory backend" in message
    assert "MELANGE_ENV=<name> (config/<name>.env)" in message
    assert "MELANGE_BACKEND=local or aws" in message


def test_a_missing_queue_says_the_backend_is_in_memory(backend: InMemoryBackend) -> None:
    """Receiving from a queue nobody declared here names the in-memory backend and MELANGE_ENV."""
    with pytest.raises(QueueNotFoundError) as caught:
        backend.receive("vip-concierge")

    assert caught.value.in_memory
    assert "'vip-concierge' does not exist on the in-memory backend" in str(caught.value)
    assert "MELANGE_ENV" in str(caught.value)
