"""The events of the orders app (attrs classes, sent as typed JSON) and their topics."""

from decimal import Decimal
from uuid import UUID

import attrs

ORDER_EVENTS = "order-events"  # the topics the app publishes to
PAYMENT_EVENTS = "payment-events"


@attrs.frozen
class OrderPlaced:
    order_id: UUID
    customer: str
    total: Decimal
    region: str

    def melange_attributes(self) -> dict[str, str]:
        return {"region": self.region}  # what topic filter policies match on


@attrs.frozen
class PaymentCompleted:
    order_id: UUID
    amount: Decimal
