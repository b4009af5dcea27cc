"""The asyncio SQS backend's own promises: it never blocks the loop, and refusals are at once.

Everything else it shares with the sync backend is the backend contract's
(``tests/contract/test_async_sqs_backend.py``); the loopback broker and its healthy script
are the sync fault tests' (``test_sqs_faults``).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from melange.backends.sqs.aio import AsyncLocalSQSBackend
from melange.backends.sqs.options import RetryBudget, Timeouts
from melange.exceptions import (
    BackendError,
    BackendRefusedError,
    BackendUnavailableError,
)
from tests.integration.test_sqs_faults import except_for
from tests.support.loopback import Answer, scripted_broker, sqs_error
from tests.support.servers import MotoServer

pytestmark = pytest.mark.integration


async def ticks_during(seconds: float, work: asyncio.Future[object]) -> int:
    """Count 50 ms ticks of the event loop until ``work`` is done (at most ``seconds``)."""
    ticks = 0
    deadline = time.monotonic() + seconds
    while not work.done() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        ticks += 1
    return ticks


def test_a_long_poll_leaves_the_event_loop_free(moto_server: MotoServer, unique: str) -> None:
    """While a 2 s long-poll receive waits on an empty queue, other coroutines keep running."""

    async def scenario() -> tuple[int, float]:
        async with AsyncLocalSQSBackend(host=moto_server.host, port=moto_server.port) as backend:
            await backend.declare_queue(unique)
            started = time.monotonic()
            receive = asyncio.ensure_future(backend.receive(unique, wait_time_seconds=2))
            ticks = await ticks_during(10, receive)
            assert await receive == []
            elapsed = time.monotonic() - started
            await backend.delete_queue(unique)
        return ticks, elapsed

    ticks, elapsed = asyncio.run(scenario())
    assert elapsed >= 1.9  # the receive did wait
    assert ticks >= 20  # ~40 expected at 50 ms; a blocked loop would give 0 or 1


@pytest.mark.parametrize("direct_requests", [True, False], ids=["direct", "aiobotocore"])
def test_a_refused_receive_raises_backend_refused_at_once(direct_requests: bool) -> None:
    """A ReceiveMessage answered 403 AccessDenied is refused after one request, naming IAM."""
    refusing = except_for(
        lambda op: sqs_error(403, "AccessDenied") if op == "sqs.ReceiveMessage" else None
    )

    async def scenario(endpoint_url: str) -> BackendRefusedError:
        backend = AsyncLocalSQSBackend(host=endpoint_url, direct_requests=direct_requests)
        async with backend:
            with pytest.raises(BackendRefusedError, match="IAM policy") as refused:
                await backend.receive("orders", wait_time_seconds=20)
        return refused.value

    with scripted_broker(refusing) as broker:
        started = time.monotonic()
        error = asyncio.run(scenario(broker.endpoint_url))
        elapsed = time.monotonic() - started
        assert broker.count("sqs.ReceiveMessage") == 1
    assert (error.operation, error.code) == ("ReceiveMessage", "AccessDenied")
    assert elapsed < 5


@pytest.mark.parametrize("direct_requests", [True, False], ids=["direct", "aiobotocore"])
def test_a_500_is_retried_once_then_raised_as_a_backend_error(direct_requests: bool) -> None:
    """A SendMessage answered 500 is attempted twice, as botocore's standard mode retries it."""
    failing = except_for(lambda op: Answer(500) if op == "sqs.SendMessage" else None)

    async def scenario(endpoint_url: str) -> BackendError:
        backend = AsyncLocalSQSBackend(host=endpoint_url, direct_requests=direct_requests)
        async with backend:
            with pytest.raises(BackendError) as failed:
                await backend.send_raw("orders", "body", {})
        return failed.value

    with scripted_broker(failing) as broker:
        error = asyncio.run(scenario(broker.endpoint_url))
        assert broker.count("sqs.SendMessage") == 2
    assert not isinstance(error, BackendRefusedError | BackendUnavailableError)
    assert error.operation == "SendMessage"


def test_the_async_backend_takes_the_sync_ones_timeouts() -> None:
    """The asyncio backend's clients get the timeouts and attempts of the values it is given."""

    async def scenario() -> tuple[Any, Any]:
        backend = AsyncLocalSQSBackend(
            timeouts=Timeouts(publish_read=3.0, receive_read=30.0), retries=RetryBudget(4)
        )
        async with backend:
            short = (await backend.clients.client("sqs")).meta.config
            long_poll = (await backend.clients.client("sqs-long-poll")).meta.config
        return short, long_poll

    short, long_poll = asyncio.run(scenario())
    assert (short.read_timeout, short.retries["total_max_attempts"]) == (3.0, 4)
    assert (long_poll.read_timeout, long_poll.retries["total_max_attempts"]) == (30.0, 1)
