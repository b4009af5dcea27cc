"""The events the order service and the payment worker exchange: attrs value types.

They travel as typed JSON (``OrdersBindingSpec`` binds them to ``"typed_json"``), so UUIDs,
Decimals and timezone-aware datetimes arrive as the same types they were sent as.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from uuid import UUID

import attrs

__all__ = ["OrderPlaced", "PaymentCompleted"]


@attrs.frozen
class OrderPlaced:
    """A customer placed an order for ``total``."""

    order_id: UUID
    customer: str
    total: Decimal
    placed_at: datetime


@attrs.frozen
class PaymentCompleted:
    """The payment for an order went through."""

    order_id: UUID
    amount: Decimal
    paid_at: datetime
