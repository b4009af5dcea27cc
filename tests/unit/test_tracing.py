"""One trace runs from a publisher's span through the broker to every consumer's handler.

Spans go to the SDK's in-memory exporter through ``melange.telemetry.tracing.use_tracer_provider``
(the global provider stays unset, so other tests see no trace context). Every route is
covered on ``InMemoryBackend``: a direct queue publish, and a topic fanning out to a queue
with raw delivery off and to one with raw delivery on; with the threaded dispatcher and
with the asyncio one.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import attrs
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from melange import (
    Consumer,
    MessageContext,
    MessageDispatcher,
    QueuePublisher,
    TopicPublisher,
    consumer,
)
from melange.aio import AsyncInMemoryBackend, AsyncQueuePublisher, AsyncTopicPublisher
from melange.aws_lambda import read_event
from melange.backends import InMemoryBackend
from melange.consuming.aio_dispatcher import AsyncMessageDispatcher
from melange.telemetry import tracing
from tests.support.lambda_events import sqs_event_of
from tests.support.messaging import json_registry

ROUTES = ("direct", "sns-envelope", "sns-raw")


@pytest.fixture(name="spans")
def fixture_spans() -> Iterator[InMemorySpanExporter]:
    """Give the exporter every span melange records during the test."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.use_tracer_provider(provider)
    yield exporter
    tracing.use_tracer_provider(None)
    provider.shutdown()


class SpanRecorder(Consumer):
    """Records the span current while its handler runs, and the attributes it was told."""

    def __init__(self) -> None:
        super().__init__(name="span-recorder")
        self.span_ids: list[int] = []
        self.attributes: list[dict[str, Any]] = []

    @consumer
    def handle(self, message: dict[str, int], context: MessageContext) -> None:
        self.span_ids.append(trace.get_current_span().get_span_context().span_id)
        self.attributes.append(dict(context.attributes))


def _routes_backend() -> InMemoryBackend:
    backend = InMemoryBackend()
    backend.declare_queue("direct")
    backend.declare_queue("sns-envelope", topics=["events"])
    backend.declare_queue("sns-raw", topics=["events"], raw_message_delivery=True)
    return backend


