"""The README's example: publish an event to a topic, consume it from a queue, in memory.

Run it with ``python -m examples.hello``; swap ``InMemoryBackend()`` for ``AWSBackend()`` or
``LocalSQSBackend(host=..., port=...)`` and nothing else changes.
"""

from decimal import Decimal

import attrs

from melange import Consumer, MessageDispatcher, TopicPublisher, consumer
from melange.backends import InMemoryBackend
from melange.serializers import SerializerRegistry, TypedJsonSerializer


@attrs.frozen
class OrderPlaced:
    order_id: int
    total: Decimal


class Billing(Consumer):
    @consumer
    def on_order_placed(self, order: OrderPlaced) -> None:
        print(f"billing order {order.order_id}: {order.total}")


backend = InMemoryBackend()  # or AWSBackend(), or LocalSQSBackend(host=..., port=...)
backend.declare_queue("billing", topics=["order-events"], dead_letter_queue="billing-dlq")
registry = SerializerRegistry(
    {"serializers": {"typed": TypedJsonSerializer}, "serializer_bindings": {OrderPlaced: "typed"}}
)

TopicPublisher(registry, backend).publish("order-events", OrderPlaced(1, Decimal("9.90")))
MessageDispatcher(registry, backend, consumers=[Billing()]).process_available("billing")
