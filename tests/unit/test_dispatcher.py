"""Dispatcher options and hooks, on InMemoryBackend (the guarantees are in tests/contract)."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from bindings.spec import DispatcherFactory
from melange import (
    AckPolicy,
    Backoff,
    MessageDispatcher,
    QueuePublisher,
    RedisDeduplicationCache,
    limits,
    wire,
)
from melange.backends import InMemoryBackend
from melange.consuming.dead_letters import original_attributes
from melange.exceptions import ConfigurationError
from melange.messages import AttributeValue, ReceivedMessage
from melange.serializers import JsonSerializer, SerializerRegistry
from melange.settings import load_settings
from tests.support.clock import FakeClock
from tests.support.consumers import OnlyLists, Recorder, running
from tests.support.polling import poll_until
from tests.support.servers import free_port


@pytest.fixture(name="backend")
def fixture_backend() -> InMemoryBackend:
    """Give an in-memory backend with a queue 'q' and its dead-letter queue."""
    backend = InMemoryBackend()
    backend.declare_queue("q", dead_letter_queue="q-dlq", max_receive_count=3)
    return backend


@pytest.fixture(name="registry")
def fixture_registry() -> SerializerRegistry:
    """Give a JSON-only registry."""
    return SerializerRegistry({"serializers": {"json": JsonSerializer}})


@pytest.fixture(name="publisher")
def fixture_publisher(registry: SerializerRegistry, backend: InMemoryBackend) -> QueuePublisher:
    """Give a queue publisher on the backend."""
    return QueuePublisher(registry, backend)


def test_ack_policy_always_acknowledges_failed_messages(
    registry: SerializerRegistry, backend: InMemoryBackend, publisher: QueuePublisher
) -> None:
    """With AckPolicy.ALWAYS (melange 7's behaviour), a failed message is deleted, not retried."""
    publisher.publish("q", {"n": 1})
    recorder = Recorder(failing={1: 1})
    dispatcher = MessageDispatcher(
        registry, backend, consumers=[recorder], ack_policy=AckPolicy.ALWAYS
    )
    assert dispatcher.process_available("q") == 1
    assert backend.message_count("q") == 0
    assert dispatcher.stats.retried == 0


def test_ack_policy_on_receipt_deletes_on_receipt(
    registry: SerializerRegistry, backend: InMemoryBackend, publisher: QueuePublisher
) -> None:
    """With AckPolicy.ON_RECEIPT, a message is deleted before its handler runs; failing loses it."""
    publisher.publish("q", {"n": 1})
    recorder = Recorder(failing={1: 1})
    dispatcher = MessageDispatcher(
        registry,
        backend,
        consumers=[recorder],
        ack_policy=AckPolicy.ON_RECEIPT,
        wait_time_seconds=1,
    )
    with running(dispatcher, "q"):
        poll_until(lambda: recorder.handled, message="the handler")
    assert backend.message_count("q") == 0
    assert dispatcher.stats.retried == 0


def test_hooks_see_failures_and_successes(
    registry: SerializerRegistry, backend: InMemoryBackend, publisher: QueuePublisher
) -> None:
    """on_exception gets the error and the message; after_consume gets each success."""
    errors: list[tuple[str, Any, int]] = []
    done: list[tuple[Any, int]] = []

    def on_exception(exc: BaseException, message: Any, received: ReceivedMessage) -> None:
        errors.append((str(exc), message, received.receive_count))

    def after_consume(message: Any, received: ReceivedMessage) -> None:
        done.append((message, received.receive_count))

    publisher.publish("q", {"n": 1})
    dispatcher = MessageDispatcher(
        registry,
        backend,
        consumers=[Recorder(failing={1: 1})],
        backoff=Backoff(base=0),
        on_exception=on_exception,
        after_consume=after_consume,
    )
    dispatcher.process_available("q")
    assert errors == [("handler failed on 1", {"n": 1}, 1)]
    assert done == [({"n": 1}, 2)]


def test_unhandled_message_without_dead_letter_queue_comes_back_after_the_backoff(
    registry: SerializerRegistry, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """With no DLQ, a message no consumer accepts is logged at ERROR and hidden for the backoff."""
    backend = InMemoryBackend(clock=clock)
    backend.declare_queue("plain")
    QueuePublisher(registry, backend).publish("plain", {"n": 1})
    dispatcher = MessageDispatcher(
        registry, backend, consumers=[OnlyLists()], backoff=Backoff(base=60, cap=60, jitter=0)
    )
    with caplog.at_level(logging.ERROR, logger="melange.consuming.handling"):
        assert dispatcher.process_available("plain") == 1
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "no consumer accepts dict" in record.getMessage()
    assert "no dead-letter queue" in record.getMessage()
    clock.advance(59)
    assert backend.receive("plain") == []
    clock.advance(1)
    [again] = backend.receive("plain")
    assert again.receive_count == 2
    assert dispatcher.stats.dead_lettered == 0


def test_unreadable_message_near_the_size_limit_is_dead_lettered_with_its_reason(
    registry: SerializerRegistry, backend: InMemoryBackend
) -> None:
    """An unreadable message 60 bytes under 1 MiB reaches the DLQ whole, with its reason."""
    attributes: dict[str, AttributeValue] = {"serializer_id": 99, "manifest": "json"}
    body = "x" * (limits.SQS_MAX_MESSAGE_BYTES - 60 - wire.message_size("", attributes))
    backend.send_raw("q", body, attributes)
    dispatcher = MessageDispatcher(registry, backend, consumers=[Recorder()])
    assert dispatcher.process_available("q") == 1
    [dead] = backend.receive("q-dlq")
    assert dead.body == body
    assert str(dead.attributes["melange_error"]).startswith("SerializerNotFoundError: ")
    assert dispatcher.stats.dead_lettered == 1
    assert backend.message_count("q") == 0


def test_unreadable_message_with_ten_attributes_is_dead_lettered_with_its_reason(
    registry: SerializerRegistry, backend: InMemoryBackend
) -> None:
    """A message with ten attributes keeps its reason; the folded attribute can be restored."""
    attributes: dict[str, AttributeValue] = {f"user{n}": f"value {n}" for n in range(8)}
    attributes |= {"serializer_id": 99, "manifest": "json"}
    backend.send_raw("q", '{"Message": "{}"}', attributes)
    dispatcher = MessageDispatcher(registry, backend, consumers=[Recorder()])
    assert dispatcher.process_available("q") == 1
    [dead] = backend.receive("q-dlq")
    assert len(dead.attributes) == limits.MAX_ATTRIBUTES
    reason = json.loads(str(dead.attributes["melange_error"]))["reason"]
    assert reason.startswith("SerializerNotFoundError: ")
    assert original_attributes(dead.attributes) == attributes
    assert dispatcher.stats.dead_lettered == 1


def test_attach_consumer_adds_a_consumer(
    registry: SerializerRegistry, backend: InMemoryBackend, publisher: QueuePublisher
) -> None:
    """A consumer attached after construction receives messages too."""
    dispatcher = MessageDispatcher(registry, backend)
    recorder = Recorder()
    dispatcher.attach_consumer(recorder)
    publisher.publish("q", {"n": 3})
    dispatcher.process_available("q")
    assert recorder.handled == [3]


def test_fifo_group_is_handled_in_order_by_many_workers(
    registry: SerializerRegistry, backend: InMemoryBackend
) -> None:
    """On a FIFO queue, eight workers still handle each group's messages in order."""
    backend.declare_queue("orders.fifo")
    publisher = QueuePublisher(registry, backend)
    for n in range(30):
        publisher.publish("orders.fifo", {"n": n}, message_group_id=f"g{n % 3}")
    recorder = Recorder(seconds=0.01)
    dispatcher = MessageDispatcher(
        registry, backend, consumers=[recorder], workers=8, wait_time_seconds=1
    )
    with running(dispatcher, "orders.fifo"):
        poll_until(lambda: len(recorder.handled), lambda n: n == 30, message="30 handled")
    for group in range(3):
        in_group = [n for n in recorder.handled if n % 3 == group]
        assert in_group == sorted(in_group)


def test_fifo_failure_holds_back_the_rest_of_its_group(
    registry: SerializerRegistry, backend: InMemoryBackend
) -> None:
    """When a FIFO message fails, later messages of its group are not handled before it."""
    backend.declare_queue("orders.fifo")
    publisher = QueuePublisher(registry, backend)
    for n in range(3):
        publisher.publish("orders.fifo", {"n": n}, message_group_id="g")
    recorder = Recorder(failing={0: 1})
    dispatcher = MessageDispatcher(
        registry,
        backend,
        consumers=[recorder],
        backoff=Backoff(base=1, cap=1, jitter=0),
        wait_time_seconds=1,
    )
    with running(dispatcher, "orders.fifo"):
        poll_until(lambda: len(recorder.handled), lambda n: n == 4, message="4 runs")
    assert recorder.handled == [0, 0, 1, 2]


@pytest.mark.parametrize(
    ("policy", "handled", "left_in_queue"), [("process", [1], 0), ("redeliver", [], 1)]
)
def test_unreachable_redis_follows_the_configured_policy(
    registry: SerializerRegistry,
    backend: InMemoryBackend,
    publisher: QueuePublisher,
    caplog: pytest.LogCaptureFixture,
    policy: Any,
    handled: list[int],
    left_in_queue: int,
) -> None:
    """With Redis down, 'process' handles with a warning and 'redeliver' leaves the message."""
    cache = RedisDeduplicationCache(f"redis://127.0.0.1:{free_port()}/0", socket_timeout=0.5)
    recorder = Recorder()
    dispatcher = MessageDispatcher(
        registry, backend, consumers=[recorder], cache=cache, on_cache_unavailable=policy
    )
    publisher.publish("q", {"n": 1})
    with caplog.at_level(logging.WARNING, logger="melange.consuming.dedup"):
        dispatcher.process_available("q")
    assert recorder.handled == handled
    assert backend.message_count("q") == left_in_queue
    assert any("did not answer" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"workers": 0}, "workers=0"),
        ({"max_messages": 11}, "max_messages=11"),
        ({"wait_time_seconds": 21}, "wait_time_seconds=21"),
        ({"visibility_timeout": 0}, "visibility_timeout=0"),
        ({"on_cache_unavailable": "ignore"}, "on_cache_unavailable='ignore'"),
    ],
)
def test_bad_options_are_named(
    registry: SerializerRegistry, backend: InMemoryBackend, options: Any, named: str
) -> None:
    """Each out-of-range option raises ConfigurationError naming it."""
    with pytest.raises(ConfigurationError, match=named):
        MessageDispatcher(registry, backend, **options)


