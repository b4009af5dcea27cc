"""The behaviour every messaging backend must have, written once and run against each backend.

Subclasses provide ``make_backend``; see test_memory_backend.py and test_sqs_backend.py.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import ClassVar

import pytest

from melange import QueuePublisher, TopicPublisher, limits, wire
from melange.backends import MessagingBackend
from melange.exceptions import (
    ConfigurationError,
    DeclarationError,
    MessageTooLargeError,
    QueueNotFoundError,
    TopicNotFoundError,
)
from melange.messages import (
    BatchResult,
    Destination,
    Envelope,
    OutgoingMessage,
    RedrivePolicy,
    SendOptions,
)
from melange.serializers import JsonSerializer
from melange.topology.declared import Change, Effect
from melange.topology.specs import QueueSpec, SubscriptionSpec, TopicSpec
from tests.support.messaging import assert_empty, contents, json_registry, receive_all
from tests.support.polling import poll_until


class BackendUnderTest:
    """The hook every contract suite needs: how to build the backend under test.

    Attributes:
        gaps: where an emulator departs from AWS, the contract tests it fails, by name,
            each with the reason; they run as strict xfails for that runner alone.
    """

    gaps: ClassVar[Mapping[str, str]] = {}

    @pytest.fixture(autouse=True)
    def _mark_emulator_gap(self, request: pytest.FixtureRequest) -> None:
        """Mark the test a strict xfail if this runner lists it among its emulator's gaps."""
        reason = self.gaps.get(request.node.originalname)
        if reason is not None:
            request.applymarker(pytest.mark.xfail(strict=True, reason=reason))

    def make_backend(self, request: pytest.FixtureRequest) -> MessagingBackend:
        """Build the backend under test."""
        raise NotImplementedError

    @pytest.fixture(name="backend")
    def fixture_backend(self, request: pytest.FixtureRequest) -> Iterator[MessagingBackend]:
        """Give a fresh backend of the kind under test, closed afterwards."""
        backend = self.make_backend(request)
        yield backend
        backend.close()


