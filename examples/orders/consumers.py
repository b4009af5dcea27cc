"""The consumers of the orders example, each stating the queue and topics it reads."""

from examples.orders.messages import ORDER_EVENTS, PAYMENT_EVENTS, OrderPlaced, PaymentCompleted
from examples.orders.partners import PaymentGateway, Warehouse, report
from melange import Consumer, MessageContext, Subscription, TopicPublisher, consumer


class PaymentConsumer(Consumer):
    # Every order; a payment failing MELANGE_MAX_RECEIVE_COUNT times moves to payments-dlq.
    subscription = Subscription("payments", topics=[ORDER_EVENTS], dead_letter_queue="payments-dlq")

    def __init__(self, payment_gateway: PaymentGateway, topic_publisher: TopicPublisher) -> None:
        super().__init__()
        self.payment_gateway = payment_gateway
        self.topic_publisher = topic_publisher

    @consumer
    def on_order_placed(self, order: OrderPlaced, context: MessageContext) -> None:
        if context.receive_count > 1:
            report(f"payments: retrying order {order.order_id} ({context.receive_count})")
        self.payment_gateway.charge(order)  # raises when declined: retried later
        self.topic_publisher.publish(PAYMENT_EVENTS, PaymentCompleted(order.order_id, order.total))


class EuShippingConsumer(Consumer):
    # Only EU orders reach this queue: SNS matches the filter policy on 'region'.
    subscription = Subscription(
        "shipping-eu", topics=[ORDER_EVENTS], filter_policy={"region": ["eu"]}
    )

    def __init__(self, warehouse: Warehouse) -> None:
        super().__init__()
        self.warehouse = warehouse

    @consumer
    def on_order_placed(self, order: OrderPlaced) -> None:
        self.warehouse.ship(order)
