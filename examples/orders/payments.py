"""The payment side: a consumer that charges placed orders, and the worker that runs it."""

from __future__ import annotations

from datetime import UTC, datetime

from examples.orders.messages import OrderPlaced, PaymentCompleted
from melange import Consumer, MessageDispatcher, TopicPublisher, consumer

__all__ = ["PAYMENTS", "PAYMENT_EVENTS", "PaymentConsumer", "PaymentWorker"]

#: The queue the payment worker consumes (subscribed to ``order-events``).
PAYMENTS = "payments"
#: The topic every ``PaymentCompleted`` is published to.
PAYMENT_EVENTS = "payment-events"


class PaymentConsumer(Consumer):
    """Charges each placed order and publishes ``PaymentCompleted`` to ``payment-events``.

    Args:
        topic_publisher: publishes the payment results.
    """

    def __init__(self, topic_publisher: TopicPublisher) -> None:
        super().__init__()
        self.topic_publisher = topic_publisher

    @consumer
    def on_order_placed(self, event: OrderPlaced) -> None:
        """Charge the order's total (always successfully, in this example)."""
        payment = PaymentCompleted(
            order_id=event.order_id, amount=event.total, paid_at=datetime.now(UTC)
        )
        self.topic_publisher.publish(PAYMENT_EVENTS, payment)
        print(f"   payments: charged {event.customer} {event.total} for order {event.order_id}")


class PaymentWorker:
    """Consumes the ``payments`` queue with the graph's dispatcher and the payment consumer.

    The graph's ``message_dispatcher`` is a singleton, so provide one ``PaymentWorker`` per
    graph: each instance attaches its consumer to that same dispatcher.

    Args:
        message_dispatcher: the dispatcher configured from the settings.
        payment_consumer: the consumer of ``OrderPlaced``.
    """

    queue_name = PAYMENTS

    def __init__(
        self, message_dispatcher: MessageDispatcher, payment_consumer: PaymentConsumer
    ) -> None:
        self.dispatcher = message_dispatcher
        self.dispatcher.attach_consumer(payment_consumer)

    def run(self) -> None:
        """Consume ``payments`` until ``stop`` is called (what a worker process does)."""
        self.dispatcher.run(self.queue_name)

    def stop(self) -> None:
        """Ask ``run`` to return once running handlers finish; thread-safe."""
        self.dispatcher.stop()

    def process_available(self) -> int:
        """Handle the messages waiting on ``payments`` now, in this thread; return how many."""
        return self.dispatcher.process_available(self.queue_name)
