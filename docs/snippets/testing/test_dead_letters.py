from decimal import Decimal

import attrs

from examples.orders.app import CLASSES, OrdersBindingSpec
from examples.orders.consumers import PaymentConsumer
from examples.orders.service import OrderService
from melange import Application
from melange_bindings import new_test_graph
from melange_bindings.testing import TEST_SETTINGS


def test_a_declined_payment_ends_in_the_dead_letter_queue() -> None:
    retry_at_once = attrs.evolve(TEST_SETTINGS.dispatcher, backoff_base=0.0)
    settings = attrs.evolve(TEST_SETTINGS, dispatcher=retry_at_once)
    graph = new_test_graph(
        OrdersBindingSpec(),
        classes=CLASSES,
        settings=settings,
    )
    graph.provide(Application).declare()
    # Over the card limit: every attempt fails.
    graph.provide(OrderService).place("eve", Decimal("5000"), "us")

    received = graph.drain("payments", graph.provide(PaymentConsumer))

    # Received as often as allowed; the last failure dead-letters it.
    assert received == settings.dispatcher.max_receive_count
    [dead] = graph.dead_letters("payments")  # what is on payments-dlq, and why
    assert dead.reason == "PaymentDeclinedError: 5000 is over the card limit 1000"
    assert dead.message.total == Decimal("5000")
    assert graph.published("payment-events") == []
