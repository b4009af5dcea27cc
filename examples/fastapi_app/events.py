"""The HTTP body of an order and the event announcing it (pydantic models), and its topic."""

from decimal import Decimal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

ORDER_EVENTS = "fastapi-order-events"  # the topic the endpoint publishes to
FULFILMENT_QUEUE = "fastapi-fulfilment"  # the worker's queue, subscribed to that topic


class PlaceOrder(BaseModel):
    """What a client POSTs to /orders."""

    customer: str = Field(min_length=1)
    total: Decimal = Field(gt=0)


class OrderPlaced(BaseModel):
    """Announced on ``ORDER_EVENTS`` once an order is accepted."""

    model_config = ConfigDict(frozen=True)

    order_id: UUID
    customer: str
    total: Decimal
