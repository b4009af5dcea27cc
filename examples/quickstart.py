"""melange in one process on the embedded in-memory backend: declare, publish, fan out, read back.

Run it with ``make run``. An order service publishes ``OrderPlaced`` to a topic that fans
out to a billing queue and a shipping queue (the shipping queue only takes express
orders, by filter policy), and sends a ``RefundRequested`` command straight to the billing
queue. Each queue is then read back and every message printed, with the id the publisher
gave it.
"""

from __future__ import annotations

import enum
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import attrs

from melange import QueuePublisher, TopicPublisher, wire
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


def drain(registry: SerializerRegistry, backend: MessagingBackend, queue: str) -> int:
    """Print and acknowledge every message waiting on ``queue``; return how many there were."""
    count = 0
    while batch := backend.receive(queue, max_messages=10):
        for received in batch:
            envelope = wire.unwrap(received)
            message = registry.deserialize_envelope(envelope)
            print(f"  {queue}: {type(message).__name__} (message {envelope.message_id})")
        backend.acknowledge(queue, [m.receipt_handle for m in batch])
        count += len(batch)
    return count


def main() -> None:
    """Run the example end to end and check that every message arrived."""
    registry = build_registry()
    backend = InMemoryBackend()
    declare(backend)
    publish(registry, backend)
    print("reading the queues back:")
    billing, shipping = drain(registry, backend, BILLING), drain(registry, backend, SHIPPING)
    print(f"{BILLING}: {billing} messages, {SHIPPING}: {shipping} message (express only)")
    if (billing, shipping) != (3, 1):
        raise SystemExit(f"expected 3 billing and 1 shipping message, got {billing}, {shipping}")
    backend.close()


if __name__ == "__main__":
    main()
