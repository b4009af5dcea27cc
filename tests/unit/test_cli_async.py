"""``python -m melange worker`` on an application whose consumers are ``async def``.

As in tests/unit/test_cli.py, the command runs in this process (in a thread) on a graph the
test built over an ``InMemoryBackend``, and the test stops it through the application, as
SIGTERM would; the subprocess run against moto is in tests/examples/test_fastapi_app.py.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pinject
import pytest

from melange import Consumer, QueuePublisher
from melange.app.application import Application
from melange.app.cli import main
from melange.backends import InMemoryBackend
from melange.consuming.subscription import Subscription
from melange.settings import DispatcherSettings, MelangeSettings
from melange_bindings import MelangeBindingSpec, ObjectGraph, new_object_graph
from tests.support.polling import poll_until

TARGET = "tests.unit.test_cli_async:current_graph"

#: The graph ``current_graph`` returns: set by the ``jobs`` fixture for one test.
_CURRENT: list[ObjectGraph] = []


def current_graph() -> ObjectGraph:
    """The command's target in these tests: the graph the running test built."""
    return _CURRENT[-1]


class Journal:
    """What the consumers handled, in order, and on which thread."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.threads: set[str] = set()


class AsyncJobs(Consumer):
    """Handles every job of the ``jobs`` queue in an ``async def``."""

    subscription = Subscription("jobs")

    def __init__(self, journal: Journal) -> None:
        super().__init__(self.on_job)
        self.journal = journal

    async def on_job(self, job: dict[str, Any]) -> None:
        """Note the job, and that it ran on the event loop's thread."""
        self.journal.lines.append(f"job {job['n']}")
        self.journal.threads.add(threading.current_thread().name)


class SyncReports(Consumer):
    """A sync consumer of another queue: mixed with AsyncJobs, the worker refuses."""

    subscription = Subscription("reports")

    def __init__(self) -> None:
        super().__init__(print)


class JobsSpec(pinject.BindingSpec):
    def provide_melange_consumers(self, async_jobs: AsyncJobs) -> list[Consumer]:
        return [async_jobs]


class MixedSpec(pinject.BindingSpec):
    def provide_melange_consumers(
        self, async_jobs: AsyncJobs, sync_reports: SyncReports
    ) -> list[Consumer]:
        return [async_jobs, sync_reports]


def journal_of(graph: ObjectGraph) -> Journal:
    """Return the journal the application's AsyncJobs writes (provide(Journal) makes a new one)."""
    jobs = graph.provide(Application).consumers[0]
    assert isinstance(jobs, AsyncJobs)
    return jobs.journal


def build(spec: pinject.BindingSpec) -> ObjectGraph:
    """Return a graph of ``spec`` on a fresh in-memory backend, 1 s long polls."""
    settings = MelangeSettings(dispatcher=DispatcherSettings(wait_time_seconds=1))
    return new_object_graph(
        classes=[AsyncJobs, SyncReports, Journal],
        binding_specs=[spec],
        melange=MelangeBindingSpec(settings=settings, backend=InMemoryBackend()),
    )


@pytest.fixture(name="jobs")
def fixture_jobs() -> Iterator[ObjectGraph]:
    """Give the async jobs app's graph, declared, as the command's target returns it."""
    graph = build(JobsSpec())
    graph.provide(Application).declare()
    _CURRENT.append(graph)
    yield graph
    _CURRENT.clear()
    graph.provide(Application).stop()


class WorkerThread:
    """``main(["worker", ...])`` running in a thread, with its exit code once it returns."""

    def __init__(self, *args: str) -> None:
        self.code: int | None = None
        self._thread = threading.Thread(target=self._main, args=(list(args),), daemon=True)
        self._thread.start()

    def _main(self, argv: list[str]) -> None:
        self.code = main(argv)

    def join(self, timeout: float = 20) -> int | None:
        """Wait for ``main`` to return; return its exit code (``None``: still running)."""
        self._thread.join(timeout)
        return self.code


def test_async_consumers_run_on_the_event_loop_and_stop_cleanly(jobs: ObjectGraph) -> None:
    """Every job is handled by the async handler on the worker's one thread; stop: exit 0."""
    publisher = jobs.provide(QueuePublisher)
    for n in range(5):
        publisher.publish("jobs", {"n": n})
    journal = journal_of(jobs)

    running = WorkerThread("worker", TARGET)
    poll_until(lambda: len(journal.lines), lambda n: n >= 5, message="5 jobs handled")
    jobs.provide(Application).stop()

    assert running.join() == 0
    assert sorted(journal.lines) == [f"job {n}" for n in range(5)]
    assert len(journal.threads) == 1  # the event loop's, not a pool of handler threads


def test_a_worker_mixing_sync_and_async_consumers_exits_1_naming_both(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Sync and async consumers in one worker are refused before anything runs."""
    _CURRENT.append(build(MixedSpec()))
    try:
        code = main(["worker", TARGET])
    finally:
        _CURRENT.clear()

    assert code == 1
    error = capsys.readouterr().err
    assert "AsyncJobs" in error and "SyncReports" in error and "--queue" in error


def test_queue_picks_the_async_half_of_a_mixed_application() -> None:
    """With --queue naming only the async consumer's queue, the mixed app's worker runs."""
    graph = build(MixedSpec())
    graph.provide(Application).declare()
    graph.provide(QueuePublisher).publish("jobs", {"n": 1})
    journal = journal_of(graph)
    _CURRENT.append(graph)
    try:
        running = WorkerThread("worker", TARGET, "--queue", "jobs")
        poll_until(lambda: journal.lines, message="the job handled")
        graph.provide(Application).stop()
        assert running.join() == 0
    finally:
        _CURRENT.clear()
        graph.provide(Application).stop()

    assert journal.lines == ["job 1"]
