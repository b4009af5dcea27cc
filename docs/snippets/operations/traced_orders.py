"""The orders app's graph with OpenTelemetry's SDK set up first: a target for the CLI worker.

``python -m melange worker docs.snippets.operations.traced_orders:graph`` calls ``graph()``
once, before it consumes, so the provider is in place for every span melange records.
"""

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

from examples.orders import app
from melange_bindings import ObjectGraph


def graph() -> ObjectGraph:
    provider = TracerProvider(resource=Resource.create({"service.name": "orders-worker"}))
    # ConsoleSpanExporter prints each span as JSON; an OTLP exporter sends them to a collector.
    provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    trace.set_tracer_provider(provider)  # the SDK flushes what is batched when the worker exits
    return app.graph()
