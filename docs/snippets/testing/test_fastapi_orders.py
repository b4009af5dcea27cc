import asyncio
from decimal import Decimal
from uuid import UUID

import httpx
from fastapi import FastAPI

from examples.fastapi_app.app import create_app
from examples.fastapi_app.events import FULFILMENT_QUEUE, OrderPlaced
from examples.fastapi_app.wiring import graph
from examples.fastapi_app.worker import FulfilmentConsumer
from melange import Application
from melange.app.aio_worker import AsyncDispatcherFactory
from melange_bindings.testing import TEST_SETTINGS

ORDER = {"customer": "ada", "total": "42.50"}


async def post_order(app: FastAPI, body: dict[str, str]) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    client = httpx.AsyncClient(transport=transport, base_url="http://api")
    async with client:
        return await client.post("/orders", json=body)


def test_an_order_posted_is_fulfilled() -> None:
    objects = graph(TEST_SETTINGS)  # the application's own graph, in memory
    objects.provide(Application).declare()
    [fulfilment] = objects.provide(Application).consumers  # the worker's
    assert isinstance(fulfilment, FulfilmentConsumer)
    app = create_app(lambda: objects)

    async def scenario() -> httpx.Response:
        async with app.router.lifespan_context(app):  # as uvicorn runs it
            response = await post_order(app, ORDER)
            worker = objects.provide(AsyncDispatcherFactory)(fulfilment)
            await worker.process_available(FULFILMENT_QUEUE)
        return response

    response = asyncio.run(scenario())

    assert response.status_code == 202
    order_id = UUID(response.json()["order_id"])
    placed = OrderPlaced(
        order_id=order_id,
        customer="ada",
        total=Decimal("42.50"),
    )
    assert fulfilment.fulfilment.fulfilled == [placed]
