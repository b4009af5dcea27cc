"""The dispatcher's delivery guarantees, written once and run against every backend.

Subclasses provide ``make_backend``; see test_memory_backend.py and test_sqs_backend.py.
"""

from __future__ import annotations

import base64
import json
import logging
import pickle
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest

from melange import (
    Backoff,
    Consumer,
    MessageContext,
    MessageDispatcher,
    QueuePublisher,
    TopicPublisher,
    consumer,
    wire,
)
from melange.backends import MessagingBackend
from melange.consuming.dedup import InMemoryDeduplicationCache
from melange.exceptions import QueueNotFoundError
from melange.messages import Destination, Envelope, OutgoingMessage
from melange.serializers import (
    JsonSerializer,
    PickleSerializer,
    SerializerRegistry,
    TypedJsonSerializer,
)
from tests.contract.backend_contract import BackendUnderTest
from tests.support.consumers import OnlyLists, Recorder, running
from tests.support.messaging import assert_empty, contents, json_registry, receive_all
from tests.support.polling import poll_until

QUICK_RETRY = Backoff(base=1, cap=1, jitter=0)


@attrs.frozen
class Unknown:
    """A typed message no consumer's registry knows."""

    n: int


class ContextRecorder(Consumer):
    """Records each message with the ``MessageContext`` its handler was given."""

    def __init__(self) -> None:
        super().__init__(name="context-recorder")
        self.seen: list[tuple[dict[str, int], MessageContext]] = []

    @consumer
    def on_message(self, message: dict[str, int], context: MessageContext) -> None:
        self.seen.append((message, context))


#: A 2 KB JSON text nested deeper than Python's default recursion limit.
DEEP_JSON = "[" * 1000 + "]" * 1000


def raw_message(
    content: str, *, serializer_id: int | None, manifest: str | None
) -> OutgoingMessage:
    """Build a message with arbitrary content and metadata, bypassing the serializers."""
    return OutgoingMessage(
        Envelope(content=content, manifest=manifest, serializer_id=serializer_id)
    )


class DispatcherUnderTest(BackendUnderTest):
    """What the dispatcher suites share: the publisher and how the dispatcher is built."""

    @pytest.fixture(name="publisher")
    def fixture_publisher(self, backend: MessagingBackend) -> QueuePublisher:
        """Give a queue publisher with a JSON registry."""
        return QueuePublisher(json_registry(), backend)

    def make_dispatcher(
        self,
        registry: SerializerRegistry,
        backend: MessagingBackend,
        consumers: Iterable[Consumer],
        **options: Any,
    ) -> MessageDispatcher:
        """Build the dispatcher under test (the asyncio runners return their own)."""
        return MessageDispatcher(registry, backend, consumers=consumers, **options)

    def dispatcher(
        self, backend: MessagingBackend, *consumers: Consumer, **options: Any
    ) -> MessageDispatcher:
        """Build a dispatcher with short polls and quick retries unless told otherwise."""
        options = {"wait_time_seconds": 1, "backoff": QUICK_RETRY, **options}
        return self.make_dispatcher(json_registry(), backend, consumers, **options)


