"""The orders app on a test graph whose topology the app declares, and its flow as a process."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import attrs
import pytest

from examples.orders.__main__ import Flow
from examples.orders.app import CLASSES, OrdersBindingSpec
from examples.orders.consumers import EuShippingConsumer, PaymentConsumer
from examples.orders.messages import OrderPlaced, PaymentCompleted
from examples.orders.service import OrderService
from melange import Application, Consumer, MessageContext, consumer
from melange_bindings import TestGraph
from melange_bindings.testing import TEST_SETTINGS, new_test_graph

ROOT = Path(__file__).resolve().parents[2]


class DeadLetters(Consumer):
    """Reads dead-lettered orders back, with the queue each came from."""

    def __init__(self) -> None:
        super().__init__()
        self.orders: list[tuple[OrderPlaced, str]] = []

    @consumer
    def on_order_placed(self, order: OrderPlaced, context: MessageContext) -> None:
        self.orders.append((order, context.queue_name))


@pytest.fixture(name="graph")
def fixture_graph(melange_test_graph: TestGraph) -> TestGraph:
    """Give the app's test graph with the topology the app itself states declared."""
    melange_test_graph.provide(Application).declare()
    return melange_test_graph


def run_orders(**overrides: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m examples.orders`` from the repository root with only these settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MELANGE_")}
    return subprocess.run(
        [sys.executable, "-m", "examples.orders"],
        cwd=ROOT,
        env={**env, **overrides},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def assert_flow(output: str) -> None:
    """Assert that the printed flow placed and paid three orders and shipped the two EU ones."""
    assert output.count("placed order") == 3
    assert output.count("payments: charged") == 3
    assert output.count("leaves the eu warehouse") == 2
    assert "4. done: 3 orders placed, 3 paid, 2 shipped (EU only)" in output


def test_place_publishes_the_order_with_its_region_as_an_attribute(graph: TestGraph) -> None:
    """OrderService.place publishes the OrderPlaced it returns, its region an SNS attribute."""
    order = graph.provide(OrderService).place("alice", Decimal("42.50"), "eu")

    assert graph.published("order-events") == [order]
    assert (order.customer, order.total, order.region) == ("alice", Decimal("42.50"), "eu")
    [sent] = graph.backend.published("order-events")
    assert dict(sent.envelope.attributes) == {"region": "eu"}


def test_payment_consumer_charges_the_order_and_publishes_payment_completed(
    graph: TestGraph,
) -> None:
    """The payments queue gets every order; its consumer charges it and announces the payment."""
    order = graph.provide(OrderService).place("bob", Decimal("17.25"), "us")
    payments = graph.provide(PaymentConsumer)

    assert graph.drain("payments", payments) == 1

    assert payments.payment_gateway.charged == {order.order_id: Decimal("17.25")}
    assert graph.published("payment-events") == [PaymentCompleted(order.order_id, Decimal("17.25"))]


def test_the_filter_policy_sends_only_eu_orders_to_shipping(graph: TestGraph) -> None:
    """'shipping-eu' receives the EU order and not the US one; 'payments' receives both."""
    service = graph.provide(OrderService)
    eu_order = service.place("chloe", Decimal("99.00"), "eu")
    service.place("dan", Decimal("5.00"), "us")
    shipping = graph.provide(EuShippingConsumer)

    assert graph.drain("shipping-eu", shipping) == 1
    assert shipping.warehouse.shipped == [eu_order.order_id]
    assert graph.drain("payments", graph.provide(PaymentConsumer)) == 2


def test_a_declined_payment_is_retried_then_dead_lettered() -> None:
    """An order the card processor declines moves to 'payments-dlq' after the last receive."""
    no_backoff = attrs.evolve(TEST_SETTINGS.dispatcher, backoff_base=0.0, backoff_jitter=0.0)
    graph = new_test_graph(
        OrdersBindingSpec(),
        classes=CLASSES,
        settings=attrs.evolve(TEST_SETTINGS, dispatcher=no_backoff),
    )
    graph.provide(Application).declare()
    order = graph.provide(OrderService).place("eve", Decimal("5000"), "us")
    payments = graph.provide(PaymentConsumer)

    received = graph.drain("payments", payments)
    dead_letters = DeadLetters()
    graph.drain("payments-dlq", dead_letters)

    assert received == TEST_SETTINGS.dispatcher.max_receive_count
    assert dead_letters.orders == [(order, "payments-dlq")]
    assert payments.payment_gateway.charged == {}
    assert graph.published("payment-events") == []


def test_the_worker_and_the_flow_share_the_graphs_singletons(graph: TestGraph) -> None:
    """The app's consumers use the gateway and warehouse the one-process flow watches."""
    app = graph.provide(Application)
    flow = graph.provide(Flow)
    [payments] = [each for each in app.consumers if isinstance(each, PaymentConsumer)]
    [shipping] = [each for each in app.consumers if isinstance(each, EuShippingConsumer)]

    assert app.queue_names == ("payments", "shipping-eu")
    assert flow.app is app
    assert payments.payment_gateway is flow.gateway
    assert shipping.warehouse is flow.warehouse


def test_module_runs_the_flow_on_the_embedded_default() -> None:
    """With no MELANGE_* variables the app runs in memory: all paid, EU orders shipped, exit 0."""
    result = run_orders()

    assert result.returncode == 0, result.stderr
    assert "backend memory (embedded in this process; MELANGE_ENV unset)" in result.stdout
    assert "created  subscription 'shipping-eu' to 'order-events'" in result.stdout
    assert_flow(result.stdout)


def test_module_reports_wrong_settings_and_exits_2() -> None:
    """A local backend without an endpoint makes the example exit 2 naming the variable."""
    result = run_orders(MELANGE_BACKEND="local")

    assert result.returncode == 2
    assert "MELANGE_ENDPOINT_URL" in result.stderr
