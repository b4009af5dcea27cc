"""melange's OpenTelemetry metrics, read back through the SDK's in-memory metric reader."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from melange import MessageDispatcher, QueuePublisher
from melange.aio import AsyncInMemoryBackend, AsyncQueuePublisher
from melange.backends import InMemoryBackend
from melange.consuming.aio_dispatcher import AsyncMessageDispatcher
from melange.exceptions import QueueNotFoundError
from melange.telemetry import metrics
from melange.telemetry.metrics import prometheus_text, reason_class
from tests.support.consumers import OnlyLists, Recorder, running
from tests.support.messaging import json_registry
from tests.support.polling import poll_until

QUEUE = {"messaging.system": "aws_sqs", "messaging.destination.name": "q"}


@pytest.fixture(name="reader")
def fixture_reader() -> Iterator[InMemoryMetricReader]:
    """Give a reader of everything melange records during the test."""
    reader = InMemoryMetricReader()
    metrics.use_meter_provider(MeterProvider(metric_readers=[reader]))
    yield reader
    metrics.reset()


def points(reader: InMemoryMetricReader) -> dict[tuple[str, frozenset[Any]], Any]:
    """Return each data point read now by instrument name and attributes."""
    found: dict[tuple[str, frozenset[Any]], Any] = {}
    data = reader.get_metrics_data()
    for resource in data.resource_metrics if data else ():
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    found[metric.name, frozenset((point.attributes or {}).items())] = point
    return found


def value(reader: InMemoryMetricReader, name: str, **attributes: str) -> Any:
    """Return the value (or, for a histogram, the count) of one point; 0 when absent."""
    point = points(reader).get((name, frozenset({**QUEUE, **attributes}.items())))
    if point is None:
        return 0
    return getattr(point, "count", None) if hasattr(point, "bucket_counts") else point.value


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("no consumer accepts dict: only-lists accepts list", "unhandled"),
        ("DeserializationError: cannot read 'x'", "unreadable"),
        ("json.decoder.JSONDecodeError: Expecting value", "unreadable"),
        ("RuntimeError: handler failed on 2", "handler_failed"),
        ("the deduplication cache is unreachable", "other"),
        ("", "other"),
    ],
)
def test_a_dead_letter_reason_is_reduced_to_a_small_class(reason: str, expected: str) -> None:
    """Free-text reasons become one of a few classes, so a label never holds the text."""
    assert reason_class(reason) == expected


def test_the_threaded_dispatcher_records_received_handled_retried_and_durations(
    reader: InMemoryMetricReader,
) -> None:
    """Two messages, one failing once: received 2, handled 1, retried 1, two durations."""
    backend = InMemoryBackend()
    backend.declare_queue("q", dead_letter_queue="q-dlq", max_receive_count=3)
    QueuePublisher(json_registry(), backend).publish_many("q", [{"n": 1}, {"n": 2}])
    dispatcher = MessageDispatcher(json_registry(), backend, consumers=[Recorder(failing={2: 1})])

    dispatcher.process_available("q")

    assert (
        value(
            reader, "messaging.client.consumed.messages", **{"messaging.operation.name": "receive"}
        )
        == 2
    )
    assert value(reader, "melange.messages.handled") == 1
    assert value(reader, "melange.messages.retried") == 1
    process = {"messaging.operation.name": "process"}
    assert value(reader, "messaging.process.duration", **process, **{"melange.outcome": "ack"}) == 1
    assert (
        value(reader, "messaging.process.duration", **process, **{"melange.outcome": "retry"}) == 1
    )
    assert value(reader, "melange.messages.queued.duration") == 2
    sent = {"messaging.operation.name": "send"}
    assert value(reader, "messaging.client.sent.messages", **sent) == 2
    assert dispatcher.stats.received == 2  # the dispatcher's own counts are unchanged


def test_a_message_nobody_accepts_is_counted_unhandled_and_dead_lettered_with_its_class(
    reader: InMemoryMetricReader,
) -> None:
    """An unhandled message counts once as unhandled and once as dead-lettered 'unhandled'."""
    backend = InMemoryBackend()
    backend.declare_queue("q", dead_letter_queue="q-dlq", max_receive_count=3)
    QueuePublisher(json_registry(), backend).publish("q", {"n": 1})

    MessageDispatcher(json_registry(), backend, consumers=[OnlyLists()]).process_available("q")

    assert value(reader, "melange.messages.unhandled") == 1
    assert value(reader, "melange.messages.dead_lettered", **{"melange.reason": "unhandled"}) == 1


def test_a_handler_failing_on_its_last_receive_is_dead_lettered_as_handler_failed(
    reader: InMemoryMetricReader,
) -> None:
    """The last allowed failure moves the message with the class handler_failed."""
    backend = InMemoryBackend()
    backend.declare_queue("q", dead_letter_queue="q-dlq", max_receive_count=1)
    QueuePublisher(json_registry(), backend).publish("q", {"n": 1})

    MessageDispatcher(
        json_registry(), backend, consumers=[Recorder(failing={1: 1})]
    ).process_available("q")

    assert (
        value(reader, "melange.messages.dead_lettered", **{"melange.reason": "handler_failed"}) == 1
    )
    assert value(reader, "melange.messages.handled") == 0  # deleted from the queue, not handled
    assert value(reader, "melange.messages.acknowledged") == 1


def test_the_asyncio_dispatcher_records_the_same_metrics(reader: InMemoryMetricReader) -> None:
    """The asyncio half reports through the same shared counting as the threaded one."""

    async def scenario() -> None:
        backend = AsyncInMemoryBackend()
        await backend.declare_queue("q", dead_letter_queue="q-dlq", max_receive_count=3)
        await AsyncQueuePublisher(json_registry(), backend).publish_many("q", [{"n": 1}, {"n": 2}])
        dispatcher = AsyncMessageDispatcher(
            json_registry(), backend, consumers=[Recorder(failing={2: 1})]
        )
        await dispatcher.process_available("q")

    asyncio.run(scenario())

    assert (
        value(
            reader, "messaging.client.consumed.messages", **{"messaging.operation.name": "receive"}
        )
        == 2
    )
    assert value(reader, "melange.messages.handled") == 1
    assert value(reader, "melange.messages.retried") == 1
    assert value(reader, "melange.messages.queued.duration") == 2


def test_the_in_flight_gauge_counts_messages_being_handled(reader: InMemoryMetricReader) -> None:
    """While a handler blocks, the gauge reads 1 for its queue; 0 once it returned."""
    backend = InMemoryBackend()
    backend.declare_queue("q")
    release = threading.Event()
    started = threading.Event()

    def handle(message: Any) -> None:
        started.set()
        release.wait(10)

    from melange import Consumer

    dispatcher = MessageDispatcher(
        json_registry(), backend, consumers=[Consumer(handle)], wait_time_seconds=1
    )
    QueuePublisher(json_registry(), backend).publish("q", {"n": 1})
    with running(dispatcher, "q"):
        started.wait(10)
        poll_until(lambda: value(reader, "melange.messages.in_flight"), lambda n: n == 1)
        release.set()
        poll_until(lambda: value(reader, "melange.messages.in_flight"), lambda n: n == 0)


def test_a_failed_publish_is_counted_with_its_error_type(reader: InMemoryMetricReader) -> None:
    """Publishing to a queue that does not exist counts one message sent with error.type."""
    with pytest.raises(QueueNotFoundError):
        QueuePublisher(json_registry(), InMemoryBackend()).publish("q", {"n": 1})

    failed = {"messaging.operation.name": "send", "error.type": "QueueNotFoundError"}
    assert value(reader, "messaging.client.sent.messages", **failed) == 1


def test_prometheus_text_renders_counters_and_cumulative_histogram_buckets(
    reader: InMemoryMetricReader,
) -> None:
    """Counters end in _total, histograms in _bucket/_sum/_count, buckets cumulative to +Inf."""
    recorder = metrics.current()
    assert recorder is not None
    recorder.counted("q", "received", 3)
    recorder.handled("q", "ack", "", 0.02, None)
    recorder.handled("q", "ack", "", 3.0, None)

    text = prometheus_text(reader.get_metrics_data())

    queue = 'messaging_destination_name="q",'
    system = 'messaging_system="aws_sqs"'
    labels = f'{queue}messaging_operation_name="receive",{system}'
    assert f"messaging_client_consumed_messages_total{{{labels}}} 3" in text
    assert "# TYPE messaging_process_duration_seconds histogram" in text
    process = f'melange_outcome="ack",{queue}messaging_operation_name="process",{system}'
    assert f'messaging_process_duration_seconds_bucket{{{process},le="0.025"}} 1' in text
    assert f'messaging_process_duration_seconds_bucket{{{process},le="2.5"}} 1' in text
    assert f'messaging_process_duration_seconds_bucket{{{process},le="5.0"}} 2' in text
    assert f'messaging_process_duration_seconds_bucket{{{process},le="+Inf"}} 2' in text
    assert f"messaging_process_duration_seconds_count{{{process}}} 2" in text


def test_without_a_recorder_counting_still_works() -> None:
    """With metrics disabled, the dispatcher's own counts are kept as before."""
    metrics.disable()
    try:
        backend = InMemoryBackend()
        backend.declare_queue("q")
        QueuePublisher(json_registry(), backend).publish("q", {"n": 1})
        dispatcher = MessageDispatcher(json_registry(), backend, consumers=[Recorder()])
        dispatcher.process_available("q")
        assert (dispatcher.stats.received, dispatcher.stats.acknowledged) == (1, 1)
    finally:
        metrics.reset()
