"""The order side: places orders and announces each one on the ``order-events`` topic."""

import uuid
from decimal import Decimal

from examples.orders.messages import ORDER_EVENTS, OrderPlaced
from melange import TopicPublisher


class OrderService:
    def __init__(self, topic_publisher: TopicPublisher) -> None:  # injected by name
        self.topic_publisher = topic_publisher

    def place(self, customer: str, total: Decimal, region: str) -> OrderPlaced:
        order = OrderPlaced(uuid.uuid4(), customer, total, region)
        self.topic_publisher.publish(ORDER_EVENTS, order)  # sets the 'region' attribute
        return order
