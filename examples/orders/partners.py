"""Stand-ins for the systems the consumers call: a card processor and a warehouse.

Both keep what they did in memory and print it. pinject makes one of each per graph (its
default scope is singleton), so the consumers and whoever else asks for
``payment_gateway`` or ``warehouse`` by name share them.
"""

from __future__ import annotations

import sys
import threading
from decimal import Decimal
from uuid import UUID

from examples.orders.messages import OrderPlaced

__all__ = [
    "CARD_LIMIT",
    "PaymentDeclinedError",
    "PaymentGateway",
    "Warehouse",
    "report",
]

#: The largest total the stand-in card processor accepts.
CARD_LIMIT = Decimal("1000")


def report(line: str) -> None:
    """Print one line in one write, so lines from several handler threads never mix."""
    sys.stdout.write(f"   {line}\n")


class PaymentDeclinedError(Exception):
    """The card processor refused to charge an order."""


class PaymentGateway:
    """Charges orders up to ``CARD_LIMIT``; remembers the orders it charged."""

    def __init__(self) -> None:
        self.charged: dict[UUID, Decimal] = {}
        self._lock = threading.Lock()  # consumers run in several threads

    def charge(self, order: OrderPlaced) -> None:
        """Charge the order's total.

        Raises:
            PaymentDeclinedError: the total is over ``CARD_LIMIT``.
        """
        if order.total > CARD_LIMIT:
            raise PaymentDeclinedError(f"{order.total} is over the card limit {CARD_LIMIT}")
        with self._lock:
            self.charged[order.order_id] = order.total
        report(f"payments: charged {order.customer} {order.total} for order {order.order_id}")


class Warehouse:
    """Ships orders; remembers the orders it shipped."""

    def __init__(self) -> None:
        self.shipped: list[UUID] = []
        self._lock = threading.Lock()

    def ship(self, order: OrderPlaced) -> None:
        """Ship the order from the warehouse of its region."""
        with self._lock:
            self.shipped.append(order.order_id)
        report(f"shipping: order {order.order_id} leaves the {order.region} warehouse")