def test_several_pollers_handle_each_message_once(
    registry: SerializerRegistry, backend: InMemoryBackend, publisher: QueuePublisher
) -> None:
    """Three pollers feeding 24 workers handle 200 messages exactly once, 24 at a time at most."""
    recorder = Recorder(seconds=0.05)
    dispatcher = MessageDispatcher(
        registry, backend, consumers=[recorder], workers=24, pollers=3, wait_time_seconds=1
    )
    publisher.publish_many("q", [{"n": n} for n in range(200)])
    with running(dispatcher, "q"):
        poll_until(lambda: len(recorder.handled), lambda n: n == 200, timeout=30, message="200")
    assert sorted(recorder.handled) == list(range(200))
    assert 10 < recorder.most_running <= 24
    assert dispatcher.stats.acknowledged == 200


def test_pollers_default_to_one_per_ten_workers(
    registry: SerializerRegistry, backend: InMemoryBackend
) -> None:
    """Without pollers=, there is one poller per batch of ten workers; out of range is refused."""
    assert MessageDispatcher(registry, backend, workers=1).pollers == 1
    assert MessageDispatcher(registry, backend, workers=10).pollers == 1
    assert MessageDispatcher(registry, backend, workers=25).pollers == 3
    with pytest.raises(ConfigurationError, match="pollers=5"):
        MessageDispatcher(registry, backend, workers=4, pollers=5)


