"""The order service: places orders and announces each one on the ``order-events`` topic."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

from examples.orders.messages import OrderPlaced
from melange import TopicPublisher

__all__ = ["ORDER_EVENTS", "OrderService"]

#: The topic every ``OrderPlaced`` is published to.
ORDER_EVENTS = "order-events"


class OrderService:
    """Places orders; pinject injects the graph's ``topic_publisher`` by its name.

    Args:
        topic_publisher: publishes to the topics of the graph's backend.
    """

    def __init__(self, topic_publisher: TopicPublisher) -> None:
        self.topic_publisher = topic_publisher

    def place(self, customer: str, total: Decimal) -> OrderPlaced:
        """Place an order and publish its ``OrderPlaced`` to ``order-events``.

        Returns:
            The event as published.
        """
        order = OrderPlaced(
            order_id=uuid.uuid4(), customer=customer, total=total, placed_at=datetime.now(UTC)
        )
        self.topic_publisher.publish(ORDER_EVENTS, order)
        return order
