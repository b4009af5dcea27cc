from collections.abc import Sequence

import attrs
import pinject

from melange import Application, Consumer, MessageContext, Subscription, consumer
from melange.backends import InMemoryBackend
from melange.settings import DispatcherSettings, MelangeSettings
from melange_bindings import MelangeBindingSpec, new_object_graph


@attrs.frozen
class OrderPlaced:
    order_id: int
    region: str


@attrs.frozen
class InvoiceRequested:
    order_id: int


class ShippingConsumer(Consumer):
    subscription = Subscription(
        "shipping",
        topics=["order-events"],
        filter_policy={"region": ["eu"]},  # only EU orders reach this queue
        dead_letter_queue="shipping-dlq",
        workers=4,  # default: MELANGE_WORKERS
    )

    @consumer
    def on_order(self, event: OrderPlaced, context: MessageContext) -> None: ...


class ShippingAudit(Consumer):  # shares the queue: its settings merge with the above
    subscription = Subscription(
        "shipping", topics=["order-events"], filter_policy={"region": ["eu"]}
    )

    @consumer
    def on_order(self, event: OrderPlaced) -> None: ...


class InvoiceConsumer(Consumer):
    subscription = Subscription("invoices", visibility_timeout=120)  # read what is sent to it

    @consumer
    def on_request(self, request: InvoiceRequested) -> None: ...


class ShopBindingSpec(pinject.BindingSpec):
    def provide_melange_consumers(
        self,
        shipping_consumer: ShippingConsumer,
        shipping_audit: ShippingAudit,
        invoice_consumer: InvoiceConsumer,
    ) -> Sequence[Consumer]:
        return [shipping_consumer, shipping_audit, invoice_consumer]

    def provide_melange_topics(self) -> Sequence[str]:  # the topics the app publishes to
        return ["order-events", "invoice-events"]


def application(backend: InMemoryBackend, settings: MelangeSettings) -> Application:
    graph = new_object_graph(
        classes=[ShippingConsumer, ShippingAudit, InvoiceConsumer],
        binding_specs=[ShopBindingSpec()],
        melange=MelangeBindingSpec(settings=settings, backend=backend),
    )
    return graph.provide(Application)


broker = InMemoryBackend()  # one broker, declared on twice
app = application(broker, MelangeSettings())
for queue in app.topology.queues:
    print(f"{queue.name}: {len(queue.consumers)} consumers, {queue.options.workers} workers")
print("first declare:")
for done in app.declare():
    print(f"  {done}")

longer = MelangeSettings(dispatcher=DispatcherSettings(visibility_timeout=60, max_receive_count=3))
print("again, with MELANGE_VISIBILITY_TIMEOUT=60 and MELANGE_MAX_RECEIVE_COUNT=3:")
for done in application(broker, longer).declare():
    print(f"  {done}")
