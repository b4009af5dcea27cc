"""The trace context crosses a real SNS-to-SQS hop: moto's notification carries it.

A topic publish fans out to a queue subscribed with raw delivery off, where the trace
context travels inside SNS's notification envelope (its ``MessageAttributes``), and to one
with raw delivery on, where it is an SQS message attribute.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from melange import MessageDispatcher, TopicPublisher
from melange.backends import LocalSQSBackend
from melange.backends.sqs.backend import SqsBackend
from melange.telemetry import tracing
from tests.support.messaging import json_registry
from tests.support.polling import poll_until
from tests.support.servers import MotoServer
from tests.unit.test_tracing import SpanRecorder

pytestmark = pytest.mark.integration


@pytest.fixture(name="spans")
def fixture_spans() -> Iterator[tuple[InMemorySpanExporter, TracerProvider]]:
    """Give the exporter of melange's spans, and its provider for the test's own."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.use_tracer_provider(provider)
    yield exporter, provider
    tracing.use_tracer_provider(None)
    provider.shutdown()


@pytest.fixture(name="backend")
def fixture_backend(moto_server: MotoServer) -> Iterator[SqsBackend]:
    """Give an SQS backend on the session's moto server."""
    backend = LocalSQSBackend(host=moto_server.host, port=moto_server.port)
    yield backend
    backend.close()


def test_a_topic_publish_is_processed_in_the_callers_trace_through_moto(
    spans: tuple[InMemorySpanExporter, TracerProvider], backend: SqsBackend, unique: str
) -> None:
    """Both subscribed queues process the message as children of the publish span."""
    exporter, provider = spans
    topic, envelope, raw = f"{unique}-events", f"{unique}-env", f"{unique}-raw"
    backend.declare_queue(envelope, topics=[topic])
    backend.declare_queue(raw, topics=[topic], raw_message_delivery=True)
    registry = json_registry()
    with provider.get_tracer("shop").start_as_current_span("OrderService.place") as place:
        TopicPublisher(registry, backend).publish(topic, {"n": 1})
    recorder = SpanRecorder()
    dispatcher = MessageDispatcher(registry, backend, consumers=[recorder])

    for queue in (envelope, raw):

        def handled_one(queue: str = queue) -> bool:
            return dispatcher.process_available(queue) == 1

        poll_until(handled_one, timeout=10, message=f"a message handled from {queue!r}")

    finished = {s.name: s for s in exporter.get_finished_spans()}
    publish = finished[f"publish {topic}"]
    assert publish.parent is not None
    assert publish.parent.span_id == place.get_span_context().span_id
    for queue in (envelope, raw):
        process = finished[f"process {queue}"]
        assert process.context.trace_id == place.get_span_context().trace_id
        assert process.parent is not None
        assert process.parent.span_id == publish.context.span_id
        assert process.context.span_id in recorder.span_ids
        receive = finished[f"receive {queue}"]
        assert [link.context.span_id for link in receive.links] == [publish.context.span_id]
    assert recorder.attributes == [{}, {}]
    assert trace.get_current_span() is trace.INVALID_SPAN
