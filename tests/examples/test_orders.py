"""The orders example: its services on a test graph, and its flow run as a process."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import boto3
import pytest

from bindings import TestGraph
from examples.orders.messages import OrderPlaced, PaymentCompleted
from examples.orders.payments import PaymentConsumer, PaymentWorker
from examples.orders.service import OrderService
from examples.orders.status import OrderStatusReader
from examples.orders.wiring import Topology
from melange import QueuePublisher, TopicPublisher
from tests.support.servers import MotoServer

ROOT = Path(__file__).resolve().parents[2]


class Notifier:
    """A service that names both publishers, as an application's services do."""

    def __init__(self, queue_publisher: QueuePublisher, topic_publisher: TopicPublisher) -> None:
        self.queue_publisher = queue_publisher
        self.topic_publisher = topic_publisher


@pytest.fixture(name="graph")
def fixture_graph(melange_test_graph: TestGraph) -> TestGraph:
    """Give the example's test graph with its topics and queues declared."""
    melange_test_graph.provide(Topology).declare()
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
    """Assert that the printed flow placed, charged and reported both orders."""
    assert output.count("placed order") == 2
    assert output.count("payments: charged") == 2
    assert output.count("order status: order") == 2
    assert "4. done: 2 orders placed, 2 payments completed" in output


def test_place_publishes_one_order_placed_to_order_events(graph: TestGraph) -> None:
    """OrderService.place publishes exactly the OrderPlaced it returns to 'order-events'."""
    order = graph.provide(OrderService).place("alice", Decimal("42.50"))

    assert graph.published("order-events") == [order]
    assert isinstance(order, OrderPlaced)
    assert (order.customer, order.total) == ("alice", Decimal("42.50"))
    assert order.placed_at.utcoffset() is not None


def test_payment_worker_publishes_payment_completed_for_a_placed_order(graph: TestGraph) -> None:
    """The worker handles the order from 'payments' and publishes its PaymentCompleted."""
    order = graph.provide(OrderService).place("bob", Decimal("17.25"))

    assert graph.provide(PaymentWorker).process_available() == 1

    [payment] = graph.published("payment-events")
    assert isinstance(payment, PaymentCompleted)
    assert (payment.order_id, payment.amount) == (order.order_id, Decimal("17.25"))
    assert payment.paid_at >= order.placed_at


def test_order_status_reads_the_payment_back(graph: TestGraph) -> None:
    """A payment published to 'payment-events' reaches the order side on 'order-status'."""
    order = graph.provide(OrderService).place("carol", Decimal("9.99"))
    graph.drain("payments", graph.provide(PaymentConsumer))
    reader = graph.provide(OrderStatusReader)

    assert reader.read_available() == 1
    assert reader.paid[order.order_id] == graph.published("payment-events")[0]


def test_topology_gives_payments_a_dead_letter_queue(graph: TestGraph) -> None:
    """The declared 'payments' queue sends messages that keep failing to 'payments-dlq'."""
    policy = graph.backend.redrive_policy("payments")
    assert policy is not None
    assert policy.dead_letter_queue == "payments-dlq"


def test_services_share_the_graphs_publishers(graph: TestGraph) -> None:
    """Every service provided by one graph gets the same queue and topic publisher."""
    first, second = graph.provide(Notifier), graph.provide(Notifier)

    assert first.queue_publisher is second.queue_publisher
    assert first.topic_publisher is second.topic_publisher
    assert graph.provide(OrderService).topic_publisher is first.topic_publisher
    assert graph.provide(PaymentConsumer).topic_publisher is first.topic_publisher


def test_module_runs_the_flow_on_the_embedded_default() -> None:
    """With no MELANGE_* variables the example runs in memory and every order is paid."""
    result = run_orders()

    assert result.returncode == 0, result.stderr
    assert "backend memory (embedded in this process; MELANGE_ENV unset)" in result.stdout
    assert_flow(result.stdout)


def test_module_reports_wrong_settings_and_exits_2() -> None:
    """A local backend without an endpoint makes the example exit 2 naming the variable."""
    result = run_orders(MELANGE_BACKEND="local")

    assert result.returncode == 2
    assert "MELANGE_ENDPOINT_URL" in result.stderr


@pytest.mark.integration
@pytest.mark.parametrize(
    "settings",
    [{"MELANGE_BACKEND": "local"}, {"MELANGE_ENV": "local", "MELANGE_DEDUP": "memory"}],
    ids=["MELANGE_BACKEND=local", "MELANGE_ENV=local"],
)
def test_module_runs_the_same_flow_on_moto(
    moto_server: MotoServer, unique: str, settings: dict[str, str]
) -> None:
    """The unchanged example runs on the moto server, under the prefix the settings give."""
    result = run_orders(
        **settings, MELANGE_ENDPOINT_URL=moto_server.endpoint_url, MELANGE_PREFIX=f"{unique}-"
    )

    assert result.returncode == 0, result.stderr
    assert f"backend local (emulator at {moto_server.endpoint_url}" in result.stdout
    assert_flow(result.stdout)
    sqs = boto3.client(
        "sqs",
        endpoint_url=moto_server.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )
    for queue in ("payments", "payments-dlq", "order-status"):
        assert sqs.get_queue_url(QueueName=f"{unique}-{queue}")["QueueUrl"]
