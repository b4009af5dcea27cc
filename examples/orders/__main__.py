"""Run the orders app in one process: ``make run`` or ``python -m examples.orders``.

It declares the app's topology, places three orders, runs the app's worker until every
order is paid and every EU order shipped, and stops it. The same code runs on every
backend; only the environment differs::

    python -m examples.orders                        # in memory (the default)
    MELANGE_ENV=local python -m examples.orders      # compose.yaml's emulator
    MELANGE_BACKEND=aws AWS_REGION=eu-west-1 MELANGE_PREFIX=demo- python -m examples.orders

Exit status: 0 when everything arrived, 1 when something did not in time, 2 when the
settings are wrong or the backend cannot be reached.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from decimal import Decimal

import attrs

from examples.orders.app import graph
from examples.orders.partners import PaymentGateway, Warehouse
from examples.orders.service import OrderService
from melange import Application
from melange.exceptions import MelangeError
from melange.settings import MelangeSettings, load_settings

#: How long to wait for every payment and shipment: SNS delivers asynchronously on AWS.
TIMEOUT_SECONDS = 30.0
POLL_SECONDS = 0.1
#: The worker's long poll here: stopping waits for a receive in progress to return, so a
#: short one lets the run end as soon as everything arrived (a real worker keeps 20 s).
WAIT_TIME_SECONDS = 1

ORDERS = (
    ("alice", Decimal("42.50"), "eu"),
    ("bob", Decimal("17.25"), "us"),
    ("chloe", Decimal("99.00"), "eu"),
)


class Flow:
    """What the run uses; pinject injects the graph's singletons by their names."""

    def __init__(
        self,
        melange_app: Application,
        order_service: OrderService,
        payment_gateway: PaymentGateway,
        warehouse: Warehouse,
    ) -> None:
        self.app = melange_app
        self.orders = order_service
        self.gateway = payment_gateway
        self.warehouse = warehouse


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


def run_worker_until(app: Application, done: Callable[[], bool]) -> None:
    """Run the app's worker in a thread until ``done()`` or ``TIMEOUT_SECONDS``; stop it."""
    worker = app.worker()
    running = threading.Thread(target=worker.run, name="orders-worker")
    running.start()
    deadline = time.monotonic() + TIMEOUT_SECONDS
    try:
        while not done() and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
    finally:
        worker.stop()  # running handlers finish and are acknowledged
        running.join()


def run(settings: MelangeSettings) -> int:
    """Run the flow on the backend ``settings`` choose; return the exit status."""
    print(f"orders example on {describe(settings)}")
    polling = attrs.evolve(
        settings.dispatcher,
        wait_time_seconds=min(settings.dispatcher.wait_time_seconds, WAIT_TIME_SECONDS),
    )
    flow = graph(attrs.evolve(settings, dispatcher=polling)).provide(Flow)

    print("1. declare what the consumers' subscriptions state:")
    for declared in flow.app.declare():
        print(f"   {declared}")

    print("2. the order service publishes OrderPlaced to 'order-events':")
    placed = [flow.orders.place(customer, total, region) for customer, total, region in ORDERS]
    for order in placed:
        print(f"   placed order {order.order_id} for {order.customer} ({order.region})")
    to_pay = {order.order_id for order in placed}
    to_ship = {order.order_id for order in placed if order.region == "eu"}

    print(f"3. the worker consumes {', '.join(map(repr, flow.app.queue_names))}:")
    run_worker_until(
        flow.app,
        lambda: to_pay <= flow.gateway.charged.keys() and to_ship <= set(flow.warehouse.shipped),
    )

    paid = len(to_pay & flow.gateway.charged.keys())
    shipped = len(to_ship & set(flow.warehouse.shipped))
    summary = f"{len(placed)} orders placed, {paid} paid, {shipped} shipped (EU only)"
    if paid < len(to_pay) or shipped < len(to_ship):
        print(f"4. FAILED within {TIMEOUT_SECONDS:g} s: {summary}", file=sys.stderr)
        return 1
    print(f"4. done: {summary}")
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
