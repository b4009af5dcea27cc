"""Queue runners: one per consumed queue, several over one dispatcher, all stopped by it."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence

import pytest

from melange import AckPolicy, MessageDispatcher, QueuePublisher
from melange.aio import AsyncInMemoryBackend, AsyncMessageDispatcher
from melange.backends import InMemoryBackend
from melange.serializers import JsonSerializer, SerializerRegistry
from tests.support.consumers import Recorder
from tests.support.polling import poll_until


@pytest.fixture(name="registry")
def fixture_registry() -> SerializerRegistry:
    """Give a JSON-only registry."""
    return SerializerRegistry({"serializers": {"json": JsonSerializer}})


@pytest.fixture(name="backend")
def fixture_backend() -> InMemoryBackend:
    """Give an in-memory backend with queues 'a' and 'b'."""
    backend = InMemoryBackend()
    backend.declare_queue("a")
    backend.declare_queue("b")
    return backend


def test_one_dispatcher_runs_several_queues_and_stop_ends_them_all(
    registry: SerializerRegistry, backend: InMemoryBackend
) -> None:
    """Two runners started from one dispatcher consume their queues; stop() ends both."""
    recorder = Recorder()
    dispatcher = MessageDispatcher(registry, backend, consumers=[recorder], wait_time_seconds=1)
    publisher = QueuePublisher(registry, backend)
    publisher.publish_many("a", [{"n": 1}, {"n": 2}])
    publisher.publish("b", {"n": 3})
    runners = [dispatcher.start("a"), dispatcher.start("b")]
    poll_until(lambda: sorted(recorder.handled), lambda h: h == [1, 2, 3], message="3 handled")
    dispatcher.stop()
    assert [runner.wait(timeout=30) for runner in runners] == [True, True]
    assert [runner.queue_name for runner in runners] == ["a", "b"]
    assert dispatcher.stats.acknowledged == 3
    assert backend.message_count("a") == backend.message_count("b") == 0


def test_a_runner_runs_once(registry: SerializerRegistry, backend: InMemoryBackend) -> None:
    """A finished runner refuses to run again; the dispatcher gives a new one per run."""
    dispatcher = MessageDispatcher(registry, backend, wait_time_seconds=0)
    runner = dispatcher.start("a")
    dispatcher.stop()
    assert runner.wait(timeout=30)
    with pytest.raises(RuntimeError, match="runs once"):
        runner.runner.run()
    assert dispatcher.runner("a") is not runner


def test_each_module_of_the_consume_path_logs_as_itself(
    registry: SerializerRegistry, backend: InMemoryBackend, caplog: pytest.LogCaptureFixture
) -> None:
    """The runner logs as melange.consuming.runner, a handler failure as ...handling."""
    recorder = Recorder(failing={1: 1})
    dispatcher = MessageDispatcher(registry, backend, consumers=[recorder], wait_time_seconds=1)
    QueuePublisher(registry, backend).publish("a", {"n": 1})
    with caplog.at_level(logging.INFO, logger="melange"):
        runner = dispatcher.start("a")
        poll_until(lambda: recorder.handled, message="the handler")
        dispatcher.stop()
        assert runner.wait(timeout=30)
    by_logger = {(r.name, r.getMessage().split(" ")[0]) for r in caplog.records}
    assert ("melange.consuming.runner", "consuming") in by_logger
    assert ("melange.consuming.handling", "handling") in by_logger
    assert not any(r.name == "melange.consuming.dispatcher" for r in caplog.records)


def test_process_available_acknowledges_on_receipt_with_that_policy(
    registry: SerializerRegistry, backend: InMemoryBackend
) -> None:
    """With AckPolicy.ON_RECEIPT, process_available deletes before handling, as run does."""
    recorder = Recorder(failing={1: 1})
    dispatcher = MessageDispatcher(
        registry, backend, consumers=[recorder], ack_policy=AckPolicy.ON_RECEIPT
    )
    QueuePublisher(registry, backend).publish("a", {"n": 1})
    assert dispatcher.process_available("a") == 1
    assert recorder.handled == [1]
    assert backend.message_count("a") == 0
    assert dispatcher.stats.retried == 0


class SlowDeletes(InMemoryBackend):
    """An in-memory backend whose deletes wait until ``answer`` is set, as a slow broker's."""

    def __init__(self) -> None:
        super().__init__()
        self.answer = threading.Event()
        self.deletes_waiting = 0

    def acknowledge(self, queue_name: str, receipt_handles: Sequence[str]) -> list[str]:
        """Delete once the broker answers."""
        self.deletes_waiting += 1
        self.answer.wait(timeout=30)
        return super().acknowledge(queue_name, receipt_handles)


def test_a_worker_handles_on_while_a_delete_waits_for_the_broker(
    registry: SerializerRegistry,
) -> None:
    """Deletes go out from the housekeeper: one worker handles 30 messages behind a stuck one.

    Before, the worker that filled a batch of ten sent the delete itself and waited for it.
    """
    backend = SlowDeletes()
    backend.declare_queue("a")
    QueuePublisher(registry, backend).publish_many("a", [{"n": n} for n in range(30)])
    recorder = Recorder()
    dispatcher = MessageDispatcher(
        registry, backend, consumers=[recorder], workers=1, wait_time_seconds=1
    )
    runner = dispatcher.start("a")
    poll_until(lambda: len(recorder.handled), lambda n: n == 30, message="30 handled")
    assert backend.deletes_waiting == 1  # the housekeeper, still waiting for its first delete
    assert dispatcher.stats.acknowledged == 0
    backend.answer.set()
    poll_until(lambda: dispatcher.stats.acknowledged, lambda n: n == 30, message="30 deleted")
    dispatcher.stop()
    assert runner.wait(timeout=30)
    assert backend.message_count("a") == 0


def test_an_asyncio_runner_runs_once(registry: SerializerRegistry) -> None:
    """A stopped asyncio runner refuses to run again, as the threaded one does."""
    backend = AsyncInMemoryBackend()
    backend.store.declare_queue("a")
    dispatcher = AsyncMessageDispatcher(registry, backend, wait_time_seconds=0)
    runner = dispatcher.runner("a")

    async def run_twice() -> None:
        running = asyncio.create_task(runner.run())
        await asyncio.sleep(0)  # let it start before it is told to stop
        runner.stop()
        await running
        with pytest.raises(RuntimeError, match="runs once"):
            await runner.run()

    asyncio.run(run_twice())
    assert runner.finished
