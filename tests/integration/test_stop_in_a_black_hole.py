"""Stopping while the network black-holes every request: stop returns within its bound.

A ``BlackHoleProxy`` (``tests/support/loopback.py``) sits between the SQS backend and the
session's moto server. A dispatcher consumes with a 0.5 s handler; then the proxy stops
forwarding anything, without closing a connection, and the dispatcher is stopped while
its last acknowledgements, releases and receives go unanswered. Stop must return within
``wait_time_seconds`` + the running handler + ``SHUTDOWN_GRACE_SECONDS`` (plus a margin:
a bound, not a speed target; one black-holed request alone takes 2 x 5 s) and log which
messages it could not acknowledge or release, on both halves, in process and as
``python -m melange worker`` told to stop by SIGTERM.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from melange import Consumer, MessageDispatcher, QueuePublisher, consumer
from melange.aio import AsyncMessageDispatcher
from melange.backends import LocalSQSBackend
from melange.backends.sqs.aio import AsyncLocalSQSBackend
from melange.backends.sqs.backend import SqsBackend
from melange.consuming.consumers import MessageContext
from melange.consuming.decisions import SHUTDOWN_GRACE_SECONDS
from tests.integration import stop_app
from tests.support.blocking import EventLoopThread
from tests.support.halves import HALVES, Half
from tests.support.loopback import BlackHoleProxy
from tests.support.messaging import json_registry
from tests.support.polling import poll_until
from tests.support.servers import MotoServer

pytestmark = pytest.mark.integration

REPOSITORY = Path(__file__).resolve().parents[2]
WAIT_TIME_SECONDS = 1
#: Scheduling on a loaded machine; well below one black-holed request (5 s).
MARGIN_SECONDS = 1.5
BOUND_SECONDS = (
    WAIT_TIME_SECONDS + stop_app.HANDLER_SECONDS + SHUTDOWN_GRACE_SECONDS + MARGIN_SECONDS
)
#: The names of the messages a stop log line lists (SQS message ids).
LISTED = re.compile(r"again(?: after their visibility timeout)?: (.*)$")


@pytest.fixture(name="direct")
def fixture_direct(moto_server: MotoServer) -> Iterator[SqsBackend]:
    """Give a backend talking to moto directly, to declare and to publish."""
    backend = LocalSQSBackend(host=moto_server.host, port=moto_server.port)
    yield backend
    backend.close()


@pytest.fixture(name="proxy")
def fixture_proxy(moto_server: MotoServer) -> Iterator[BlackHoleProxy]:
    """Give a proxy in front of the session's moto server, forwarding until black-holed."""
    with BlackHoleProxy((moto_server.host, moto_server.port)) as proxy:
        yield proxy


class SlowConsumer(Consumer):
    """Records the broker id of each message it starts, then works for half a second."""

    def __init__(self) -> None:
        super().__init__(name="slow")
        self.started: list[str] = []
        self._lock = threading.Lock()

    @consumer
    def on_message(self, message: dict[str, Any], context: MessageContext) -> None:
        """Record the message, then work."""
        with self._lock:
            self.started.append(context.broker_message_id)
        time.sleep(stop_app.HANDLER_SECONDS)


class Consuming:
    """One half's dispatcher with one worker, consuming through the proxy until ``stop``."""

    def __init__(self, half: Half, port: int, queue: str, loop: EventLoopThread) -> None:
        self.consumer = SlowConsumer()
        self._finished = threading.Event()
        options: dict[str, Any] = {"workers": 1, "wait_time_seconds": WAIT_TIME_SECONDS}
        if half == "threads":
            backend = LocalSQSBackend(host="127.0.0.1", port=port)
            dispatcher = MessageDispatcher(
                json_registry(), backend, consumers=[self.consumer], **options
            )
            running = dispatcher.start(queue)
            self._stop = dispatcher.stop

            def wait() -> None:
                running.wait()
                self._finished.set()
                backend.close()

            threading.Thread(target=wait, daemon=True).start()
            return
        aio_backend = AsyncLocalSQSBackend(host="127.0.0.1", port=port)
        aio = AsyncMessageDispatcher(
            json_registry(), aio_backend, consumers=[self.consumer], **options
        )

        async def run() -> None:
            try:
                await aio.run(queue)
            finally:
                self._finished.set()
                await aio_backend.close()

        asyncio.run_coroutine_threadsafe(run(), loop.loop)
        self._stop = lambda: loop.loop.call_soon_threadsafe(aio.stop)

    def stop(self) -> float:
        """Stop the dispatcher; return the seconds until its run returned."""
        began = time.monotonic()
        self._stop()
        assert self._finished.wait(60), "the dispatcher did not stop within a minute"
        return time.monotonic() - began


