"""The Lambda handler on the in-memory backend: records settled as the worker settles them."""

from __future__ import annotations

from typing import Any

import pinject
import pytest

from melange import Application, Consumer, QueuePublisher, Reject, Subscription, consumer
from melange.aws_lambda import sqs_handler
from melange.exceptions import LambdaEventError
from melange_bindings import new_test_graph
from melange_bindings.testing import TestGraph
from tests.support.lambda_events import sqs_event

ARN = "arn:aws:sqs:us-east-1:123456789012:orders"


class Orders(Consumer):
    subscription = Subscription("orders", dead_letter_queue="orders-dlq")

    def __init__(self) -> None:
        super().__init__()
        self.handled: list[int] = []

    @consumer
    def on_order(self, order: dict[str, Any]) -> None:
        if order["n"] == 2:
            raise TimeoutError("the warehouse did not answer")
        if order["n"] == 3:
            raise Reject("order 3 is for a closed store")
        self.handled.append(order["n"])


class Spec(pinject.BindingSpec):  # type: ignore[misc]
    def provide_melange_consumers(self, orders: Orders) -> list[Consumer]:
        return [orders]


@pytest.fixture(name="graph")
def fixture_graph() -> TestGraph:
    """Give a test graph with Orders reading 'orders' (DLQ 'orders-dlq'), declared."""
    graph = new_test_graph(Spec(), classes=[Orders])
    graph.provide(Application).declare()
    return graph


def test_a_batch_reports_only_the_failed_record_and_dead_letters_the_rejected(
    graph: TestGraph,
) -> None:
    """1 succeeds (not reported), 2 fails (reported), 3 is rejected (DLQ, not reported)."""
    publisher = graph.provide(QueuePublisher)
    for n in (1, 2, 3):
        publisher.publish("orders", {"n": n})
    received = graph.backend.receive("orders")
    handler = sqs_handler(graph.graph)

    answer = handler(sqs_event(received, arn=ARN))

    assert answer == {"batchItemFailures": [{"itemIdentifier": received[1].broker_message_id}]}
    [dead] = graph.dead_letters("orders")
    assert (
        dead.reason
        == "rejected by tests.unit.test_lambda_handler.Orders: order 3 is for a closed store"
    )


def test_an_event_from_a_queue_the_app_does_not_read_is_refused(graph: TestGraph) -> None:
    """A mapping pointed at another queue: a clear error before any record is handled."""
    handler = sqs_handler(graph.graph)
    event = {
        "Records": [
            {
                "eventSource": "aws:sqs",
                "eventSourceARN": ARN + "x",
                "messageId": "m",
                "receiptHandle": "r",
                "body": "{}",
                "attributes": {},
            }
        ]
    }
    with pytest.raises(LambdaEventError, match="no consumer of the application reads"):
        handler(event)


def test_an_event_that_is_not_sqs_is_refused(graph: TestGraph) -> None:
    """An EventBridge-shaped event: refused naming what an SQS event has."""
    with pytest.raises(LambdaEventError, match="not an SQS or SNS event"):
        sqs_handler(graph.graph)({"detail-type": "x"})
