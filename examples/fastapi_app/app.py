"""The HTTP side: POST /orders publishes ``OrderPlaced`` through an injected publisher.

The object graph is built once, in the lifespan; the endpoint gets the graph's
``AsyncTopicPublisher`` through a FastAPI dependency, so a publish never blocks the
event loop and a test can hand the app a graph of its own (``create_app(build_graph)``).
"""

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, Request, status
from pydantic import BaseModel

from examples.fastapi_app.events import ORDER_EVENTS, OrderPlaced, PlaceOrder
from examples.fastapi_app.wiring import graph
from melange.aio import AsyncMessagingBackend, AsyncTopicPublisher
from melange_bindings import ObjectGraph


class OrderAccepted(BaseModel):
    """The 202 answer: the order's id and the id of the message announcing it."""

    order_id: uuid.UUID
    message_id: str


def topic_publisher(request: Request) -> AsyncTopicPublisher:
    """Give the endpoint the graph's publisher, stored on the app by the lifespan."""
    publisher: AsyncTopicPublisher = request.app.state.topic_publisher
    return publisher


def create_app(build_graph: Callable[[], ObjectGraph] = graph) -> FastAPI:
    """Return the API; its lifespan builds the object graph once and closes its backend."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        objects = build_graph()
        app.state.topic_publisher = objects.provide(AsyncTopicPublisher)
        yield
        await objects.provide(AsyncMessagingBackend).close()

    app = FastAPI(title="orders", lifespan=lifespan)

    @app.post("/orders", status_code=status.HTTP_202_ACCEPTED)
    async def place_order(
        body: PlaceOrder, publisher: Annotated[AsyncTopicPublisher, Depends(topic_publisher)]
    ) -> OrderAccepted:
        order = OrderPlaced(order_id=uuid.uuid4(), customer=body.customer, total=body.total)
        message_id = await publisher.publish(ORDER_EVENTS, order)
        return OrderAccepted(order_id=order.order_id, message_id=message_id)

    return app


app = create_app()  # `uvicorn examples.fastapi_app.app:app`
