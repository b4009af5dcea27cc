"""Retrying an ambiguous publish with the same message id: the copy is caught, not handled twice.

A publish whose answer is lost (timeout, reset) may have been delivered. The error names
the message id it used; publishing again with ``message_id=`` reuses it, so FIFO
deduplication or the consumer's deduplication cache drops the copy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from melange import MessageDispatcher, QueuePublisher, TopicPublisher, wire
from melange.backends import InMemoryBackend
from melange.consuming.consumers import Consumer
from melange.consuming.dedup import InMemoryDeduplicationCache
from melange.exceptions import (
    BackendUnavailableError,
    BatchEntryFailure,
    BatchPublishError,
    ConfigurationError,
    MessageAttributeError,
    QueueNotFoundError,
)
from melange.messages import BatchResult, Destination, OutgoingMessage
from melange.serializers import JsonSerializer, SerializerRegistry

Publisher = QueuePublisher | TopicPublisher


class AnswerLostBackend(InMemoryBackend):
    """An in-memory broker whose answers are lost: it delivers, then the caller sees a fault.

    Single publishes are delivered and then raise ``BackendUnavailableError`` (a reset after
    the request); batch publishes deliver every entry but report the odd ones failed, as
    SQS and SNS may when an entry's outcome is unknown.
    """

    losing = True

    def publish(self, destination: Destination, messages: Sequence[OutgoingMessage]) -> BatchResult:
        """Deliver; while ``losing`` lose a single publish's answer, or the odd entries'."""
        result = super().publish(destination, messages)
        if self.losing and len(messages) == 1:
            raise BackendUnavailableError("connection reset by peer", operation="SendMessage")
        return self._lose_odd(result, messages)

    def _lose_odd(self, result: BatchResult, messages: Sequence[OutgoingMessage]) -> BatchResult:
        if not self.losing:
            return result
        ids = [m.envelope.message_id for m in messages]
        failed = tuple(
            BatchEntryFailure(index, ids[index], "InternalError", "unknown outcome", False)
            for index in range(1, len(ids), 2)
        )
        return BatchResult(successful=tuple(ids[0::2]), failed=failed)


@pytest.fixture(name="registry")
def fixture_registry() -> SerializerRegistry:
    """Give a JSON-only registry."""
    return SerializerRegistry({"serializers": {"json": JsonSerializer}})


@pytest.fixture(name="backend")
def fixture_backend() -> AnswerLostBackend:
    """Give a broker that loses answers, with queue 'q' (subscribed to topic 't')."""
    backend = AnswerLostBackend()
    backend.declare_queue("q", topics=["t"])
    backend.declare_queue("orders.fifo")
    return backend


@pytest.fixture(name="publisher", params=["queue", "topic"])
def fixture_publisher(
    request: pytest.FixtureRequest, registry: SerializerRegistry, backend: AnswerLostBackend
) -> tuple[Publisher, str]:
    """Give a queue publisher (to 'q') or a topic publisher (to 't'), and its destination."""
    if request.param == "queue":
        return QueuePublisher(registry, backend), "q"
    return TopicPublisher(registry, backend), "t"


def _handled_once(registry: SerializerRegistry, backend: InMemoryBackend) -> list[Any]:
    """Run a deduplicating dispatcher over queue 'q' and return what its consumer handled."""
    handled: list[Any] = []
    dispatcher = MessageDispatcher(
        registry,
        backend,
        consumers=[Consumer(handled.append, name="recorder")],
        cache=InMemoryDeduplicationCache(),
    )
    dispatcher.process_available("q")
    return handled


def test_failed_publish_names_its_message_id_and_a_resend_reuses_it(
    publisher: tuple[Publisher, str], registry: SerializerRegistry, backend: AnswerLostBackend
) -> None:
    """The error of a lost answer carries the message id; a resend with it is handled once."""
    sender, destination = publisher

    with pytest.raises(BackendUnavailableError) as info:
        sender.publish(destination, {"order": 42})
    backend.losing = False
    resent_id = sender.publish(destination, {"order": 42}, message_id=info.value.message_id)

    received = backend.receive("q", max_messages=10)
    assert resent_id == info.value.message_id
    assert [wire.unwrap(m).message_id for m in received] == [resent_id, resent_id]
    backend.change_visibility("q", [m.receipt_handle for m in received], 0)
    assert _handled_once(registry, backend) == [{"order": 42}]


def test_failed_batch_entries_are_resent_with_their_ids(
    publisher: tuple[Publisher, str], registry: SerializerRegistry, backend: AnswerLostBackend
) -> None:
    """Entries reported failed are resent with message_ids= and every item is handled once."""
    sender, destination = publisher
    items = [{"n": n} for n in range(5)]

    with pytest.raises(BatchPublishError) as info:
        sender.publish_many(destination, items)
    backend.losing = False
    failures = info.value.failures
    resent = sender.publish_many(
        destination,
        [items[f.index] for f in failures],
        message_ids=[f.message_id for f in failures],
    )

    assert resent == [f.message_id for f in failures]
    assert backend.message_count("q") == 5 + len(failures)
    assert sorted(_handled_once(registry, backend), key=lambda item: item["n"]) == items


def test_a_one_item_batch_is_one_request_whose_error_names_the_message_id(
    publisher: tuple[Publisher, str], backend: AnswerLostBackend
) -> None:
    """publish_many of one item fails like publish: the error carries the id to resend with."""
    sender, destination = publisher

    with pytest.raises(BackendUnavailableError) as info:
        sender.publish_many(destination, [{"order": 7}])
    lost_id = info.value.message_id
    assert lost_id is not None
    backend.losing = False
    resent = sender.publish_many(destination, [{"order": 7}], message_ids=[lost_id])

    assert resent == [lost_id]
    received = backend.receive("q", max_messages=10)
    assert [wire.unwrap(m).message_id for m in received] == resent * 2


def test_fifo_broker_drops_a_resend_with_the_same_message_id(
    registry: SerializerRegistry, backend: AnswerLostBackend
) -> None:
    """On a FIFO queue the resend's deduplication id is the same message id: one copy arrives."""
    publisher = QueuePublisher(registry, backend)

    with pytest.raises(BackendUnavailableError) as info:
        publisher.publish("orders.fifo", {"order": 42}, message_group_id="g")
    backend.losing = False
    publisher.publish(
        "orders.fifo", {"order": 42}, message_group_id="g", message_id=info.value.message_id
    )

    assert [wire.unwrap(m).message_id for m in backend.receive("orders.fifo")] == [
        info.value.message_id
    ]


