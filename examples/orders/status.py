"""The order side reading payment results from the ``order-status`` queue."""

from __future__ import annotations

from uuid import UUID

from examples.orders.messages import PaymentCompleted
from melange import Consumer, consumer
from melange_bindings import DispatcherFactory

__all__ = ["ORDER_STATUS", "OrderStatusConsumer", "OrderStatusReader"]

#: The queue of payment results for the order side (subscribed to ``payment-events``).
ORDER_STATUS = "order-status"


class OrderStatusConsumer(Consumer):
    """Prints each ``PaymentCompleted`` and remembers which orders were paid."""

    def __init__(self) -> None:
        super().__init__()
        self.paid: dict[UUID, PaymentCompleted] = {}

    @consumer
    def on_payment_completed(self, event: PaymentCompleted) -> None:
        """Record the order as paid."""
        self.paid[event.order_id] = event
        print(
            f"   order status: order {event.order_id} paid {event.amount} "
            f"at {event.paid_at:%H:%M:%S} UTC"
        )


class OrderStatusReader:
    """Reads what is on ``order-status`` now, in the calling thread.

    It asks the graph's dispatcher factory for a dispatcher of its own (with the settings'
    options and deduplication cache): the graph's ``message_dispatcher`` consumes
    ``payments`` for the payment worker.

    Args:
        dispatcher_factory: builds dispatchers from the graph's settings.
    """

    queue_name = ORDER_STATUS

    def __init__(self, dispatcher_factory: DispatcherFactory) -> None:
        self.consumer = OrderStatusConsumer()
        self._dispatcher = dispatcher_factory(self.consumer)

    @property
    def paid(self) -> dict[UUID, PaymentCompleted]:
        """The payments read so far, by order id."""
        return self.consumer.paid

    def read_available(self) -> int:
        """Handle the messages waiting on ``order-status`` now; return how many."""
        return self._dispatcher.process_available(self.queue_name)
