"""The FastAPI example: POST /orders publishes, and the async worker fulfils the order.

In memory through httpx's ASGI transport, and on the moto server as the example's README
runs it: ``declare``, the app served by ``uvicorn`` and ``python -m melange worker``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
from decimal import Decimal
from pathlib import Path
from typing import IO, Any
from uuid import UUID

import httpx
import pytest
from fastapi import FastAPI

from examples.fastapi_app.app import create_app
from examples.fastapi_app.events import FULFILMENT_QUEUE, OrderPlaced
from examples.fastapi_app.wiring import graph
from examples.fastapi_app.worker import FulfilmentConsumer
from melange import Application
from melange.app.aio_worker import AsyncDispatcherFactory
from melange_bindings import ObjectGraph
from melange_bindings.testing import TEST_SETTINGS
from tests.support.polling import poll_until
from tests.support.servers import MotoServer, free_port

ROOT = Path(__file__).resolve().parents[2]


async def post_order(app: FastAPI, body: dict[str, Any]) -> httpx.Response:
    """POST ``body`` to /orders through the app's ASGI interface (its lifespan already runs)."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://orders.test") as client:
        return await client.post("/orders", json=body)


def fulfilment_consumer(objects: ObjectGraph) -> FulfilmentConsumer:
    """Return the application's consumer, the one the worker runs (with its Fulfilment)."""
    [found] = objects.provide(Application).consumers
    assert isinstance(found, FulfilmentConsumer)
    return found


async def fulfil_available(objects: ObjectGraph) -> None:
    """Handle what the fulfilment queue holds now, with the dispatcher a worker would build."""
    factory = objects.provide(AsyncDispatcherFactory)
    await factory(fulfilment_consumer(objects)).process_available(FULFILMENT_QUEUE)


@pytest.fixture(name="objects")
def fixture_objects() -> ObjectGraph:
    """Give the example's graph on the in-memory backend, its topology declared."""
    objects = graph(TEST_SETTINGS)
    objects.provide(Application).declare()
    return objects


def test_an_order_posted_is_published_and_fulfilled_by_the_async_worker(
    objects: ObjectGraph,
) -> None:
    """POST /orders answers 202 with ids; the async consumer then handles that very event."""
    app = create_app(lambda: objects)

    async def scenario() -> httpx.Response:
        async with app.router.lifespan_context(app):
            response = await post_order(app, {"customer": "alice", "total": "42.50"})
            await fulfil_available(objects)
        return response

    response = asyncio.run(scenario())

    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["message_id"]
    expected = OrderPlaced(
        order_id=UUID(accepted["order_id"]), customer="alice", total=Decimal("42.50")
    )
    assert fulfilment_consumer(objects).fulfilment.fulfilled == [expected]


def test_an_invalid_order_is_refused_with_422_and_publishes_nothing(objects: ObjectGraph) -> None:
    """A negative total fails the request model's validation: 422, and the queue stays empty."""
    app = create_app(lambda: objects)

    async def scenario() -> httpx.Response:
        async with app.router.lifespan_context(app):
            response = await post_order(app, {"customer": "bob", "total": "-1"})
            await fulfil_available(objects)
        return response

    response = asyncio.run(scenario())

    assert response.status_code == 422
    assert fulfilment_consumer(objects).fulfilment.fulfilled == []


def serve_with_uvicorn(
    environment: dict[str, str], port: int, log: IO[str]
) -> subprocess.Popen[str]:
    """Start ``uvicorn examples.fastapi_app.app:app``, as the README runs it, on ``port``."""
    uvicorn = Path(sys.executable).with_name("uvicorn")  # the extra's console script
    return subprocess.Popen(
        [str(uvicorn), "examples.fastapi_app.app:app", "--port", str(port)],
        cwd=ROOT,
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )


def post_when_served(
    url: str, body: dict[str, Any], server: subprocess.Popen[str]
) -> httpx.Response | None:
    """POST ``body`` to ``url`` once the server accepts connections; fail if it exits first."""

    def attempt() -> httpx.Response | None:
        try:
            return httpx.post(url, json=body, timeout=10)
        except httpx.TransportError:
            return None

    return poll_until(
        attempt,
        lambda response: response is not None or server.poll() is not None,
        timeout=30,
        message=f"uvicorn answering {url}",
    )


@pytest.mark.integration
def test_on_moto_the_worker_command_fulfils_an_order_posted_to_the_app(
    moto_server: MotoServer, tmp_path: Path
) -> None:
    """Declared, served by uvicorn and worked as the README says: the worker prints the order."""
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MELANGE_")},
        "MELANGE_BACKEND": "local",
        "MELANGE_ENDPOINT_URL": moto_server.endpoint_url,
        "MELANGE_WAIT_TIME_SECONDS": "1",
        "PYTHONUNBUFFERED": "1",
    }
    command = [sys.executable, "-m", "melange"]
    declared = subprocess.run(
        [*command, "declare", "examples.fastapi_app:graph"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert declared.returncode == 0, declared.stderr
    port = free_port()

    with (
        (tmp_path / "worker.log").open("w") as log,
        (tmp_path / "uvicorn.log").open("w") as served_log,
        serve_with_uvicorn(environment, port, served_log) as server,
        subprocess.Popen(
            [*command, "worker", "examples.fastapi_app:graph"],
            cwd=ROOT,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        ) as worker,
    ):
        lines: list[str] = []

        def read_output() -> None:
            for line in worker.stdout or ():  # one line at a time, as the worker prints them
                lines.append(line)

        reader = threading.Thread(target=read_output, daemon=True)
        reader.start()
        try:
            body = {"customer": "carol", "total": "9.99"}
            response = post_when_served(f"http://127.0.0.1:{port}/orders", body, server)
            assert response is not None, (tmp_path / "uvicorn.log").read_text()
            assert response.status_code == 202, response.text
            order_id = response.json()["order_id"]
            poll_until(
                lambda: "".join(lines),
                lambda out: order_id in out or worker.poll() is not None,
                timeout=30,
                message=f"the worker fulfilling order {order_id}",
            )
        finally:
            server.send_signal(signal.SIGTERM)
            worker.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
            worker.wait(timeout=30)
            reader.join(10)
    errors = (tmp_path / "worker.log").read_text()

    assert f"fulfilment: order {order_id} for carol ships" in "".join(lines), errors
    assert worker.returncode == 0, errors
    served = (tmp_path / "uvicorn.log").read_text()
    # uvicorn shuts the app down on SIGTERM, then re-raises the signal (its recent versions).
    assert server.returncode in (0, -signal.SIGTERM), served
    assert "Application shutdown complete" in served, served
