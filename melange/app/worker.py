"""``Worker``: several queues consumed in one process, one dispatcher runner per queue.

``python -m melange worker`` builds one from the application (``Application.worker``).
Each queue runs on its own ``QueueThread``, with the consumers and options of its
own dispatcher; ``stop`` stops them all as ``MessageDispatcher.stop`` stops one. When any
queue stops, by ``stop`` or by an error (a queue that does not exist, a broker that
refuses), the others are stopped too: a worker that silently lost a queue would look
healthy while its messages pile up.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from melange.consuming.dispatcher import MessageDispatcher, QueueThread

__all__ = ["Worker", "first_failure", "log_failure"]

logger = logging.getLogger(__name__)

#: How often ``run`` looks at each runner; ``stop`` takes effect at once regardless.
POLL_SECONDS = 0.2


class Worker:
    """Runs each ``(queue name, dispatcher)`` pair until ``stop``.

    Args:
        queues: the queues to consume, each with the dispatcher that consumes it.

    Raises:
        ValueError: no queue, or a queue given twice.
    """

    def __init__(self, queues: Sequence[tuple[str, MessageDispatcher]]) -> None:
        names = [name for name, _ in queues]
        if not names or len(set(names)) != len(names):
            raise ValueError(f"a Worker needs distinct queues, got {names!r}")
        self.queues = tuple(queues)
        self._runners: list[QueueThread] = []
        self._stopping = False
        # Reentrant: stop() may run in a signal handler that interrupted start() here.
        self._lock = threading.RLock()

    @property
    def queue_names(self) -> tuple[str, ...]:
        """The queues this worker consumes."""
        return tuple(name for name, _ in self.queues)

    def start(self) -> Worker:
        """Start consuming every queue, each in its own thread; return at once."""
        with self._lock:
            for name, dispatcher in self.queues:
                if self._stopping:
                    break
                self._runners.append(dispatcher.start(name))
        return self

    def stop(self) -> None:
        """Stop every queue: no more receives, running handlers finish. Signal-safe."""
        with self._lock:
            self._stopping = True
            dispatchers = [dispatcher for _, dispatcher in self.queues]
        for dispatcher in dispatchers:
            dispatcher.stop()

    def run(self) -> None:
        """Consume every queue until ``stop`` (or until one queue ends); then return.

        Raises:
            QueueNotFoundError: a queue did not exist when consuming started.
            BackendRefusedError: the broker refused for good; raised once all stopped.
        """
        self.start()
        failures: list[tuple[str, BaseException]] = []
        pending = list(self._runners)
        while pending:
            for runner in list(pending):
                try:
                    finished = runner.wait(POLL_SECONDS)
                except Exception as exc:  # the error that ended the runner
                    log_failure(logger, runner.queue_name, exc)
                    failures.append((runner.queue_name, exc))
                    finished = True
                if finished:
                    pending.remove(runner)
                    self.stop()
        if failures:
            raise first_failure(failures)


def log_failure(log: logging.Logger, queue_name: str, error: BaseException) -> None:
    """Log on ``log`` that consuming ``queue_name`` ended with ``error``, stopping every queue.

    Only its kind: the error reaches the caller of ``run``, which reports it as fits how
    the worker was started (the command line names its declare command where the backend
    would name its own call), so a message logged here would say it twice, differently.
    """
    log.error("consuming %r failed with %s; stopping every queue", queue_name, type(error).__name__)


def first_failure(failures: Sequence[tuple[str, BaseException]]) -> BaseException:
    """Return the first queue's error, the one ``run`` raises, with the others as its notes."""
    first = failures[0][1]
    for queue_name, error in failures[1:]:
        first.add_note(f"consuming {queue_name!r} failed too: {error}")
    return first
