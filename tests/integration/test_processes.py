"""Workers as real processes: crash and redelivery, graceful shutdown, a paused broker, bad input.

The subprocess tests run ``python -m melange consume tests.integration.worker_app:...`` and
learn what the worker did from the log file its consumer writes (see worker_app.py).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from melange import Consumer, MessageDispatcher, QueuePublisher
from melange.backends import LocalSQSBackend
from melange.backends.sqs.backend import SqsBackend
from tests.support.messaging import contents, json_registry
from tests.support.polling import poll_until
from tests.support.requests import RequestLog
from tests.support.servers import MotoServer, start_moto_server

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKER_FACTORY = "tests.integration.worker_app:build_dispatcher"


# -- worker processes ------------------------------------------------------------------------


@attrs.frozen
class Worker:
    """A ``python -m melange consume`` process and the files its output goes to."""

    process: subprocess.Popen[bytes]
    stdout_path: Path
    stderr_path: Path

    def stderr(self) -> str:
        """Return what the process has written to stderr so far."""
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def signal(self, signum: signal.Signals) -> None:
        """Send ``signum`` to the process."""
        self.process.send_signal(signum)

    def wait(self, timeout: float) -> int:
        """Wait up to ``timeout`` seconds for the process to exit; return its exit code."""
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"worker {self.process.pid} did not exit within {timeout} s; "
                f"stderr:\n{self.stderr()}"
            ) from None


class Workers:
    """Starts worker processes for one test and kills whichever are left at the end."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._started: list[Worker] = []

    def start(self, queue: str, *, env: dict[str, str], factory: str = WORKER_FACTORY) -> Worker:
        """Start ``python -m melange consume FACTORY --queue QUEUE`` in the repository root."""
        index = len(self._started)
        stdout_path = self._directory / f"worker-{index}.stdout"
        stderr_path = self._directory / f"worker-{index}.stderr"
        with stdout_path.open("wb") as stdout, stderr_path.open("wb") as stderr:
            process = subprocess.Popen(
                [sys.executable, "-m", "melange", "consume", factory, "--queue", queue],
                cwd=REPO_ROOT,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
                stdout=stdout,
                stderr=stderr,
            )
        worker = Worker(process, stdout_path, stderr_path)
        self._started.append(worker)
        return worker

    def kill_all(self) -> None:
        """SIGKILL every worker still running and reap it."""
        for worker in self._started:
            if worker.process.poll() is None:
                worker.process.kill()
                worker.process.wait(timeout=10)


@pytest.fixture(name="workers")
def fixture_workers(tmp_path: Path) -> Iterator[Workers]:
    """Give a starter of worker processes; any still running at teardown are killed."""
    started = Workers(tmp_path)
    try:
        yield started
    finally:
        started.kill_all()


@pytest.fixture(name="backend")
def fixture_backend(moto_server: MotoServer) -> Iterator[SqsBackend]:
    """Give an SQS backend on the session's moto server, for the test's own requests."""
    backend = LocalSQSBackend(host=moto_server.host, port=moto_server.port)
    yield backend
    backend.close()


def worker_env(server: MotoServer, log: Path, *, visibility: int, seconds: float) -> dict[str, str]:
    """Return the environment worker_app reads its endpoint, log and timings from."""
    return {
        "WORKER_ENDPOINT_URL": server.endpoint_url,
        "WORKER_LOG": str(log),
        "WORKER_VISIBILITY": str(visibility),
        "WORKER_HANDLER_SECONDS": str(seconds),
    }


def log_events(log: Path) -> list[tuple[str, int]]:
    """Return the complete ``(event, n)`` lines of a worker log, oldest first."""
    if not log.exists():
        return []
    lines = log.read_text(encoding="utf-8").splitlines(keepends=True)
    return [(event, int(n)) for event, n in (line.split() for line in lines if line.endswith("\n"))]


def counts(events: list[tuple[str, int]], event: str) -> Counter[int]:
    """Count how often each message number has ``event`` ("start" or "done") in the log."""
    return Counter(n for kind, n in events if kind == event)


