"""Print the trace of one order of the orders example, in memory.

melange's spans go to an OpenTelemetry SDK provider that keeps them in memory; the order
is placed inside a span of the application's own, then both queues are drained.
"""

from collections import defaultdict
from decimal import Decimal

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from examples.orders.app import CLASSES, OrdersBindingSpec
from examples.orders.consumers import EuShippingConsumer, PaymentConsumer
from examples.orders.service import OrderService
from melange import Application
from melange.telemetry.tracing import use_tracer_provider
from melange_bindings import new_test_graph

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
use_tracer_provider(provider)  # melange's spans; the global provider is left alone

graph = new_test_graph(OrdersBindingSpec(), classes=CLASSES)
graph.provide(Application).declare()
with provider.get_tracer("orders").start_as_current_span("OrderService.place"):
    graph.provide(OrderService).place("ada", Decimal("9.90"), "eu")
graph.drain("payments", graph.provide(PaymentConsumer))
graph.drain("shipping-eu", graph.provide(EuShippingConsumer))

spans = exporter.get_finished_spans()
children: dict[int | None, list[ReadableSpan]] = defaultdict(list)
for span in spans:
    children[span.parent.span_id if span.parent else None].append(span)


SHOWN = ("messaging.system", "melange.outcome")


def show(span: ReadableSpan, depth: int = 0) -> None:
    attributes = span.attributes or {}
    shown = [f"{key}={attributes[key]}" for key in SHOWN if key in attributes]
    print(f"{'  ' * depth}{span.name} [{span.kind.name}] {' '.join(shown)}".rstrip())
    for child in sorted(children[span.context.span_id], key=lambda s: s.start_time or 0):
        show(child, depth + 1)


(root,) = [s for s in children[None] if s.name == "OrderService.place"]
print(f"trace {root.context.trace_id:032x}")
show(root)
for span in children[None]:
    if span is not root:
        linked = sum(link.context.trace_id == root.context.trace_id for link in span.links)
        print(f"{span.name} [{span.kind.name}] (own trace) links to {linked} of this trace")
