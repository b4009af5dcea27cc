import attrs

from melange import Consumer, MessageContext, MessageDispatcher, TopicPublisher, consumer
from melange.backends import InMemoryBackend
from melange.serializers import SerializerRegistry, TypedJsonSerializer


@attrs.frozen
class OrderPlaced:
    order_id: int
    region: str

    def melange_attributes(self) -> dict[str, str]:
        return {"region": self.region}  # what subscribers' filter policies match on


class EuShipping(Consumer):
    @consumer
    def on_order(self, order: OrderPlaced, context: MessageContext) -> None:
        print(f"shipping-eu: order {order.order_id}, attributes {dict(context.attributes)}")


registry = SerializerRegistry(
    {
        "serializers": {"typed_json": TypedJsonSerializer},
        "serializer_bindings": {OrderPlaced: "typed_json"},
    }
)
backend = InMemoryBackend()
backend.declare_queue("shipping-eu", topics=["order-events"], filter_policy={"region": ["eu"]})
publisher = TopicPublisher(registry, backend)

publisher.publish("order-events", OrderPlaced(1, "eu"))  # region=eu travels with it
publisher.publish("order-events", OrderPlaced(2, "us"))  # the filter policy keeps it out
publisher.publish("order-events", OrderPlaced(3, "us"), attributes={"region": "eu", "priority": 1})

MessageDispatcher(registry, backend, consumers=[EuShipping()]).process_available("shipping-eu")