class BackendContract(BackendUnderTest):
    """Behaviour tests shared by every backend."""

    @pytest.fixture(name="queue_publisher")
    def fixture_queue_publisher(self, backend: MessagingBackend) -> QueuePublisher:
        """Give a queue publisher with a JSON registry on the backend under test."""
        return QueuePublisher(json_registry(), backend)

    @pytest.fixture(name="topic_publisher")
    def fixture_topic_publisher(self, backend: MessagingBackend) -> TopicPublisher:
        """Give a topic publisher with a JSON registry on the backend under test."""
        return TopicPublisher(json_registry(), backend)

    def test_publish_to_queue_delivers_content_and_metadata(
        self, backend: MessagingBackend, queue_publisher: QueuePublisher, unique: str
    ) -> None:
        """A published object arrives once with manifest, serializer id, message id, attributes."""
        backend.declare_queue(f"{unique}-q")
        message_id = queue_publisher.publish(
            f"{unique}-q", {"order": 1}, attributes={"tenant": "acme", "priority": 5}
        )
        [received] = receive_all(backend, f"{unique}-q", 1)
        envelope = wire.unwrap(received)
        assert envelope == Envelope(
            content='{"order":1}',
            manifest="json",
            serializer_id=JsonSerializer.identifier,
            message_id=message_id,
            attributes={"tenant": "acme", "priority": 5},
        )
        assert received.receive_count == 1
        assert_empty(backend, f"{unique}-q")

    def test_topic_fans_out_once_to_each_subscribed_queue(
        self, backend: MessagingBackend, topic_publisher: TopicPublisher, unique: str
    ) -> None:
        """Each queue subscribed to a topic gets exactly one copy of each message, raw or not."""
        backend.declare_queue(f"{unique}-a", topics=[f"{unique}-events"])
        backend.declare_queue(f"{unique}-b", topics=[f"{unique}-events"], raw_message_delivery=True)
        ids = [topic_publisher.publish(f"{unique}-events", {"n": n}) for n in range(3)]
        for queue in (f"{unique}-a", f"{unique}-b"):
            received = receive_all(backend, queue, 3)
            assert sorted(wire.unwrap(m).message_id for m in received) == sorted(ids)
            assert sorted(c["n"] for c in contents(received)) == [0, 1, 2]
            assert_empty(backend, queue)

    def test_filter_policy_selects_messages_by_attribute(
        self, backend: MessagingBackend, topic_publisher: TopicPublisher, unique: str
    ) -> None:
        """A queue with a filter policy gets only matching messages; an unfiltered one gets all."""
        topic = f"{unique}-events"
        backend.declare_queue(f"{unique}-eu", topics=[topic], filter_policy={"region": ["eu"]})
        backend.declare_queue(f"{unique}-all", topics=[topic])
        topic_publisher.publish(topic, {"to": "eu"}, attributes={"region": "eu"})
        topic_publisher.publish(topic, {"to": "us"}, attributes={"region": "us"})
        assert sorted(c["to"] for c in contents(receive_all(backend, f"{unique}-all", 2))) == [
            "eu",
            "us",
        ]
        assert contents(receive_all(backend, f"{unique}-eu", 1)) == [{"to": "eu"}]
        assert_empty(backend, f"{unique}-eu")

    def test_fifo_queue_keeps_group_order_and_drops_duplicates(
        self, backend: MessagingBackend, queue_publisher: QueuePublisher, unique: str
    ) -> None:
        """A FIFO queue delivers a group in order and drops a repeated deduplication id."""
        queue = f"{unique}.fifo"
        backend.declare_queue(queue)
        for n in range(5):
            queue_publisher.publish(queue, {"n": n}, message_group_id="g1")
        queue_publisher.publish(queue, {"n": 99}, message_group_id="g2", deduplication_id="d")
        queue_publisher.publish(queue, {"n": 99}, message_group_id="g2", deduplication_id="d")
        received = receive_all(backend, queue, 6)
        group_one = [
            c["n"]
            for c, m in zip(contents(received), received, strict=True)
            if m.message_group_id == "g1"
        ]
        assert group_one == [0, 1, 2, 3, 4]
        assert sorted(c["n"] for c in contents(received)) == [0, 1, 2, 3, 4, 99]
        assert_empty(backend, queue)

    def test_fifo_group_waits_while_a_message_is_in_flight(
        self, backend: MessagingBackend, queue_publisher: QueuePublisher, unique: str
    ) -> None:
        """While a FIFO group's first message is in flight, its later messages are not delivered."""
        queue = f"{unique}.fifo"
        backend.declare_queue(queue, visibility_timeout=30)
        queue_publisher.publish(queue, {"n": 1}, message_group_id="g")
        queue_publisher.publish(queue, {"n": 2}, message_group_id="g")
        first = backend.receive(queue, max_messages=1)
        assert contents(first) == [{"n": 1}]
        assert_empty(backend, queue)
        backend.acknowledge(queue, [first[0].receipt_handle])
        assert contents(receive_all(backend, queue, 1)) == [{"n": 2}]

    def test_batch_publish_over_ten_entries_delivers_all(
        self, backend: MessagingBackend, queue_publisher: QueuePublisher, unique: str
    ) -> None:
        """publish_many with 25 items returns 25 ids in order and delivers all 25."""
        backend.declare_queue(f"{unique}-q")
        ids = queue_publisher.publish_many(f"{unique}-q", ({"n": n} for n in range(25)))
        assert len(ids) == len(set(ids)) == 25
        received = receive_all(backend, f"{unique}-q", 25)
        assert sorted(c["n"] for c in contents(received)) == list(range(25))
        assert sorted(wire.unwrap(m).message_id for m in received) == sorted(ids)

    def test_batch_publish_to_topic_fans_out_all(
        self, backend: MessagingBackend, topic_publisher: TopicPublisher, unique: str
    ) -> None:
        """TopicPublisher.publish_many with 12 items delivers all 12 to a subscribed queue."""
        backend.declare_queue(f"{unique}-q", topics=[f"{unique}-t"])
        topic_publisher.publish_many(f"{unique}-t", ({"n": n} for n in range(12)))
        received = receive_all(backend, f"{unique}-q", 12)
        assert sorted(c["n"] for c in contents(received)) == list(range(12))

    def test_oversize_message_is_refused_before_sending(
        self,
        backend: MessagingBackend,
        queue_publisher: QueuePublisher,
        topic_publisher: TopicPublisher,
        unique: str,
    ) -> None:
        """A message over the limit raises MessageTooLargeError and nothing reaches the queue."""
        backend.declare_queue(f"{unique}-q", topics=[f"{unique}-t"])
        with pytest.raises(MessageTooLargeError) as queue_error:
            queue_publisher.publish(f"{unique}-q", "x" * limits.SQS_MAX_MESSAGE_BYTES)
        assert queue_error.value.limit == limits.SQS_MAX_MESSAGE_BYTES
        assert queue_error.value.size > limits.SQS_MAX_MESSAGE_BYTES
        with pytest.raises(MessageTooLargeError) as topic_error:
            topic_publisher.publish(f"{unique}-t", "x" * limits.SNS_MAX_MESSAGE_BYTES)
        assert topic_error.value.limit == limits.SNS_MAX_MESSAGE_BYTES
        with pytest.raises(MessageTooLargeError):
            queue_publisher.publish_many(
                f"{unique}-q", ["small", "x" * limits.SQS_MAX_MESSAGE_BYTES]
            )
        assert_empty(backend, f"{unique}-q")

    def test_missing_queue_and_topic_raise_named_errors(
        self,
        backend: MessagingBackend,
        queue_publisher: QueuePublisher,
        topic_publisher: TopicPublisher,
        unique: str,
    ) -> None:
        """Publishing to or receiving from a missing destination names it in the error."""
        with pytest.raises(QueueNotFoundError, match=f"{unique}-missing") as error:
            queue_publisher.publish(f"{unique}-missing", {"n": 1})
        assert error.value.queue_name.endswith(f"{unique}-missing")  # prefixed backends add to it
        with pytest.raises(QueueNotFoundError, match="declare_queue"):
            backend.receive(f"{unique}-missing")
        with pytest.raises(TopicNotFoundError, match=f"{unique}-nowhere"):
            topic_publisher.publish(f"{unique}-nowhere", {"n": 1})

    def test_visibility_timeout_hides_then_redelivers(
        self, backend: MessagingBackend, queue_publisher: QueuePublisher, unique: str
    ) -> None:
        """A received, unacknowledged message reappears after its visibility timeout."""
        backend.declare_queue(f"{unique}-q")
        message_id = queue_publisher.publish(f"{unique}-q", {"n": 1})
        [first] = backend.receive(f"{unique}-q", visibility_timeout=1)
        assert_empty(backend, f"{unique}-q")
        [again] = poll_until(
            lambda: backend.receive(f"{unique}-q", visibility_timeout=30),
            message="redelivery after the visibility timeout",
        )
        assert wire.unwrap(again).message_id == wire.unwrap(first).message_id == message_id
        assert again.receive_count == 2
        assert again.receipt_handle != first.receipt_handle

    def test_change_visibility_releases_a_message_at_once(
        self, backend: MessagingBackend, queue_publisher: QueuePublisher, unique: str
    ) -> None:
        """Setting a received message's visibility to 0 makes it receivable again immediately."""
        backend.declare_queue(f"{unique}-q", visibility_timeout=60)
        queue_publisher.publish(f"{unique}-q", {"n": 1})
        [first] = backend.receive(f"{unique}-q")
        assert backend.change_visibility(f"{unique}-q", [first.receipt_handle], 0) == []
        [again] = backend.receive(f"{unique}-q")
        assert again.receive_count == 2

    def test_change_visibility_extends_a_received_message(
        self, backend: MessagingBackend, queue_publisher: QueuePublisher, unique: str
    ) -> None:
        """A visibility extended before it ran out hides the message past its first timeout.

        What the dispatcher's heartbeat relies on; the heartbeat's own timing is tested once
        per half (``DispatcherTimingContract``, on the in-memory backend).
        """
        backend.declare_queue(f"{unique}-q")
        queue_publisher.publish(f"{unique}-q", {"n": 1})
        [first] = backend.receive(f"{unique}-q", visibility_timeout=1)
        assert backend.change_visibility(f"{unique}-q", [first.receipt_handle], 3) == []
        # A long poll of 2 s spans the end of the first timeout (1 s): nothing comes.
        assert backend.receive(f"{unique}-q", wait_time_seconds=2) == []
        [again] = poll_until(
            lambda: backend.receive(f"{unique}-q", visibility_timeout=30),
            message="redelivery after the extended timeout",
        )
        assert again.receive_count == 2

    def test_redrive_moves_message_to_dead_letter_queue(
        self, backend: MessagingBackend, queue_publisher: QueuePublisher, unique: str
    ) -> None:
        """After max_receive_count receives the message moves to the dead-letter queue."""
        queue, dlq = f"{unique}-q", f"{unique}-dlq"
        backend.declare_queue(queue, dead_letter_queue=dlq, max_receive_count=2)
        message_id = queue_publisher.publish(queue, {"n": 1})
        for expected_count in (1, 2):
            [received] = backend.receive(queue, visibility_timeout=30)
            assert received.receive_count == expected_count
            backend.change_visibility(queue, [received.receipt_handle], 0)
        assert_empty(backend, queue)
        [dead] = receive_all(backend, dlq, 1)
        assert wire.unwrap(dead).message_id == message_id
        assert contents([dead]) == [{"n": 1}]

    def test_redrive_policy_names_the_dead_letter_queue_and_receive_count(
        self, backend: MessagingBackend, unique: str
    ) -> None:
        """redrive_policy gives the declared DLQ (by the name it was declared with) and count."""
        backend.declare_queue(f"{unique}-q", dead_letter_queue=f"{unique}-dlq", max_receive_count=3)
        backend.declare_queue(f"{unique}-plain")
        assert backend.redrive_policy(f"{unique}-q") == RedrivePolicy(f"{unique}-dlq", 3)
        assert backend.redrive_policy(f"{unique}-plain") is None

    def test_acknowledge_deletes_in_batches(
        self, backend: MessagingBackend, queue_publisher: QueuePublisher, unique: str
    ) -> None:
        """Acknowledging more than ten handles at once deletes every message."""
        backend.declare_queue(f"{unique}-q", visibility_timeout=1)
        queue_publisher.publish_many(f"{unique}-q", range(15))
        handles: list[str] = []

        def receive_more() -> int:
            batch = backend.receive(f"{unique}-q", visibility_timeout=60)
            handles.extend(m.receipt_handle for m in batch)
            return len(handles)

        poll_until(receive_more, lambda n: n >= 15, message="15 messages received")
        assert backend.acknowledge(f"{unique}-q", handles) == []
        assert_empty(backend, f"{unique}-q")

    def test_delayed_message_arrives_after_its_delay(
        self, backend: MessagingBackend, queue_publisher: QueuePublisher, unique: str
    ) -> None:
        """A message published with delay_seconds is invisible at first, then delivered."""
        backend.declare_queue(f"{unique}-q")
        queue_publisher.publish(f"{unique}-q", {"n": 1}, delay_seconds=1)
        assert_empty(backend, f"{unique}-q")
        assert contents(receive_all(backend, f"{unique}-q", 1)) == [{"n": 1}]

    def test_declaration_is_idempotent(
        self, backend: MessagingBackend, topic_publisher: TopicPublisher, unique: str
    ) -> None:
        """Declaring a queue and its subscription twice still delivers each message once."""
        for _ in range(2):
            backend.declare_queue(
                f"{unique}-q", dead_letter_queue=f"{unique}-dlq", topics=[f"{unique}-t"]
            )
        topic_publisher.publish(f"{unique}-t", {"n": 1})
        assert contents(receive_all(backend, f"{unique}-q", 1)) == [{"n": 1}]
        assert_empty(backend, f"{unique}-q")

    def test_bad_arguments_raise_configuration_errors(
        self, backend: MessagingBackend, queue_publisher: QueuePublisher, unique: str
    ) -> None:
        """Receive and publish arguments outside SQS's ranges are refused with a named value."""
        backend.declare_queue(f"{unique}-q")
        backend.declare_queue(f"{unique}.fifo")
        with pytest.raises(ConfigurationError, match="max_messages=11"):
            backend.receive(f"{unique}-q", max_messages=11)
        with pytest.raises(ConfigurationError, match="wait_time_seconds=21"):
            backend.receive(f"{unique}-q", wait_time_seconds=21)
        with pytest.raises(ConfigurationError, match="message_group_id"):
            queue_publisher.publish(f"{unique}.fifo", {"n": 1})
        with pytest.raises(ConfigurationError, match="dead-letter queue"):
            backend.declare_queue(f"{unique}-x", dead_letter_queue=f"{unique}-x-dlq.fifo")

    def test_deleted_queue_is_gone(
        self, backend: MessagingBackend, queue_publisher: QueuePublisher, unique: str
    ) -> None:
        """After delete_queue, publishing raises QueueNotFoundError; deleting again is fine."""
        backend.declare_queue(f"{unique}-q")
        queue_publisher.publish(f"{unique}-q", {"n": 1})
        backend.delete_queue(f"{unique}-q")
        backend.delete_queue(f"{unique}-q")
        with pytest.raises(QueueNotFoundError):
            queue_publisher.publish(f"{unique}-q", {"n": 2})

    def test_unknown_receipt_handles_are_reported_as_failed(
        self, backend: MessagingBackend, unique: str
    ) -> None:
        """Acknowledging or releasing a handle that matches no message returns it as failed.

        AWS answers ``ReceiptHandleIsInvalid`` for a malformed handle, in
        ``DeleteMessageBatch``'s and ``ChangeMessageVisibilityBatch``'s ``Failed`` entries.
        """
        backend.declare_queue(f"{unique}-q")
        assert backend.acknowledge(f"{unique}-q", ["not-a-handle"]) == ["not-a-handle"]
        assert backend.change_visibility(f"{unique}-q", ["not-a-handle"], 0) == ["not-a-handle"]

    # -- the administration protocol, on declarative values -------------------------------

    def test_declare_queue_spec_creates_its_dead_letter_queue(
        self, backend: MessagingBackend, unique: str
    ) -> None:
        """Declaring a QueueSpec makes the queue and its dead-letter queue, with the policy."""
        backend.declare(
            QueueSpec(f"{unique}-q", dead_letter_queue=f"{unique}-dlq", max_receive_count=2)
        )

        assert backend.redrive_policy(f"{unique}-q") == RedrivePolicy(f"{unique}-dlq", 2)
        assert backend.redrive_policy(f"{unique}-dlq") is None

    def test_declare_subscription_spec_routes_by_its_filter_policy(
        self, backend: MessagingBackend, unique: str
    ) -> None:
        """Queue, topic and subscription declared as values deliver what the filter lets pass."""
        queue, topic = f"{unique}-eu", f"{unique}-events"
        backend.declare(QueueSpec(queue))
        backend.declare(TopicSpec(topic))
        backend.declare(
            SubscriptionSpec(
                queue, (topic,), filter_policy={"region": ["eu"]}, raw_message_delivery=True
            )
        )
        publisher = TopicPublisher(json_registry(), backend)
        publisher.publish(topic, {"to": "us"}, attributes={"region": "us"})
        publisher.publish(topic, {"to": "eu"}, attributes={"region": "eu"})

        [received] = receive_all(backend, queue, 1)
        assert contents([received]) == [{"to": "eu"}]
        assert received.body == '{"to":"eu"}'  # raw delivery: the content itself
        assert_empty(backend, queue)

    def test_redeclaring_a_queue_spec_updates_its_settings(
        self, backend: MessagingBackend, queue_publisher: QueuePublisher, unique: str
    ) -> None:
        """A second declaration with a new visibility timeout takes effect on the next receive."""
        queue = f"{unique}-q"
        backend.declare(QueueSpec(queue, visibility_timeout=60))
        backend.declare(QueueSpec(queue, visibility_timeout=0))
        queue_publisher.publish(queue, {"n": 1})

        [first] = backend.receive(queue)
        [again] = poll_until(lambda: backend.receive(queue), message="redelivery at once")
        assert again.receive_count == first.receive_count + 1

    def test_declare_says_created_then_as_is(self, backend: MessagingBackend, unique: str) -> None:
        """Each declaration reports CREATED the first time and AS_IS when repeated unchanged."""
        queue, topic = f"{unique}-q", f"{unique}-events"
        specs = [
            TopicSpec(topic),
            QueueSpec(f"{unique}-dlq"),
            QueueSpec(queue, dead_letter_queue=f"{unique}-dlq", visibility_timeout=40),
            SubscriptionSpec(queue, (topic,), filter_policy={"region": ["eu"]}),
        ]

        first = [backend.declare(spec) for spec in specs]
        second = [backend.declare(spec) for spec in specs]

        assert [(d.spec, d.effect) for d in first] == [(s, Effect.CREATED) for s in specs]
        assert [(d.spec, d.effect, d.changes) for d in second] == [
            (s, Effect.AS_IS, ()) for s in specs
        ]

    def test_declare_says_which_settings_it_changed(
        self, backend: MessagingBackend, unique: str
    ) -> None:
        """A declaration differing from what exists reports CHANGED with each old and new value."""
        queue, topic = f"{unique}-q", f"{unique}-events"
        backend.declare(QueueSpec(queue, visibility_timeout=40))
        backend.declare(TopicSpec(topic))
        backend.declare(SubscriptionSpec(queue, (topic,), filter_policy={"region": ["eu"]}))

        queue_done = backend.declare(
            QueueSpec(queue, visibility_timeout=50, dead_letter_queue=f"{unique}-dlq")
        )
        subscription_done = backend.declare(
            SubscriptionSpec(queue, (topic,), filter_policy={"region": ["us"]})
        )

        assert queue_done.effect is Effect.CHANGED
        assert set(queue_done.changes) == {
            Change("visibility_timeout", 40, 50),
            Change("dead_letter_queue", None, f"{unique}-dlq"),
            Change("max_receive_count", None, 5),
        }
        assert subscription_done.effect is Effect.CHANGED
        assert subscription_done.changes == (
            Change("filter_policy", {"region": ["eu"]}, {"region": ["us"]}),
        )
        assert backend.declare(QueueSpec(queue, visibility_timeout=50)).effect is Effect.AS_IS

    def test_declaring_a_subscription_without_filter_policy_removes_the_earlier_one(
        self, backend: MessagingBackend, unique: str
    ) -> None:
        """A subscription declared again without a filter policy delivers everything again.

        AWS documents FilterPolicy "{}" as removing a subscription's filter policy
        (SetSubscriptionAttributes).
        """
        queue, topic = f"{unique}-q", f"{unique}-events"
        backend.declare(QueueSpec(queue))
        backend.declare(TopicSpec(topic))
        backend.declare(
            SubscriptionSpec(
                queue, (topic,), filter_policy={"region": ["eu"]}, raw_message_delivery=True
            )
        )

        done = backend.declare(SubscriptionSpec(queue, (topic,), raw_message_delivery=True))
        TopicPublisher(json_registry(), backend).publish(
            topic, {"to": "us"}, attributes={"region": "us"}
        )

        assert done.changes == (Change("filter_policy", {"region": ["eu"]}, None),)
        assert contents(receive_all(backend, queue, 1)) == [{"to": "us"}]

    def test_delete_takes_a_destination(
        self, backend: MessagingBackend, topic_publisher: TopicPublisher, unique: str
    ) -> None:
        """delete(Destination.topic(...)) removes the topic; deleting it again is no error."""
        backend.declare(TopicSpec(f"{unique}-t"))
        backend.delete(Destination.topic(f"{unique}-t"))
        backend.delete(Destination.topic(f"{unique}-t"))
        with pytest.raises(TopicNotFoundError):
            topic_publisher.publish(f"{unique}-t", {"n": 1})

    def test_a_fifo_topic_for_a_standard_queue_is_refused_before_any_request(
        self, backend: MessagingBackend, unique: str
    ) -> None:
        """A standard queue subscribed to a FIFO topic is refused before anything is declared."""
        with pytest.raises(DeclarationError, match="FIFO topic"):
            backend.declare_queue(f"{unique}-q", topics=[f"{unique}-t.fifo"])
        with pytest.raises(QueueNotFoundError):
            backend.receive(f"{unique}-q")

    # -- the transport: one publish method for queues and topics, one or many ------------

    def test_publish_one_or_many_to_a_queue_or_topic(
        self, backend: MessagingBackend, unique: str
    ) -> None:
        """One publish sends one or many messages to a queue or topic and returns their ids."""
        backend.declare_queue(f"{unique}-q", topics=[f"{unique}-t"])
        sent = [
            OutgoingMessage(Envelope(f'"{n}"', "json", JsonSerializer.identifier))
            for n in range(13)
        ]
        ids = [m.envelope.message_id for m in sent]

        assert backend.publish(Destination.queue(f"{unique}-q"), sent[:1]) == BatchResult(
            successful=(ids[0],)
        )
        assert backend.publish(Destination.topic(f"{unique}-t"), sent[1:]) == BatchResult(
            successful=tuple(ids[1:])
        )
        received = receive_all(backend, f"{unique}-q", 13)
        assert sorted(wire.unwrap(m).message_id for m in received) == sorted(ids)

    def test_publish_checks_every_message_before_sending_any(
        self, backend: MessagingBackend, unique: str
    ) -> None:
        """A batch with one message a FIFO queue would refuse sends none of them."""
        queue = f"{unique}.fifo"
        backend.declare_queue(queue)
        good = OutgoingMessage(Envelope('"ok"', "json", 1), SendOptions(message_group_id="g"))
        bad = OutgoingMessage(Envelope('"no group"', "json", 1))

        with pytest.raises(ConfigurationError, match="message_group_id"):
            backend.publish(Destination.queue(queue), [good, bad])
        assert_empty(backend, queue)