def listed(line: str) -> list[str]:
    """Return the message ids a stop log line lists."""
    found = LISTED.search(line)
    assert found is not None, line
    return found.group(1).split(", ")


@pytest.mark.parametrize("half", HALVES)
def test_stop_returns_within_its_bound_and_names_what_it_could_not_settle(
    direct: SqsBackend,
    proxy: BlackHoleProxy,
    event_loop_thread: EventLoopThread,
    unique: str,
    caplog: pytest.LogCaptureFixture,
    request: pytest.FixtureRequest,
    half: Half,
) -> None:
    """Stop in a black hole returns in time; the log names the messages to come again."""
    queue = unique
    direct.declare_queue(queue)
    QueuePublisher(json_registry(), direct).publish_many(queue, [{"n": n} for n in range(4)])
    caplog.set_level(logging.WARNING, logger="melange.consuming")
    consuming = Consuming(half, proxy.port, queue, event_loop_thread)
    request.addfinalizer(consuming.stop)
    started = consuming.consumer.started
    # The first receive brings one message; once its time is known, the next brings the
    # other three for the one worker, which handles the second of them when stopped.
    poll_until(lambda: len(started), lambda n: n == 2, message="the second handler started")
    proxy.black_hole()

    seconds = consuming.stop()

    assert seconds <= BOUND_SECONDS, caplog.text
    lines = [r.getMessage() for r in caplog.records if "stop deadline" in r.getMessage()]
    unacknowledged = [line for line in lines if "were not acknowledged" in line]
    unreleased = [line for line in lines if "were not released" in line]
    assert len(unacknowledged) == 1, caplog.text
    assert started[-1] in listed(unacknowledged[0])  # handled while black-holed
    assert len(unreleased) == 1, caplog.text
    assert len(listed(unreleased[0])) == 2  # the two messages the worker had not started
    assert not set(listed(unreleased[0])) & set(started)


@pytest.mark.parametrize("graph", ["threaded_graph", "asyncio_graph"])
def test_sigterm_with_a_delete_in_flight_exits_within_the_bound_naming_the_messages(
    direct: SqsBackend, proxy: BlackHoleProxy, unique: str, tmp_path: Path, graph: str
) -> None:
    """``python -m melange worker`` stopped with its delete black-holed exits in time."""
    queue = f"{unique}-{stop_app.QUEUE}"
    direct.declare_queue(queue)
    QueuePublisher(json_registry(), direct).publish_many(queue, [{"n": n} for n in range(3)])
    journal = tmp_path / "journal"
    journal.touch()
    log = tmp_path / "worker.log"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MELANGE_")},
        "PYTHONUNBUFFERED": "1",
        "MELANGE_BACKEND": "local",
        "MELANGE_ENDPOINT_URL": f"http://127.0.0.1:{proxy.port}",
        "MELANGE_PREFIX": f"{unique}-",
        "MELANGE_WAIT_TIME_SECONDS": str(WAIT_TIME_SECONDS),
        "MELANGE_WORKERS": "3",
        "STOP_APP_JOURNAL": str(journal),
    }
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "melange", "worker", f"tests.integration.stop_app:{graph}"],
            cwd=REPOSITORY,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        started = poll_until(
            lambda: journal.read_text(encoding="utf-8").split(),
            lambda ids: len(ids) == 3,
            timeout=30,
            message="three handlers started",
        )
        proxy.black_hole()  # the three handlers finish in it, and their delete goes into it
        poll_until(
            lambda: proxy.swallowed_request(b"DeleteMessageBatch"),
            message="a black-holed DeleteMessageBatch",
        )
        began = time.monotonic()
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=60)
        seconds = time.monotonic() - began
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    output = log.read_text(encoding="utf-8")
    assert code == 0, output
    assert seconds <= BOUND_SECONDS, output
    unacknowledged = [line for line in output.splitlines() if "were not acknowledged" in line]
    assert len(unacknowledged) == 1, output
    assert sorted(listed(unacknowledged[0])) == sorted(started)