class DispatcherContract(DispatcherUnderTest):
    """Delivery guarantees that depend on the backend: run on every backend, both halves."""

    def test_acknowledges_only_after_every_consumer_succeeded(
        self, backend: MessagingBackend, publisher: QueuePublisher, unique: str
    ) -> None:
        """A message one of two consumers fails on is retried, not acked, until both succeed."""
        backend.declare_queue(f"{unique}-q")
        steady, flaky = Recorder(), Recorder(failing={1: 1})
        flaky.name = "flaky"
        dispatcher = self.dispatcher(backend, steady, flaky)
        publisher.publish_many(f"{unique}-q", [{"n": 0}, {"n": 1}])
        with running(dispatcher, f"{unique}-q"):
            poll_until(lambda: sorted(flaky.handled), lambda h: h == [0, 1, 1], message="retry")
            poll_until(lambda: dispatcher.stats.acknowledged, lambda n: n == 2, message="acks")
        assert sorted(steady.handled) == [0, 1, 1]  # without a cache, at least once
        assert dispatcher.stats.retried == 1
        assert_empty(backend, f"{unique}-q")

    def test_failed_message_returns_after_the_backoff_not_the_visibility_timeout(
        self, backend: MessagingBackend, publisher: QueuePublisher, unique: str
    ) -> None:
        """With a 60 s visibility timeout and a 1 s backoff, the retry comes within seconds."""
        backend.declare_queue(f"{unique}-q")
        recorder = Recorder(failing={7: 1})
        attempts: list[int] = []
        dispatcher = self.dispatcher(
            backend,
            recorder,
            visibility_timeout=60,
            after_consume=lambda message, received: attempts.append(received.receive_count),
        )
        publisher.publish(f"{unique}-q", {"n": 7})
        started = time.monotonic()
        with running(dispatcher, f"{unique}-q"):
            poll_until(lambda: attempts, timeout=15, message="the retry")
        assert attempts == [2]
        assert 1.0 <= time.monotonic() - started < 15

    def test_poison_message_is_redriven_while_others_are_consumed(
        self, backend: MessagingBackend, publisher: QueuePublisher, unique: str
    ) -> None:
        """A message that always fails reaches the dead-letter queue; the rest are handled."""
        queue, dlq = f"{unique}-q", f"{unique}-dlq"
        backend.declare_queue(queue, dead_letter_queue=dlq, max_receive_count=2)
        recorder = Recorder(failing={13: 1_000})
        publisher.publish_many(queue, [{"n": n} for n in (1, 2, 13, 3, 4)])
        with running(self.dispatcher(backend, recorder, workers=2), queue):
            poll_until(
                lambda: sorted(set(recorder.handled)),
                lambda h: h == [1, 2, 3, 4, 13],
                message="all",
            )
            [dead] = receive_all(backend, dlq, 1, timeout=20)
        assert contents([dead]) == [{"n": 13}]
        assert recorder.handled.count(13) == 2
        assert sorted(n for n in recorder.handled if n != 13) == [1, 2, 3, 4]

    @pytest.mark.parametrize(
        ("content", "serializer_id", "manifest", "reason"),
        [
            ('{"n": 1}', 99, "json", "SerializerNotFoundError"),
            ('{"n": truncated', JsonSerializer.identifier, "json", "DeserializationError"),
            ('{"n": 1}', TypedJsonSerializer.identifier, "nowhere:Missing", "DeserializationError"),
            (
                base64.b64encode(pickle.dumps({"n": 1})).decode(),
                PickleSerializer.identifier,
                "dict",
                "PickleNotAllowedError",
            ),
        ],
        ids=["unknown-serializer", "corrupt-json", "unknown-manifest", "pickle-not-allowed"],
    )
    def test_unreadable_message_goes_to_dead_letter_queue_with_reason(
        self,
        backend: MessagingBackend,
        unique: str,
        content: str,
        serializer_id: int,
        manifest: str,
        reason: str,
    ) -> None:
        """A message that cannot be read is copied to the DLQ with melange_error, then acked."""
        queue, dlq = f"{unique}-q", f"{unique}-dlq"
        backend.declare_queue(queue, dead_letter_queue=dlq, max_receive_count=5)
        registry = SerializerRegistry(
            {
                "serializers": {
                    "json": JsonSerializer,
                    "typed": TypedJsonSerializer,
                    "pickle": PickleSerializer,
                },
                "default": "json",
            }
        )
        backend.publish(
            Destination.queue(queue),
            [raw_message(content, serializer_id=serializer_id, manifest=manifest)],
        )
        recorder = Recorder()
        backend.publish(
            Destination.queue(queue), [raw_message('{"n": 2}', serializer_id=1, manifest="json")]
        )
        dispatcher = self.make_dispatcher(registry, backend, [recorder], wait_time_seconds=1)
        with running(dispatcher, queue):
            poll_until(lambda: recorder.handled, message="the readable message")
            [dead] = receive_all(backend, dlq, 1)
        assert str(dead.attributes["melange_error"]).startswith(reason)
        assert wire.unwrap(dead).content == content  # the original bytes, not re-wrapped
        assert recorder.handled == [2]
        assert dispatcher.stats.dead_lettered == 1
        assert_empty(backend, queue)

    def test_unreadable_message_without_dead_letter_queue_stays_and_is_logged(
        self, backend: MessagingBackend, unique: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        """With no DLQ, an unreadable message is logged at ERROR with its id and left queued."""
        queue = f"{unique}-q"
        backend.declare_queue(queue)
        backend.publish(
            Destination.queue(queue), [raw_message("garbage", serializer_id=99, manifest=None)]
        )
        dispatcher = self.dispatcher(backend, Recorder())
        with caplog.at_level(logging.ERROR, logger="melange.consuming.handling"):
            assert dispatcher.process_available(queue) == 1
        [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
        assert "no dead-letter queue" in record.getMessage()
        [again] = poll_until(lambda: backend.receive(queue), timeout=10, message="redelivery")
        # The text names melange's id (what dlq show gives); the fields carry both ids.
        assert getattr(record, "broker_message_id", None) == again.broker_message_id
        assert record.getMessage().count(str(getattr(record, "message_id", None))) == 1

    def test_message_no_consumer_accepts_is_dead_lettered_with_the_reason(
        self,
        backend: MessagingBackend,
        publisher: QueuePublisher,
        unique: str,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """A message no consumer accepts goes to the DLQ with melange_error, counted and logged."""
        queue, dlq = f"{unique}-q", f"{unique}-dlq"
        backend.declare_queue(queue, dead_letter_queue=dlq)
        publisher.publish(queue, {"n": 1})
        dispatcher = self.dispatcher(backend, OnlyLists())
        with caplog.at_level(logging.ERROR, logger="melange.consuming.handling"):
            assert dispatcher.process_available(queue) == 1
        [dead] = receive_all(backend, dlq, 1)
        assert contents([dead]) == [{"n": 1}]
        reason = str(dead.attributes["melange_error"])
        assert "no consumer accepts dict" in reason
        assert "only-lists accepts list" in reason
        assert dispatcher.stats.dead_lettered == 1
        [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
        assert "no consumer accepts dict" in record.getMessage()
        assert "only-lists accepts list" in record.getMessage()
        assert_empty(backend, queue)

    def test_message_no_consumer_accepts_is_acknowledged_when_opted_in(
        self, backend: MessagingBackend, publisher: QueuePublisher, unique: str
    ) -> None:
        """With ack_unhandled=True a message no consumer accepts is deleted, not dead-lettered."""
        queue, dlq = f"{unique}-q", f"{unique}-dlq"
        backend.declare_queue(queue, dead_letter_queue=dlq)
        publisher.publish(queue, {"n": 1})
        dispatcher = self.dispatcher(backend, OnlyLists(), ack_unhandled=True)
        assert dispatcher.process_available(queue) == 1
        assert dispatcher.stats.acknowledged == 1
        assert dispatcher.stats.dead_lettered == 0
        assert_empty(backend, queue)
        assert_empty(backend, dlq)

    def test_handler_failing_on_its_last_receive_is_dead_lettered_with_the_exception(
        self,
        backend: MessagingBackend,
        publisher: QueuePublisher,
        unique: str,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """On its last allowed receive a failing message is moved to the DLQ with its exception."""
        queue, dlq = f"{unique}-q", f"{unique}-dlq"
        backend.declare_queue(queue, dead_letter_queue=dlq, max_receive_count=2)
        recorder = Recorder(failing={13: 1_000})
        publisher.publish(queue, {"n": 13})
        dispatcher = self.dispatcher(backend, recorder)
        caplog.set_level(logging.ERROR, logger="melange.consuming.handling")
        with running(dispatcher, queue):
            poll_until(lambda: dispatcher.stats.dead_lettered, timeout=20, message="dead letter")
        [dead] = receive_all(backend, dlq, 1)
        assert contents([dead]) == [{"n": 13}]
        assert dead.attributes["melange_error"] == "RuntimeError: handler failed on 13"
        assert recorder.handled == [13, 13]
        assert dispatcher.stats.dead_lettered == 1
        errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
        assert any("handler failed on 13" in e and dlq in e for e in errors), errors

    @pytest.mark.parametrize(
        ("body", "attributes"),
        [
            (DEEP_JSON, {}),
            (json.dumps({"Message": DEEP_JSON}), {"serializer_id": 1, "manifest": "json"}),
            ('{"Message": ' + DEEP_JSON + "}", {}),
        ],
        ids=["bare", "in-message-text", "in-message-value"],
    )
    def test_deeply_nested_json_is_dead_lettered_with_a_reason(
        self, backend: MessagingBackend, unique: str, body: str, attributes: dict[str, Any]
    ) -> None:
        """JSON nested 1,000 deep goes to the DLQ naming RecursionError; nothing is raised."""
        queue, dlq = f"{unique}-q", f"{unique}-dlq"
        backend.declare_queue(queue, dead_letter_queue=dlq)
        backend.send_raw(queue, body, attributes)
        dispatcher = self.dispatcher(backend, Recorder())
        assert dispatcher.process_available(queue) == 1
        [dead] = receive_all(backend, dlq, 1)
        assert dead.body == body
        assert str(dead.attributes["melange_error"]).startswith("RecursionError: ")
        assert dispatcher.stats.dead_lettered == 1
        assert_empty(backend, queue)

    def test_crafted_pickle_does_not_execute(
        self, backend: MessagingBackend, unique: str, tmp_path: Path
    ) -> None:
        """A pickle payload that would create a file is dead-lettered unread: no file appears."""
        marker = tmp_path / "pwned"
        payload = base64.b64encode(pickle.dumps(_Exploit(str(marker)))).decode()
        queue, dlq = f"{unique}-q", f"{unique}-dlq"
        backend.declare_queue(queue, dead_letter_queue=dlq)
        backend.publish(
            Destination.queue(queue), [raw_message(payload, serializer_id=2, manifest="_Exploit")]
        )
        registry = SerializerRegistry({"serializers": {"pickle": PickleSerializer}})
        dispatcher = self.make_dispatcher(registry, backend, [Recorder()])
        assert dispatcher.process_available(queue) == 1
        [dead] = receive_all(backend, dlq, 1)
        assert str(dead.attributes["melange_error"]).startswith("PickleNotAllowedError")
        assert not marker.exists()

    @pytest.mark.parametrize("route", ["queue", "topic", "topic-raw"])
    def test_handler_sees_the_message_context_on_each_route(
        self,
        backend: MessagingBackend,
        publisher: QueuePublisher,
        topic_publisher: TopicPublisher,
        unique: str,
        route: str,
    ) -> None:
        """A handler's MessageContext describes its message; subject and topic come via SNS only."""
        queue, topic = f"{unique}-q", f"{unique}-events"
        # SentTimestamp comes from the broker's clock: allow for skew with this process's.
        earliest = datetime.now(UTC) - timedelta(seconds=5)
        if route == "queue":
            backend.declare_queue(queue)
            message_id = publisher.publish(queue, {"n": 1}, attributes={"tenant": "acme"})
        else:
            backend.declare_queue(queue, topics=[topic], raw_message_delivery=route == "topic-raw")
            message_id = topic_publisher.publish(
                topic, {"n": 1}, subject="Order placed", attributes={"tenant": "acme"}
            )
        recorder = ContextRecorder()
        dispatcher = self.dispatcher(backend, recorder)
        poll_until(lambda: dispatcher.process_available(queue), message="the message")
        [(message, context)] = recorder.seen
        assert message == {"n": 1}
        assert context.message_id == message_id
        assert context.broker_message_id not in ("", message_id)  # the queue's own id
        assert context.receive_count == 1
        assert context.queue_name == queue
        assert context.attributes == {"tenant": "acme"}
        assert context.sent_at is not None
        assert earliest <= context.sent_at <= datetime.now(UTC) + timedelta(seconds=5)
        if route == "topic":  # raw delivery carries neither subject nor topic (AWS documents)
            assert context.sns_subject == "Order placed"
            assert context.topic_name is not None and context.topic_name.endswith(topic)
            assert str(context.sns_topic_arn).startswith("arn:")
        else:
            assert (context.sns_subject, context.sns_topic_arn, context.topic_name) == (None,) * 3

    def test_missing_queue_is_named_at_start(self, backend: MessagingBackend, unique: str) -> None:
        """Running on a queue that does not exist raises QueueNotFoundError naming it."""
        with pytest.raises(QueueNotFoundError, match=f"{unique}-missing"):
            self.dispatcher(backend, Recorder()).run(f"{unique}-missing")

    def test_duplicate_delivery_runs_the_handler_once_with_a_cache(
        self, backend: MessagingBackend, unique: str
    ) -> None:
        """Two copies of one message (same id) received at once run the handler only once."""
        queue = f"{unique}-q"
        backend.declare_queue(queue)
        envelope = Envelope(content='{"n": 5}', manifest="json", serializer_id=1)
        backend.publish(Destination.queue(queue), [OutgoingMessage(envelope)])
        backend.publish(Destination.queue(queue), [OutgoingMessage(envelope)])  # injected duplicate
        recorder = Recorder(seconds=1)
        dispatcher = self.dispatcher(
            backend, recorder, workers=2, visibility_timeout=2, cache=InMemoryDeduplicationCache()
        )
        with running(dispatcher, queue):
            poll_until(
                lambda: dispatcher.stats.acknowledged,
                lambda n: n == 2,
                timeout=20,
                message="both acked",
            )
        assert recorder.handled == [5]
        assert_empty(backend, queue)


class DispatcherTimingContract(DispatcherUnderTest):
    """The dispatcher's own timing: concurrency, holding, heartbeat, stop.

    It is the same on every backend (the backend's part, hiding and extending a message, is
    in ``BackendContract``), so it runs once per half, on the in-memory backend.
    """

    def test_runs_up_to_workers_handlers_at_once(
        self, backend: MessagingBackend, publisher: QueuePublisher, unique: str
    ) -> None:
        """With workers=4, four handlers run at the same time and never more."""
        backend.declare_queue(f"{unique}-q")
        recorder = Recorder(seconds=0.3)
        publisher.publish_many(f"{unique}-q", [{"n": n} for n in range(16)])
        with running(self.dispatcher(backend, recorder, workers=4), f"{unique}-q"):
            poll_until(lambda: len(recorder.handled), lambda n: n == 16, timeout=30, message="16")
        assert recorder.most_running == 4
        assert sorted(recorder.handled) == list(range(16))

    def test_does_not_hold_messages_it_cannot_start_in_time(
        self, backend: MessagingBackend, publisher: QueuePublisher, unique: str
    ) -> None:
        """One slow worker with a 2 s visibility timeout handles eight messages once each."""
        backend.declare_queue(f"{unique}-q")
        recorder = Recorder(seconds=0.5)
        counts: list[int] = []
        dispatcher = self.dispatcher(
            backend,
            recorder,
            workers=1,
            visibility_timeout=2,
            heartbeat=False,
            after_consume=lambda message, received: counts.append(received.receive_count),
        )
        publisher.publish_many(f"{unique}-q", [{"n": n} for n in range(8)])
        with running(dispatcher, f"{unique}-q"):
            poll_until(lambda: len(counts), lambda n: n >= 8, timeout=30, message="8 handled")
        assert sorted(recorder.handled) == list(range(8))
        assert counts == [1] * 8

    @pytest.mark.parametrize(("heartbeat", "expected_runs"), [(True, 1), (False, 2)])
    def test_heartbeat_keeps_a_long_handler_s_message_invisible(
        self,
        backend: MessagingBackend,
        publisher: QueuePublisher,
        unique: str,
        heartbeat: bool,
        expected_runs: int,
    ) -> None:
        """Two consumers, 2 s visibility, 3 s handler: once with the heartbeat, twice without."""
        backend.declare_queue(f"{unique}-q")
        recorder = Recorder(seconds=3)
        first = self.dispatcher(backend, recorder, visibility_timeout=2, heartbeat=heartbeat)
        second = self.dispatcher(backend, recorder, visibility_timeout=2, heartbeat=heartbeat)
        publisher.publish(f"{unique}-q", {"n": 1})
        with running(first, f"{unique}-q"), running(second, f"{unique}-q"):
            # Stop once the first run completes (~3 s). Without the heartbeat the message
            # reappeared at ~2 s and the other dispatcher's run is still going: stop lets
            # it finish, so the count shows it.
            poll_until(lambda: recorder.handled, timeout=20, message="the first run")
            first.stop()  # stop both at once, so neither receives again while the other
            second.stop()  # waits for its running handler
        assert len(recorder.handled) == expected_runs

    def test_stop_finishes_running_handlers_and_releases_the_rest(
        self, backend: MessagingBackend, publisher: QueuePublisher, unique: str
    ) -> None:
        """stop() lets running handlers finish and be acked; unstarted ones are visible at once."""
        queue = f"{unique}-q"
        backend.declare_queue(queue, visibility_timeout=60)
        recorder = Recorder(seconds=0.5)
        dispatcher = self.dispatcher(backend, recorder, workers=2, visibility_timeout=60)
        publisher.publish_many(queue, [{"n": n} for n in range(12)])
        with running(dispatcher, queue):
            poll_until(lambda: len(recorder.handled), lambda n: n >= 3, message="3 handled")
        assert recorder.running == 0
        handled = list(recorder.handled)
        assert len(handled) == len(set(handled))
        assert dispatcher.stats.acknowledged == len(handled)
        remaining = receive_all(backend, queue, 12 - len(handled), timeout=5)
        assert sorted(handled + [c["n"] for c in contents(remaining)]) == list(range(12))


class _Exploit:
    """Unpickling this creates the file at ``path``: what an attacker's payload would do."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return (open, (self.path, "w"))
