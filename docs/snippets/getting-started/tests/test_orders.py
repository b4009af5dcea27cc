from decimal import Decimal

import attrs

from examples.orders.app import CLASSES, OrdersBindingSpec
from examples.orders.consumers import EuShippingConsumer, PaymentConsumer
from examples.orders.messages import PaymentCompleted
from examples.orders.service import OrderService
from melange import Application
from melange_bindings import TestGraph, new_test_graph
from melange_bindings.testing import TEST_SETTINGS


def test_an_order_is_published_with_its_region_as_an_attribute(graph: TestGraph) -> None:
    """place() publishes the order it returns, its region an attribute filters match on."""
    order = graph.provide(OrderService).place("alice", Decimal("42.50"), "eu")

    assert graph.published("order-events") == [order]
    [sent] = graph.backend.published("order-events")
    assert dict(sent.envelope.attributes) == {"region": "eu"}


def test_only_eu_orders_are_shipped(graph: TestGraph) -> None:
    """The filter policy lets only the EU order into 'shipping-eu', and it is shipped."""
    eu_order = graph.provide(OrderService).place("alice", Decimal("42.50"), "eu")
    graph.provide(OrderService).place("bob", Decimal("17.25"), "us")
    shipping = graph.provide(EuShippingConsumer)

    assert graph.drain("shipping-eu", shipping) == 1
    assert shipping.warehouse.shipped == [eu_order.order_id]


def test_an_order_is_paid(graph: TestGraph) -> None:
    """The payments consumer charges an order and announces the payment."""
    order = graph.provide(OrderService).place("bob", Decimal("17.25"), "us")

    graph.drain("payments", graph.provide(PaymentConsumer))

    assert graph.published("payment-events") == [PaymentCompleted(order.order_id, order.total)]


def test_a_declined_payment_ends_in_the_dead_letter_queue() -> None:
    """An order over the card limit fails every receive, then moves to 'payments-dlq'."""
    retry_at_once = attrs.evolve(TEST_SETTINGS.dispatcher, backoff_base=0.0)
    settings = attrs.evolve(TEST_SETTINGS, dispatcher=retry_at_once)
    graph = new_test_graph(OrdersBindingSpec(), classes=CLASSES, settings=settings)
    graph.provide(Application).declare()
    graph.provide(OrderService).place("carol", Decimal("2500.00"), "eu")  # over the limit

    received = graph.drain("payments", graph.provide(PaymentConsumer))

    assert received == settings.dispatcher.max_receive_count  # the last one dead-letters it
    [dead_letter] = graph.backend.receive("payments-dlq")
    assert "PaymentDeclinedError" in str(dead_letter.attributes["melange_error"])
    assert graph.published("payment-events") == []
