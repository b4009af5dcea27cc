"""The dispatcher under faults: refused requests, a hung network, an unreachable cache."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from melange import MessageDispatcher, QueuePublisher
from melange.aio import AsyncInMemoryBackend, AsyncMessageDispatcher
from melange.backends import InMemoryBackend
from melange.exceptions import BackendError, BackendUnavailableError
from melange.serializers import JsonSerializer, SerializerRegistry
from tests.support.blocking import Blocking, EventLoopThread
from tests.support.consumers import Recorder, running
from tests.support.faults import (
    REFUSAL,
    CountingBackend,
    FailingBackend,
    StuckBackend,
    SwitchableCache,
)
from tests.support.polling import poll_until

REPO_ROOT = Path(__file__).resolve().parents[2]
#: Builds the dispatcher under test: ``MessageDispatcher`` or the asyncio one, blocking.
MakeDispatcher = Callable[..., Any]


@pytest.fixture(name="make_dispatcher", params=["threads", "asyncio"])
def fixture_make_dispatcher(request: pytest.FixtureRequest) -> Iterator[MakeDispatcher]:
    """Build the threaded dispatcher, or the asyncio one over the same (faulty) store.

    The asyncio dispatcher consumes an ``AsyncInMemoryBackend`` sharing the test's
    in-memory backend, so the faults that backend injects reach it unchanged.
    """
    if request.param == "threads":
        yield MessageDispatcher
        return
    loop = EventLoopThread()

    def make(registry: SerializerRegistry, backend: InMemoryBackend, **options: Any) -> Any:
        dispatcher = AsyncMessageDispatcher(registry, AsyncInMemoryBackend(backend), **options)
        return Blocking(dispatcher, loop)

    yield make
    loop.close()


@pytest.fixture(name="registry")
def fixture_registry() -> SerializerRegistry:
    """Give a JSON-only registry."""
    return SerializerRegistry({"serializers": {"json": JsonSerializer}})


class RunningDispatcher:
    """``run`` in a thread of its own, with what it raised and when it returned."""

    def __init__(self, dispatcher: MessageDispatcher, queue: str) -> None:
        self.dispatcher = dispatcher
        self.error: BaseException | None = None
        self.returned_at: float | None = None
        self._thread = threading.Thread(target=self._run, args=(queue,), daemon=True)
        self._thread.start()

    def _run(self, queue: str) -> None:
        try:
            self.dispatcher.run(queue)
        except BaseException as exc:  # inspected by the test
            self.error = exc
        self.returned_at = time.monotonic()

    def wait(self, timeout: float) -> float:
        """Wait up to ``timeout`` s for ``run`` to return and give when it did; else stop it."""
        self._thread.join(timeout)
        if self.returned_at is None:
            self.dispatcher.stop()
            raise AssertionError(f"run did not return within {timeout} s")
        return self.returned_at


# -- item 5: permanent errors stop the loop ----------------------------------------------


def test_a_refused_receive_stops_run_with_that_error(
    registry: SerializerRegistry, make_dispatcher: MakeDispatcher
) -> None:
    """A BackendRefusedError from receive ends run promptly, raising it, after one receive."""
    backend = FailingBackend(REFUSAL)
    backend.declare_queue("q")
    started = time.monotonic()
    run = RunningDispatcher(make_dispatcher(registry, backend, wait_time_seconds=1), "q")
    returned_at = run.wait(timeout=15)
    assert run.error is REFUSAL
    assert returned_at - started < 5
    assert backend.receives == 1


@pytest.mark.parametrize(
    "error",
    [
        BackendError("Rate exceeded", operation="ReceiveMessage", code="ThrottlingException"),
        BackendUnavailableError("connection reset by peer", operation="ReceiveMessage"),
    ],
    ids=["throttled", "unreachable"],
)
def test_an_error_that_may_heal_keeps_being_retried(
    registry: SerializerRegistry, make_dispatcher: MakeDispatcher, error: BackendError
) -> None:
    """Throttling and connection errors from receive are retried until stop, not raised."""
    backend = FailingBackend(error)
    backend.declare_queue("q")
    dispatcher = make_dispatcher(registry, backend, wait_time_seconds=1)
    with running(dispatcher, "q"):  # fails if run raises
        poll_until(lambda: backend.receives, lambda n: n >= 3, timeout=15, message="3 receives")


def test_the_consume_command_exits_1_with_a_refusal() -> None:
    """``python -m melange consume`` on a refusing backend exits 1 at once, printing the error."""
    started = time.monotonic()
    finished = subprocess.run(
        [
            sys.executable,
            "-m",
            "melange",
            "consume",
            "tests.support.faults:build_refusing_dispatcher",
            "--queue",
            "q",
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert finished.returncode == 1, finished.stderr
    assert f"melange: {REFUSAL}" in finished.stderr
    assert finished.stderr.count("InvalidClientTokenId") == 1
    assert time.monotonic() - started < 30


# -- item 11: a receive stuck in I/O --------------------------------------------------------


def test_stop_does_not_wait_for_a_receive_stuck_in_io(registry: SerializerRegistry) -> None:
    """Run returns soon after stop although a receive hangs; the batch it returns is released."""
    backend = StuckBackend()
    backend.declare_queue("q")
    QueuePublisher(registry, backend).publish_many("q", [{"n": n} for n in range(3)])
    recorder = Recorder()
    dispatcher = MessageDispatcher(
        registry, backend, consumers=[recorder], workers=3, wait_time_seconds=1
    )
    run = RunningDispatcher(dispatcher, "q")
    try:
        assert backend.stuck.wait(10), "the receive never started"
        stopped_at = time.monotonic()
        dispatcher.stop()
        # The bound is the long-poll wait (1 s) plus a few seconds; the margin is generous.
        assert run.wait(timeout=30) - stopped_at < 1 + 10
        assert run.error is None
    finally:
        backend.unblock.set()
    poll_until(lambda: dispatcher.stats.released, lambda n: n == 3, message="3 released")
    again = backend.receive("q", max_messages=10)
    assert sorted(m.receive_count for m in again) == [2, 2, 2]
    assert recorder.handled == []


# -- item 11: an unreachable deduplication cache ----------------------------------------


def test_while_the_cache_is_unreachable_receiving_pauses(
    registry: SerializerRegistry, make_dispatcher: MakeDispatcher
) -> None:
    """With 'redeliver', an unreachable cache pauses receiving; then each message runs once."""
    backend = CountingBackend()
    backend.declare_queue("q", dead_letter_queue="q-dlq", max_receive_count=3)
    QueuePublisher(registry, backend).publish_many("q", [{"n": n} for n in range(20)])
    cache = SwitchableCache()
    cache.reachable = False
    recorder = Recorder()
    dispatcher = make_dispatcher(
        registry,
        backend,
        consumers=[recorder],
        cache=cache,
        on_cache_unavailable="redeliver",
        workers=4,
        wait_time_seconds=1,
    )
    with running(dispatcher, "q"):
        poll_until(lambda: cache.pings, lambda n: n >= 2, timeout=15, message="two probes")
        receives_while_down = backend.receives
        poll_until(lambda: cache.pings, lambda n: n >= 3, timeout=15, message="a third probe")
        assert backend.receives == receives_while_down <= 2
        assert backend.highest_receive_count == 1
        assert recorder.handled == []
        cache.reachable = True
        poll_until(lambda: len(recorder.handled), lambda n: n >= 20, timeout=30, message="20")
    assert sorted(recorder.handled) == list(range(20))
    assert backend.highest_receive_count <= 2
    assert dispatcher.stats.dead_lettered == 0
    assert backend.message_count("q-dlq") == 0
    assert backend.message_count("q") == 0


def test_process_available_returns_when_the_cache_is_unreachable(
    registry: SerializerRegistry,
    make_dispatcher: MakeDispatcher,
) -> None:
    """process_available with 'redeliver' and no cache releases what it took once and returns."""
    backend = CountingBackend()
    backend.declare_queue("q")
    QueuePublisher(registry, backend).publish_many("q", [{"n": n} for n in range(3)])
    cache = SwitchableCache()
    cache.reachable = False
    dispatcher = make_dispatcher(
        registry, backend, consumers=[Recorder()], cache=cache, on_cache_unavailable="redeliver"
    )
    assert dispatcher.process_available("q") == 3
    assert dispatcher.stats.released == 3
    assert backend.receives == 1
    again = backend.receive("q", max_messages=10)
    assert sorted(m.receive_count for m in again) == [2, 2, 2]
