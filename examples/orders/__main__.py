"""Run the order/payment flow end to end: ``make run`` or ``python -m examples.orders``.

The same code runs on every backend; only the environment differs::

    # the embedded in-memory backend (the default)
    python -m examples.orders
    # the emulator of compose.yaml (docker compose up -d first)
    MELANGE_ENV=local python -m examples.orders
    # AWS, with credentials from the standard AWS chain (profile, role, ...)
    MELANGE_BACKEND=aws AWS_REGION=eu-west-1 MELANGE_PREFIX=demo- python -m examples.orders

On AWS it creates the topics ``<prefix>order-events`` and ``<prefix>payment-events`` and
the queues ``<prefix>payments``, ``<prefix>payments-dlq`` and ``<prefix>order-status``.
It exits with status 1 if any order's ``PaymentCompleted`` does not arrive in time, and
with status 2 when the settings are wrong or the backend cannot be reached.
"""

from __future__ import annotations

import sys
import time
from decimal import Decimal
from uuid import UUID

from examples.orders.payments import PAYMENT_EVENTS, PAYMENTS, PaymentWorker
from examples.orders.service import ORDER_EVENTS, OrderService
from examples.orders.status import ORDER_STATUS, OrderStatusReader
from examples.orders.wiring import Topology, build_graph
from melange.exceptions import MelangeError
from melange.settings import MelangeSettings, load_settings

#: How long to wait for every payment: SNS delivers to SQS asynchronously on AWS.
TIMEOUT_SECONDS = 30.0
POLL_INTERVAL_SECONDS = 0.2

ORDERS = (("alice", Decimal("42.50")), ("bob", Decimal("17.25")))


def describe(settings: MelangeSettings) -> str:
    """Say which backend the settings chose and where it comes from."""
    if settings.backend == "memory":
        where = "embedded in this process"
    elif settings.backend == "local":
        where = f"emulator at {settings.endpoint_url}"
    else:
        where = f"AWS, region {settings.region or '(from the AWS profile)'}"
    env = f"MELANGE_ENV={settings.env}" if settings.env else "MELANGE_ENV unset"
    prefix = f", names prefixed {settings.prefix!r}" if settings.prefix else ""
    return f"backend {settings.backend} ({where}; {env}{prefix})"


def await_payments(
    worker: PaymentWorker, status: OrderStatusReader, order_ids: set[UUID]
) -> set[UUID]:
    """Run the worker and read the statuses until every order is paid or time runs out.

    Returns:
        The ids of the orders whose payment did not arrive.
    """
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while True:
        worker.process_available()
        status.read_available()
        missing = order_ids - status.paid.keys()
        if not missing or time.monotonic() >= deadline:
            return missing
        time.sleep(POLL_INTERVAL_SECONDS)


def run(settings: MelangeSettings) -> int:
    """Run the flow on the backend ``settings`` choose; return the exit status."""
    print(f"orders example on {describe(settings)}")
    graph = build_graph(settings)

    graph.provide(Topology).declare()
    print(
        f"1. declared queue {PAYMENTS!r} (dead letters to {PAYMENTS + '-dlq'!r}) on topic "
        f"{ORDER_EVENTS!r}, queue {ORDER_STATUS!r} on topic {PAYMENT_EVENTS!r}"
    )

    orders = graph.provide(OrderService)
    print(f"2. the order service publishes OrderPlaced to {ORDER_EVENTS!r}")
    order_ids: set[UUID] = set()
    for customer, total in ORDERS:
        order = orders.place(customer, total)
        order_ids.add(order.order_id)
        print(f"   placed order {order.order_id} for {customer}, total {total}")

    print(
        f"3. the payment worker consumes {PAYMENTS!r} and publishes PaymentCompleted to "
        f"{PAYMENT_EVENTS!r}; the order side reads {ORDER_STATUS!r}"
    )
    status = graph.provide(OrderStatusReader)
    missing = await_payments(graph.provide(PaymentWorker), status, order_ids)
    if missing:
        print(
            f"4. FAILED: no PaymentCompleted within {TIMEOUT_SECONDS:g} s for "
            f"{sorted(str(order_id) for order_id in missing)}",
            file=sys.stderr,
        )
        return 1
    print(f"4. done: {len(order_ids)} orders placed, {len(order_ids)} payments completed")
    return 0


def main() -> int:
    """Load the settings from the environment and run the flow."""
    try:
        return run(load_settings())
    except MelangeError as exc:
        print(f"orders example: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