def _named(spans: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    return [s for s in spans.get_finished_spans() if s.name == name]


def _assert_processed_in_trace(
    spans: InMemorySpanExporter, queue: str, producer: ReadableSpan, recorder: SpanRecorder
) -> None:
    """Assert ``queue``'s process span is the producer's child, linked to it, and current."""
    (process,) = _named(spans, f"process {queue}")
    assert process.kind is SpanKind.CONSUMER
    assert process.context.trace_id == producer.context.trace_id
    assert process.parent is not None
    assert process.parent.span_id == producer.context.span_id
    assert [link.context.span_id for link in process.links] == [producer.context.span_id]
    assert process.attributes is not None
    assert process.attributes["messaging.system"] == "aws_sqs"
    assert process.attributes["messaging.destination.name"] == queue
    assert process.attributes["messaging.operation.type"] == "process"
    assert process.attributes["melange.outcome"] == "ack"
    assert process.context.span_id in recorder.span_ids
    (receive,) = _named(spans, f"receive {queue}")
    assert receive.kind is SpanKind.CONSUMER
    assert [link.context.span_id for link in receive.links] == [producer.context.span_id]
    assert receive.attributes is not None
    assert receive.attributes["messaging.batch.message_count"] == 1


def test_one_trace_runs_from_the_publisher_to_each_consumer(
    spans: InMemorySpanExporter,
) -> None:
    """Queue and topic publishes (raw delivery off and on) are processed in the caller's trace."""
    backend = _routes_backend()
    registry = json_registry()
    tracer = trace.get_tracer("shop", tracer_provider=_provider_of(spans))
    with tracer.start_as_current_span("OrderService.place") as place:
        QueuePublisher(registry, backend).publish("direct", {"n": 1})
        TopicPublisher(registry, backend).publish("events", {"n": 2}, attributes={"tenant": "a"})
    recorder = SpanRecorder()
    dispatcher = MessageDispatcher(registry, backend, consumers=[recorder])
    for queue in ROUTES:
        assert dispatcher.process_available(queue) == 1

    (send,) = _named(spans, "send direct")
    (publish,) = _named(spans, "publish events")
    for producer, system in ((send, "aws_sqs"), (publish, "aws_sns")):
        assert producer.kind is SpanKind.PRODUCER
        assert producer.parent is not None
        assert producer.parent.span_id == place.get_span_context().span_id
        assert producer.attributes is not None
        assert producer.attributes["messaging.system"] == system
        assert producer.attributes["messaging.operation.type"] == "send"
    _assert_processed_in_trace(spans, "direct", send, recorder)
    _assert_processed_in_trace(spans, "sns-envelope", publish, recorder)
    _assert_processed_in_trace(spans, "sns-raw", publish, recorder)
    assert recorder.attributes == [{}, {"tenant": "a"}, {"tenant": "a"}]


def _provider_of(spans: InMemorySpanExporter) -> TracerProvider:
    """Return a provider exporting to ``spans`` too, for the application's own spans."""
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    return provider


def test_the_asyncio_dispatcher_runs_handlers_in_the_process_span(
    spans: InMemorySpanExporter,
) -> None:
    """Plain handlers (in the executor) see the process span, child of the publish span."""

    async def scenario() -> SpanRecorder:
        backend = AsyncInMemoryBackend()
        await backend.declare_queue("direct")
        await backend.declare_queue("sns-envelope", topics=["events"])
        await backend.declare_queue("sns-raw", topics=["events"], raw_message_delivery=True)
        registry = json_registry()
        await AsyncQueuePublisher(registry, backend).publish("direct", {"n": 1})
        await AsyncTopicPublisher(registry, backend).publish("events", {"n": 2})
        recorder = SpanRecorder()
        dispatcher = AsyncMessageDispatcher(registry, backend, consumers=[recorder])
        for queue in ROUTES:
            assert await dispatcher.process_available(queue) == 1
        return recorder

    recorder = asyncio.run(scenario())

    (send,) = _named(spans, "send direct")
    (publish,) = _named(spans, "publish events")
    assert (send.parent, publish.parent) == (None, None)  # no caller's span: new traces
    (process,) = _named(spans, "process direct")
    assert process.parent is not None
    assert process.parent.span_id == send.context.span_id
    for queue in ("sns-envelope", "sns-raw"):
        (process,) = _named(spans, f"process {queue}")
        assert process.parent is not None
        assert process.parent.span_id == publish.context.span_id
    processed = {s.context.span_id for s in spans.get_finished_spans() if s.name[:7] == "process"}
    assert set(recorder.span_ids) == processed


def test_a_message_without_context_starts_a_new_trace(spans: InMemorySpanExporter) -> None:
    """A message from an untraced producer is processed in a root span without links."""
    backend = _routes_backend()
    tracing.use_tracer_provider(None)  # the publisher runs without an SDK
    QueuePublisher(json_registry(), backend).publish("direct", {"n": 1})
    (received,) = backend.receive("direct", max_messages=1)
    assert tracing.TRACEPARENT not in received.attributes
    backend.change_visibility("direct", [received.receipt_handle], 0)
    tracing.use_tracer_provider(_provider_of(spans))

    MessageDispatcher(json_registry(), backend, consumers=[SpanRecorder()]).process_available(
        "direct"
    )

    (process,) = _named(spans, "process direct")
    assert process.parent is None
    assert list(process.links) == []


def test_the_context_never_takes_a_users_attribute(spans: InMemorySpanExporter) -> None:
    """With seven user attributes there is no room: the message goes without the context."""
    backend = _routes_backend()
    seven = {f"a{n}": "x" for n in range(7)}
    six = {f"a{n}": "x" for n in range(6)}
    publisher = QueuePublisher(json_registry(), backend)

    publisher.publish("direct", {"n": 1}, attributes=seven)
    publisher.publish("direct", {"n": 2}, attributes=six)

    full, roomy = sorted(
        backend.receive("direct", max_messages=10), key=lambda r: len(r.attributes)
    )
    assert len(full.attributes) == 10
    assert tracing.TRACEPARENT not in full.attributes
    assert len(roomy.attributes) == 10
    assert str(roomy.attributes[tracing.TRACEPARENT]).startswith("00-")


def test_a_context_the_caller_set_is_left_as_it_is(spans: InMemorySpanExporter) -> None:
    """A ``traceparent`` passed in ``attributes=`` is the creation context, unchanged."""
    backend = _routes_backend()
    own = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

    QueuePublisher(json_registry(), backend).publish(
        "direct", {"n": 1}, attributes={tracing.TRACEPARENT: own}
    )

    (received,) = backend.receive("direct", max_messages=1)
    assert received.attributes[tracing.TRACEPARENT] == own


def test_a_failed_handler_marks_the_process_span(spans: InMemorySpanExporter) -> None:
    """A handler's exception leaves the process span with an error status and the outcome."""

    class Failing(Consumer):
        def __init__(self) -> None:
            super().__init__(on_message=self.handle, name="failing")

        def handle(self, message: Any) -> None:
            raise RuntimeError("boom")

    backend = _routes_backend()
    QueuePublisher(json_registry(), backend).publish("direct", {"n": 1})

    MessageDispatcher(json_registry(), backend, consumers=[Failing()]).process_available("direct")

    (process,) = _named(spans, "process direct")
    assert process.status.status_code is trace.StatusCode.ERROR
    assert process.attributes is not None
    assert process.attributes["melange.outcome"] == "retry"
    assert process.attributes["error.type"] == "RuntimeError"


def test_melange_publishes_and_consumes_without_opentelemetry() -> None:
    """Without the otel extra installed, publishing and consuming work and add no context."""
    script = """
import sys
sys.modules["opentelemetry"] = None  # as if the otel extra were not installed
from melange import MessageDispatcher, QueuePublisher
from melange.backends import InMemoryBackend
from tests.support.consumers import Recorder
from tests.support.messaging import json_registry
backend = InMemoryBackend()
backend.declare_queue("q")
QueuePublisher(json_registry(), backend).publish("q", {"n": 1})
(received,) = backend.receive("q", max_messages=1)
assert "traceparent" not in received.attributes, received.attributes
backend.change_visibility("q", [received.receipt_handle], 0)
recorder = Recorder()
assert MessageDispatcher(json_registry(), backend, consumers=[recorder]).process_available("q")
assert recorder.handled == [1]
assert "opentelemetry.trace" not in sys.modules
"""
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)


