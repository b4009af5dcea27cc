from decimal import Decimal

from examples.orders.consumers import EuShippingConsumer, PaymentConsumer
from examples.orders.messages import PaymentCompleted
from examples.orders.service import OrderService
from melange_bindings import TestGraph


def test_an_order_placed_is_announced(graph: TestGraph) -> None:
    order = graph.provide(OrderService).place("ada", Decimal("9.90"), "eu")

    # Deserialized again: equal to what was published, not the same object.
    assert graph.published("order-events") == [order]


def test_only_eu_orders_are_shipped(graph: TestGraph) -> None:
    orders = graph.provide(OrderService)
    eu_order = orders.place("ada", Decimal("9.90"), "eu")
    orders.place("bob", Decimal("5.00"), "us")
    shipping = graph.provide(EuShippingConsumer)

    assert graph.drain("shipping-eu", shipping) == 1  # the filter kept 'us' out
    assert shipping.warehouse.shipped == [eu_order.order_id]


def test_an_order_is_paid(graph: TestGraph) -> None:
    order = graph.provide(OrderService).place("ada", Decimal("9.90"), "eu")

    graph.drain("payments", graph.provide(PaymentConsumer))

    paid = PaymentCompleted(order.order_id, order.total)
    assert graph.published("payment-events") == [paid]