def test_every_publish_error_carries_the_message_id(registry: SerializerRegistry) -> None:
    """A publish that fails for any backend reason names the message id it used."""
    publisher = QueuePublisher(registry, InMemoryBackend())

    with pytest.raises(QueueNotFoundError) as info:
        publisher.publish("missing", {"a": 1}, message_id="my-id-1")

    assert info.value.message_id == "my-id-1"


@pytest.mark.parametrize("message_id", ["", "a\x00b", "\ud800", 42])
def test_unusable_message_ids_are_refused_before_sending(
    publisher: tuple[Publisher, str], backend: AnswerLostBackend, message_id: Any
) -> None:
    """An empty, non-text or unsendable message id raises MessageAttributeError; nothing is sent."""
    sender, destination = publisher
    backend.losing = False

    with pytest.raises(MessageAttributeError, match="message_id") as info:
        sender.publish(destination, {"a": 1}, message_id=message_id)
    with pytest.raises(MessageAttributeError, match="message_id"):
        sender.publish_many(destination, [{"a": 1}], message_ids=[message_id])

    assert info.value.name == "message_id"
    assert backend.message_count("q") == 0


def test_message_ids_must_match_the_items(
    publisher: tuple[Publisher, str], backend: AnswerLostBackend
) -> None:
    """publish_many refuses message_ids that do not pair one to one with the items."""
    sender, destination = publisher

    with pytest.raises(ConfigurationError, match="2 message_ids for 3 items"):
        sender.publish_many(destination, [1, 2, 3], message_ids=["a", "b"])
    assert backend.message_count("q") == 0


def test_given_message_ids_are_used_and_returned(
    publisher: tuple[Publisher, str], backend: AnswerLostBackend
) -> None:
    """Both publish and publish_many send and return the message ids they are given."""
    sender, destination = publisher
    backend.losing = False

    single = sender.publish(destination, "x", message_id="order-42")
    many = sender.publish_many(destination, ["y", "z"], message_ids=["order-43", "order-44"])

    assert (single, many) == ("order-42", ["order-43", "order-44"])
    received = backend.receive("q", max_messages=10)
    assert sorted(wire.unwrap(m).message_id for m in received) == [
        "order-42",
        "order-43",
        "order-44",
    ]