def test_attaching_the_same_consumer_twice_runs_it_once(
    registry: SerializerRegistry, backend: InMemoryBackend, publisher: QueuePublisher
) -> None:
    """Wiring that attaches one consumer object twice still handles each message once."""
    recorder = Recorder()
    dispatcher = MessageDispatcher(registry, backend)
    dispatcher.attach_consumer(recorder)
    dispatcher.attach_consumer(recorder)
    publisher.publish("q", {"n": 9})
    dispatcher.process_available("q")
    assert recorder.handled == [9]


@pytest.mark.parametrize(("value", "left_in_dlq"), [("true", 0), ("false", 1)])
def test_the_ack_unhandled_setting_reaches_the_graph_s_dispatchers(
    registry: SerializerRegistry,
    backend: InMemoryBackend,
    publisher: QueuePublisher,
    value: str,
    left_in_dlq: int,
) -> None:
    """MELANGE_ACK_UNHANDLED decides whether a message no consumer accepts is acked or moved."""
    settings = load_settings(environ={"MELANGE_ACK_UNHANDLED": value})
    dispatcher = DispatcherFactory(settings, registry, backend, None)(OnlyLists())
    publisher.publish("q", {"n": 1})
    assert dispatcher.process_available("q") == 1
    assert backend.message_count("q") == 0
    assert backend.message_count("q-dlq") == left_in_dlq