def running(events: list[tuple[str, int]]) -> list[int]:
    """Return the message numbers with more "start" lines than "done" lines (still running)."""
    starts, dones = counts(events, "start"), counts(events, "done")
    return sorted(n for n in starts if starts[n] > dones[n])


def queue_depth(backend: SqsBackend, queue: str) -> dict[str, int]:
    """Return the queue's visible, in-flight and delayed message counts."""
    url = backend.sqs_client.get_queue_url(QueueName=queue)["QueueUrl"]
    attributes = backend.sqs_client.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=[
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ],
    )["Attributes"]
    return {
        "visible": int(attributes["ApproximateNumberOfMessages"]),
        "in_flight": int(attributes["ApproximateNumberOfMessagesNotVisible"]),
        "delayed": int(attributes["ApproximateNumberOfMessagesDelayed"]),
    }


# -- crash and shutdown ----------------------------------------------------------------------


def test_killed_worker_loses_nothing_and_a_new_one_redelivers(
    moto_server: MotoServer, backend: SqsBackend, workers: Workers, tmp_path: Path, unique: str
) -> None:
    """A worker SIGKILLed mid-handler loses no message: a new worker handles it again."""
    queue, log = f"{unique}-crash", tmp_path / "work.log"
    backend.declare_queue(queue)
    QueuePublisher(json_registry(), backend).publish_many(queue, [{"n": n} for n in range(5)])
    env = worker_env(moto_server, log, visibility=2, seconds=1.0)

    first = workers.start(queue, env=env)
    poll_until(
        lambda: running(log_events(log)), timeout=30, message="a handler running in worker 1"
    )
    first.signal(signal.SIGKILL)
    first.wait(timeout=10)
    # The log is fsynced line by line, so after the kill it says exactly what was cut short.
    [killed] = running(log_events(log))

    second = workers.start(queue, env=env)
    poll_until(
        lambda: set(counts(log_events(log), "done")),
        lambda done: done >= set(range(5)),
        timeout=60,
        message="every message done",
    )
    events = log_events(log)
    assert all(counts(events, "done")[n] >= 1 for n in range(5)), events
    assert counts(events, "start")[killed] >= 2, events

    second.signal(signal.SIGTERM)
    assert second.wait(timeout=15) == 0, second.stderr()


def test_sigterm_finishes_the_running_handler_and_releases_the_rest(
    moto_server: MotoServer, backend: SqsBackend, workers: Workers, tmp_path: Path, unique: str
) -> None:
    """On SIGTERM the running handler finishes and is acknowledged; held messages are released."""
    queue, log = f"{unique}-graceful", tmp_path / "work.log"
    backend.declare_queue(queue)
    QueuePublisher(json_registry(), backend).publish_many(queue, [{"n": n} for n in range(4)])
    worker = workers.start(queue, env=worker_env(moto_server, log, visibility=30, seconds=2.0))

    # Before the first handler finishes the dispatcher receives one message per worker; once
    # it knows the handling time it also receives messages to hold. Waiting for the second
    # start with nothing left visible means the stop meets held, unstarted messages.
    poll_until(
        lambda: (len(counts(log_events(log), "start")), queue_depth(backend, queue)["visible"]),
        lambda state: state == (2, 0),
        timeout=30,
        message="second handler running with the rest received",
    )
    worker.signal(signal.SIGTERM)
    assert worker.wait(timeout=20) == 0, worker.stderr()

    events = log_events(log)
    started = counts(events, "start")
    assert set(counts(events, "done")) == set(started), events  # the running handler finished
    assert all(times == 1 for times in started.values()), events
    remaining = sorted(set(range(4)) - set(started))
    assert len(remaining) == 2

    # Released with visibility 0, the rest is receivable at once, not after 30 s.
    received: list[Any] = []

    def receive_more() -> int:
        batch = backend.receive(queue, max_messages=10, wait_time_seconds=0, visibility_timeout=30)
        if batch:
            backend.acknowledge(queue, [m.receipt_handle for m in batch])
        received.extend(contents(batch))
        return len(received)

    poll_until(receive_more, lambda n: n >= len(remaining), timeout=5, message="released messages")
    assert sorted(m["n"] for m in received) == remaining
    # Nothing is left, in flight or not: the handled messages were deleted, not just hidden.
    assert queue_depth(backend, queue) == {"visible": 0, "in_flight": 0, "delayed": 0}


