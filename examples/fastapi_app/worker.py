"""The worker side: an async consumer that fulfils every order placed through the API."""

import asyncio

from examples.fastapi_app.events import FULFILMENT_QUEUE, ORDER_EVENTS, OrderPlaced
from melange import Consumer, Subscription, consumer


class Fulfilment:
    """Stands in for the warehouse: remembers the orders it fulfilled, in order."""

    def __init__(self) -> None:
        self.fulfilled: list[OrderPlaced] = []

    async def fulfil(self, order: OrderPlaced) -> None:
        await asyncio.sleep(0)  # a real one awaits its HTTP client or database here
        self.fulfilled.append(order)
        print(f"fulfilment: order {order.order_id} for {order.customer} ships", flush=True)


class FulfilmentConsumer(Consumer):
    # Every order announced on the topic; a failing order is retried, then dead-lettered.
    subscription = Subscription(
        FULFILMENT_QUEUE, topics=[ORDER_EVENTS], dead_letter_queue=f"{FULFILMENT_QUEUE}-dlq"
    )

    def __init__(self, fulfilment: Fulfilment) -> None:  # injected by name
        super().__init__()
        self.fulfilment = fulfilment

    @consumer
    async def on_order_placed(self, order: OrderPlaced) -> None:
        await self.fulfilment.fulfil(order)