@pytest.mark.parametrize(
    "traceparent",
    [
        "not a traceparent",
        "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",  # version ff is invalid
        "00-00000000000000000000000000000000-b7ad6b7169203331-01",  # all-zero trace id
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",  # 00 has no more
    ],
)
def test_an_invalid_context_starts_a_new_trace(
    spans: InMemorySpanExporter, traceparent: str
) -> None:
    """A ``traceparent`` that is not valid W3C is ignored: the process span is a root."""
    backend = _routes_backend()
    QueuePublisher(json_registry(), backend).publish(
        "direct", {"n": 1}, attributes={tracing.TRACEPARENT: traceparent}
    )

    MessageDispatcher(json_registry(), backend, consumers=[SpanRecorder()]).process_available(
        "direct"
    )

    (process,) = _named(spans, "process direct")
    assert process.parent is None
    assert list(process.links) == []


def test_a_consumer_without_an_sdk_passes_the_context_on(spans: InMemorySpanExporter) -> None:
    """A handler publishing onward, with no SDK configured, forwards the context it got."""
    backend = _routes_backend()
    registry = json_registry()
    QueuePublisher(registry, backend).publish("direct", {"n": 1})
    (send,) = _named(spans, "send direct")
    tracing.use_tracer_provider(None)  # the consuming process has no SDK

    class Forwarder(Consumer):
        def __init__(self) -> None:
            super().__init__(name="forwarder")

        @consumer
        def forward(self, message: dict[str, int]) -> None:
            QueuePublisher(registry, backend).publish("sns-raw", message)

    MessageDispatcher(registry, backend, consumers=[Forwarder()]).process_available("direct")

    (forwarded,) = backend.receive("sns-raw", max_messages=1)
    traceparent = str(forwarded.attributes[tracing.TRACEPARENT])
    assert traceparent.split("-")[1:3] == [
        f"{send.context.trace_id:032x}",
        f"{send.context.span_id:016x}",
    ]


XRAY_HEADER = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"


@pytest.mark.parametrize("traced_publisher", [True, False], ids=["with-context", "without"])
def test_a_lambda_records_xray_header_becomes_a_link_of_the_process_span(
    spans: InMemorySpanExporter, traced_publisher: bool
) -> None:
    """An SQS record with AWSTraceHeader: its process span links the X-Ray trace's segment."""
    backend = _routes_backend()
    if not traced_publisher:
        tracing.use_tracer_provider(None)
    QueuePublisher(json_registry(), backend).publish("direct", {"n": 1})
    tracing.use_tracer_provider(_provider_of(spans))
    (received,) = backend.receive("direct", max_messages=1)
    event = sqs_event_of([received], arn="arn:aws:sqs:us-east-1:123456789012:direct")
    event["Records"][0]["attributes"]["AWSTraceHeader"] = XRAY_HEADER
    messages = [attrs.evolve(m, queue_name="direct") for m in read_event(event).messages]

    MessageDispatcher(json_registry(), backend, consumers=[SpanRecorder()]).process_batch(
        "direct", messages
    )

    (process,) = _named(spans, "process direct")
    linked = [
        (link.context.trace_id, link.context.span_id, link.context.trace_flags.sampled)
        for link in process.links
    ]
    assert (0x5759E988BD862E3FE1BE46A994272793, 0x53995C3F42CD8AD8, True) in linked
    assert len(linked) == (2 if traced_publisher else 1)


@pytest.mark.parametrize(
    "header",
    [
        "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1",  # no parent: no span to link
        "Root=2-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8",
        "Self=1-5759e988-bd862e3fe1be46a994272793",
        "garbage",
    ],
)
def test_an_unusable_xray_header_adds_no_link(spans: InMemorySpanExporter, header: str) -> None:
    """A header without a parent segment, or malformed: processed as before, without a link."""
    backend = _routes_backend()
    tracing.use_tracer_provider(None)
    QueuePublisher(json_registry(), backend).publish("direct", {"n": 1})
    tracing.use_tracer_provider(_provider_of(spans))
    (received,) = backend.receive("direct", max_messages=1)

    MessageDispatcher(json_registry(), backend, consumers=[SpanRecorder()]).process_batch(
        "direct", [attrs.evolve(received, trace_header=header)]
    )

    (process,) = _named(spans, "process direct")
    assert list(process.links) == []