# -- a paused broker -------------------------------------------------------------------------


def test_dispatcher_survives_a_paused_broker_without_spinning(tmp_path: Path, unique: str) -> None:
    """A dispatcher outlives a 10 s broker pause, receives a few times and loses no message."""
    server = start_moto_server(tmp_path / "moto_server.log")
    queue = f"{unique}-paused"
    handled: list[int] = []
    lock = threading.Lock()

    def count(message: dict[str, Any]) -> None:
        with lock:
            handled.append(int(message["n"]))

    def handled_now() -> list[int]:
        with lock:
            return list(handled)

    publisher_backend = LocalSQSBackend(host=server.host, port=server.port)
    backend = LocalSQSBackend(host=server.host, port=server.port)
    dispatcher = MessageDispatcher(
        json_registry(),
        backend,
        consumers=[Consumer(count, name="counter")],
        workers=2,
        wait_time_seconds=1,
        visibility_timeout=30,
    )
    failure: list[BaseException] = []

    def run() -> None:
        try:
            dispatcher.run(queue)
        except BaseException as exc:  # recorded for the assertions, not lost in the thread
            failure.append(exc)

    thread = threading.Thread(target=run, name="dispatcher-under-test", daemon=True)
    requests = RequestLog()
    try:
        publisher_backend.declare_queue(queue)
        publisher = QueuePublisher(json_registry(), publisher_backend)
        requests.watch(backend.sqs_client)
        thread.start()
        publisher.publish_many(queue, [{"n": n} for n in range(10)])
        poll_until(handled_now, lambda h: len(h) >= 10, timeout=30, message="first 10 handled")

        os.kill(server.process.pid, signal.SIGSTOP)
        requests.clear()
        # This wait is the pause under test (how long the broker is frozen), not a
        # synchronisation: nothing is published and the dispatcher keeps running.
        time.sleep(10)
        receives = requests.count("ReceiveMessage")
        os.kill(server.process.pid, signal.SIGCONT)
        assert thread.is_alive(), failure

        publisher.publish_many(queue, [{"n": n} for n in range(10, 20)])
        poll_until(handled_now, lambda h: len(h) >= 20, timeout=60, message="all 20 handled")
        assert thread.is_alive(), failure
        assert sorted(handled_now()) == list(range(20))
        assert receives < 30, f"{receives} ReceiveMessage requests during the pause"
    finally:
        os.kill(server.process.pid, signal.SIGCONT)  # a stopped server would ignore SIGTERM
        dispatcher.stop()
        thread.join(timeout=15)
        server.stop()
        backend.close()
        publisher_backend.close()
    assert not thread.is_alive(), "the dispatcher did not stop within 15 s"
    assert failure == []


# -- bad input -------------------------------------------------------------------------------


def test_missing_queue_exits_nonzero_and_says_to_declare_it(
    moto_server: MotoServer, workers: Workers, tmp_path: Path, unique: str
) -> None:
    """Consuming a queue that does not exist exits non-zero, naming the queue and the fix."""
    queue = f"does-not-exist-{unique}"
    env = worker_env(moto_server, tmp_path / "work.log", visibility=30, seconds=0)
    worker = workers.start(queue, env=env)
    assert worker.wait(timeout=30) != 0
    stderr = worker.stderr()
    assert queue in stderr
    assert "declare" in stderr


def test_unimportable_factory_exits_2_naming_the_module(
    moto_server: MotoServer, workers: Workers, tmp_path: Path
) -> None:
    """A factory reference whose module cannot be imported exits with 2 and names the module."""
    env = worker_env(moto_server, tmp_path / "work.log", visibility=30, seconds=0)
    worker = workers.start("q", env=env, factory="nonexistent.module:factory")
    assert worker.wait(timeout=30) == 2
    assert "nonexistent.module" in worker.stderr()
