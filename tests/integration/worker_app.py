"""A worker for the subprocess tests: ``python -m melange consume`` builds it from the environment.

The environment says where the broker is and how the worker behaves:

- ``WORKER_ENDPOINT_URL``: the SQS endpoint, e.g. ``http://127.0.0.1:5000`` (required).
- ``WORKER_LOG``: a file the consumer appends ``start <n>`` and ``done <n>`` lines to (required).
- ``WORKER_VISIBILITY``: the dispatcher's visibility timeout in seconds (default 30).
- ``WORKER_HANDLER_SECONDS``: how long each handler works (default 0).

Messages are JSON objects with an integer ``"n"``. Each log line is flushed and fsynced
before the handler goes on, so a process killed with SIGKILL never loses a line it wrote.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from melange.backends.aws import LocalSQSBackend
from melange.consuming.consumers import Consumer
from melange.consuming.dispatcher import MessageDispatcher
from melange.serializers import JsonSerializer, SerializerRegistry

__all__ = ["WorkLog", "build_dispatcher"]


class WorkLog:
    """Records, durably, when the handling of each message starts and finishes.

    Args:
        path: the file to append lines to.
        handler_seconds: how long each handler works between its two lines.
    """

    def __init__(self, path: Path, handler_seconds: float) -> None:
        self.path = path
        self.handler_seconds = handler_seconds

    def handle(self, message: dict[str, Any]) -> None:
        """Log ``start <n>``, work for ``handler_seconds``, then log ``done <n>``."""
        n = int(message["n"])
        self._append(f"start {n}")
        time.sleep(self.handler_seconds)  # the handler's simulated work
        self._append(f"done {n}")

    def _append(self, line: str) -> None:
        # One write per line on an O_APPEND file, synced to disk before returning: the test
        # reads this file to learn what a killed process had started and finished.
        with self.path.open("a", encoding="utf-8") as log:
            log.write(f"{line}\n")
            log.flush()
            os.fsync(log.fileno())


def _required(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(f"environment variable {name} is not set; the tests set it")
    return value


def build_dispatcher() -> MessageDispatcher:
    """Return a one-worker dispatcher on the local SQS endpoint that logs to ``WORKER_LOG``."""
    work_log = WorkLog(
        Path(_required("WORKER_LOG")),
        handler_seconds=float(os.environ.get("WORKER_HANDLER_SECONDS", "0")),
    )
    registry = SerializerRegistry({"serializers": {"json": JsonSerializer}})
    return MessageDispatcher(
        registry,
        LocalSQSBackend(host=_required("WORKER_ENDPOINT_URL")),
        consumers=[Consumer(work_log.handle, name="worker_app.WorkLog")],
        workers=1,
        wait_time_seconds=1,
        visibility_timeout=int(os.environ.get("WORKER_VISIBILITY", "30")),
    )
