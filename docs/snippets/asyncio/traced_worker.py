"""The worker's entry module: OpenTelemetry's SDK, then the graph to run.

python -m melange worker traced_worker:graph
"""

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    ConsoleMetricExporter,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
)

from examples.fastapi_app.wiring import graph  # the application's, as the API's

resource = Resource.create({"service.name": "fulfilment-worker"})

tracing = TracerProvider(resource=resource)
tracing.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
trace.set_tracer_provider(tracing)

reader = PeriodicExportingMetricReader(ConsoleMetricExporter())
meters = MeterProvider(resource=resource, metric_readers=[reader])
metrics.set_meter_provider(meters)

__all__ = ["graph"]
