"""The quickstart's billing consumer as a worker process, against an SQS/SNS endpoint.

Run it against the emulator of compose.yaml (``docker compose up -d``)::

    python -m melange consume examples.worker:build_dispatcher --queue billing

It declares its queue (subscribed to the order topic, with a dead-letter queue), then
consumes until SIGTERM or Ctrl-C, when running handlers finish and are acknowledged.
Publish to it with ``python -m examples.worker publish``.
"""

from __future__ import annotations

import os
import sys
import uuid
from datetime import UTC, datetime
from decimal import Decimal

from examples.quickstart import (
    BILLING,
    ORDER_EVENTS,
    BillingConsumer,
    Line,
    OrderPlaced,
    Shipping,
    build_registry,
)
from melange import MessageDispatcher, TopicPublisher
from melange.backends import LocalSQSBackend


def backend() -> LocalSQSBackend:
    """Connect to MELANGE_ENDPOINT_URL (default: the compose.yaml emulator)."""
    return LocalSQSBackend(host=os.environ.get("MELANGE_ENDPOINT_URL", "localhost"), port=9324)


def build_dispatcher() -> MessageDispatcher:
    """Declare the billing queue and return a dispatcher for it (the CLI's factory)."""
    sqs = backend()
    sqs.declare_queue(BILLING, dead_letter_queue=f"{BILLING}-dlq", topics=[ORDER_EVENTS])
    return MessageDispatcher(
        build_registry(), sqs, consumers=[BillingConsumer()], workers=4, wait_time_seconds=5
    )


def publish() -> None:
    """Publish one order to the topic the worker's queue is subscribed to."""
    order = OrderPlaced(
        order_id=uuid.uuid4(),
        placed_at=datetime.now(UTC),
        shipping=Shipping.EXPRESS,
        lines=[Line("tea-sencha", 1, Decimal("7.25"))],
    )
    message_id = TopicPublisher(build_registry(), backend()).publish(ORDER_EVENTS, order)
    print(f"published order {order.order_id} as message {message_id}")


if __name__ == "__main__" and sys.argv[1:] == ["publish"]:
    publish()
