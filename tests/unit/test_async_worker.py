"""The asyncio worker's parts: options as keywords, sync/async consumers told apart, queues run."""

from __future__ import annotations

import asyncio

import pytest

from melange import Consumer, consumer
from melange.app.aio_worker import AsyncWorker, consumers_kind
from melange.exceptions import ConfigurationError, QueueNotFoundError


class Ticket:
    """A message type for the consumers below."""


class SyncTickets(Consumer):
    """Handles tickets in a plain method."""

    @consumer
    def on_ticket(self, ticket: Ticket) -> None:
        """Handle one ticket."""


class AsyncTickets(Consumer):
    """Handles tickets in an ``async def`` method."""

    @consumer
    async def on_ticket(self, ticket: Ticket) -> None:
        """Handle one ticket."""


class ScriptedDispatcher:
    """Stands in for an AsyncMessageDispatcher: runs until stopped, or fails when told to."""

    def __init__(self, fails_with: Exception | None = None) -> None:
        self.fails_with = fails_with
        self.stopped = asyncio.Event()
        self.ran: list[str] = []

    async def run(self, queue_name: str) -> None:
        """Consume ``queue_name`` until ``stop`` (or fail at once)."""
        self.ran.append(queue_name)
        if self.fails_with is not None:
            raise self.fails_with
        await self.stopped.wait()

    def stop(self) -> None:
        """End ``run``."""
        self.stopped.set()


class FailsWhenStopped(ScriptedDispatcher):
    """Runs until stopped, then fails: a queue that fails after another one did."""

    async def run(self, queue_name: str) -> None:
        """Consume ``queue_name`` until ``stop``, then raise."""
        self.ran.append(queue_name)
        await self.stopped.wait()
        assert self.fails_with is not None
        raise self.fails_with


@pytest.mark.parametrize(
    ("consumers", "kind"),
    [
        ([SyncTickets(), Consumer(print, name="printer")], "sync"),
        ([AsyncTickets()], "async"),
        ([], "sync"),
    ],
)
def test_consumers_of_one_kind_say_which(consumers: list[Consumer], kind: str) -> None:
    """All sync consumers are "sync", all async ones "async"."""
    assert consumers_kind(consumers) == kind


def test_sync_and_async_consumers_together_are_refused_naming_both() -> None:
    """A worker mixing them is refused with both names and how to split it."""
    mixed = r"async consumers \('[\w.]*AsyncTickets'\) and sync ones \('[\w.]*SyncTickets'\)"
    with pytest.raises(ConfigurationError, match=mixed + ".*--queue"):
        consumers_kind([SyncTickets(), AsyncTickets()])


def test_the_worker_runs_every_queue_until_stopped() -> None:
    """Each queue's dispatcher runs its queue; stop ends them all and run returns."""
    first, second = ScriptedDispatcher(), ScriptedDispatcher()
    worker = AsyncWorker([("a", first), ("b", second)])  # type: ignore[list-item]

    async def scenario() -> None:
        running = asyncio.ensure_future(worker.run())
        await asyncio.sleep(0)  # let both start
        worker.stop()
        await asyncio.wait_for(running, 5)

    asyncio.run(scenario())

    assert (first.ran, second.ran) == (["a"], ["b"])


def test_one_failing_queue_stops_the_others_and_its_error_is_raised() -> None:
    """A queue that does not exist ends the worker: the others stop, the error propagates."""
    missing = QueueNotFoundError("b")
    healthy, failing = ScriptedDispatcher(), ScriptedDispatcher(fails_with=missing)
    worker = AsyncWorker([("a", healthy), ("b", failing)])  # type: ignore[list-item]

    with pytest.raises(QueueNotFoundError):
        asyncio.run(asyncio.wait_for(worker.run(), 5))

    assert healthy.stopped.is_set()


def test_several_failing_queues_raise_the_first_noting_the_others(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The first error is raised, the others are its notes; the log names only their kinds."""
    worker = AsyncWorker(
        [
            ("b", ScriptedDispatcher(fails_with=QueueNotFoundError("b"))),  # type: ignore[list-item]
            ("c", FailsWhenStopped(fails_with=QueueNotFoundError("c"))),  # type: ignore[list-item]
        ]
    )

    with pytest.raises(QueueNotFoundError) as caught:
        asyncio.run(asyncio.wait_for(worker.run(), 5))

    assert caught.value.queue_name == "b"
    assert caught.value.__notes__ == [f"consuming 'c' failed too: {QueueNotFoundError('c')}"]
    assert [r.getMessage() for r in caplog.records] == [
        "consuming 'b' failed with QueueNotFoundError; stopping every queue",
        "consuming 'c' failed with QueueNotFoundError; stopping every queue",
    ]


def test_a_worker_needs_distinct_queues() -> None:
    """No queue, or one queue twice, is refused."""
    with pytest.raises(ValueError, match="distinct queues"):
        AsyncWorker([])
    with pytest.raises(ValueError, match="distinct queues"):
        AsyncWorker([("a", ScriptedDispatcher()), ("a", ScriptedDispatcher())])  # type: ignore[list-item]


def test_a_worker_stopped_before_it_runs_returns_at_once() -> None:
    """stop() before run() (a SIGTERM at start-up) is not lost: run returns."""
    dispatcher = ScriptedDispatcher()
    worker = AsyncWorker([("a", dispatcher)])  # type: ignore[list-item]
    worker.stop()
    dispatcher.stopped.clear()  # as a real dispatcher without runners forgets the stop

    asyncio.run(asyncio.wait_for(worker.run(), 5))

    assert dispatcher.ran == ["a"]
