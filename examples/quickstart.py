"""melange in one process on the embedded in-memory backend: declare, publish, fan out, consume.

Run it with ``make run``. An order service publishes ``OrderPlaced`` to a topic that fans
out to a billing queue and a shipping queue (the shipping queue only takes express
orders, by filter policy), and sends a ``RefundRequested`` command straight to the billing
queue. Consumers then handle each queue, a handler method per message type, and every
message is acknowledged once handled.
"""

from __future__ import annotations

import enum
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import attrs

from melange import Consumer, MessageDispatcher, QueuePublisher, TopicPublisher, consumer
from melange.backends import InMemoryBackend, MessagingBackend
from melange.serializers import SerializerRegistry, TypedJsonSerializer

ORDER_EVENTS = "order-events"
BILLING = "billing"
SHIPPING = "shipping"


class Shipping(enum.Enum):
    STANDARD = "standard"
    EXPRESS = "express"


@attrs.frozen
class Line:
    sku: str
    quantity: int
    unit_price: Decimal


@attrs.frozen
class OrderPlaced:
    order_id: uuid.UUID
    placed_at: datetime
    shipping: Shipping
    lines: list[Line]


@attrs.frozen
class RefundRequested:
    order_id: uuid.UUID
    reason: str


def build_registry() -> SerializerRegistry:
    """Bind the application's message classes to the typed JSON serializer."""
    return SerializerRegistry(
        {
            "serializers": {"typed": TypedJsonSerializer},
            "serializer_bindings": {OrderPlaced: "typed", RefundRequested: "typed"},
        }
    )


def declare(backend: MessagingBackend) -> None:
    """Declare the topic, the two queues, their subscriptions and dead-letter queues."""
    backend.declare_queue(BILLING, dead_letter_queue=f"{BILLING}-dlq", topics=[ORDER_EVENTS])
    backend.declare_queue(
        SHIPPING,
        dead_letter_queue=f"{SHIPPING}-dlq",
        topics=[ORDER_EVENTS],
        filter_policy={"shipping": ["express"]},
    )


def publish(registry: SerializerRegistry, backend: MessagingBackend) -> None:
    """Publish two orders to the topic and one refund command to the billing queue."""
    topic_publisher = TopicPublisher(registry, backend)
    queue_publisher = QueuePublisher(registry, backend)
    for shipping in (Shipping.STANDARD, Shipping.EXPRESS):
        order = OrderPlaced(
            order_id=uuid.uuid4(),
            placed_at=datetime.now(UTC),
            shipping=shipping,
            lines=[Line("tea-earl-grey", 2, Decimal("4.50"))],
        )
        message_id = topic_publisher.publish(
            ORDER_EVENTS, order, attributes={"shipping": shipping.value}
        )
        print(f"published {shipping.value} order {order.order_id} as message {message_id}")
    refund = RefundRequested(order_id=uuid.uuid4(), reason="damaged in transit")
    message_id = queue_publisher.publish(BILLING, refund)
    print(f"sent refund for order {refund.order_id} to {BILLING!r} as message {message_id}")


class BillingConsumer(Consumer):
    """Bills placed orders and refunds requested ones; a handler per message type."""

    @consumer
    def on_order_placed(self, event: OrderPlaced) -> None:
        total = sum(line.quantity * line.unit_price for line in event.lines)
        print(f"  billing: OrderPlaced {event.order_id}, charging {total}")

    @consumer
    def on_refund_requested(self, command: RefundRequested) -> None:
        print(f"  billing: RefundRequested {command.order_id} ({command.reason})")


class ShippingConsumer(Consumer):
    """Ships the orders its queue's filter policy lets through (express only)."""

    @consumer
    def on_order_placed(self, event: OrderPlaced) -> None:
        print(f"  shipping: OrderPlaced {event.order_id}, {event.shipping.value} delivery")


def consume(
    registry: SerializerRegistry, backend: MessagingBackend, queue: str, handler: Consumer
) -> int:
    """Handle every message waiting on ``queue`` with ``handler``; return how many."""
    dispatcher = MessageDispatcher(registry, backend, consumers=[handler])
    # process_available handles what is queued now, in this thread; a service would call
    # dispatcher.run(queue) (or `python -m melange consume`) to consume until stopped.
    return dispatcher.process_available(queue)


def main() -> None:
    """Run the example end to end and check that every message arrived."""
    registry = build_registry()
    backend = InMemoryBackend()
    declare(backend)
    publish(registry, backend)
    print("consuming:")
    billing = consume(registry, backend, BILLING, BillingConsumer())
    shipping = consume(registry, backend, SHIPPING, ShippingConsumer())
    print(f"{BILLING}: {billing} messages, {SHIPPING}: {shipping} message (express only)")
    if (billing, shipping) != (3, 1):
        raise SystemExit(f"expected 3 billing and 1 shipping message, got {billing}, {shipping}")
    backend.close()


if __name__ == "__main__":
    main()
