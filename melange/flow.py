"""Flow control for the dispatcher: how much to receive, what to extend, when to acknowledge."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterable

from melange.backends.protocol import MessagingBackend
from melange.exceptions import BackendError

__all__ = ["AckBatcher", "due_for_extension", "receive_allowance"]

logger = logging.getLogger("melange.dispatcher")


def receive_allowance(
    *,
    workers: int,
    held: int,
    max_messages: int,
    visibility_timeout: int,
    mean_handling_seconds: float | None,
) -> int:
    """Return how many messages to ask for now (0: wait for a worker to finish).

    Beyond one message per worker, only as many are taken as the workers can start within
    half the visibility timeout at the observed handling time, so no message waits in
    memory until it becomes visible again; and at most one batch ahead of the workers.
    While every worker is busy, only a full batch is received ahead, so the next messages
    are ready when a worker frees up without many small receives. Before any handling time
    is known, one message per worker.
    """
    if mean_handling_seconds is None:
        startable = workers
    elif mean_handling_seconds <= 0:
        startable = workers + max_messages
    else:
        waiting = workers * (visibility_timeout / 2) / mean_handling_seconds
        # Capped at one batch ahead; comparing first stays clear of float overflow.
        startable = workers + (max_messages if waiting >= max_messages else math.floor(waiting))
    room = startable - held
    if held >= workers:
        return max_messages if room >= max_messages else 0
    return max(0, min(max_messages, room))


def due_for_extension(
    started: Iterable[tuple[str, float]], *, now: float, visibility_timeout: int
) -> list[str]:
    """Return the receipt handles whose visibility was last set half a timeout ago or more.

    ``started`` holds ``(receipt_handle, extended_at)`` for messages whose handler runs.
    """
    return [
        handle for handle, extended_at in started if now - extended_at >= visibility_timeout / 2
    ]


class AckBatcher:
    """Collects receipt handles and deletes them ten per request.

    A batch goes out when it is full, when ``flush_due`` finds it older than the flush
    interval, or on ``flush``. Handles whose delete failed because the broker could not be
    reached are kept for the next flush.
    """

    def __init__(
        self,
        backend: MessagingBackend,
        queue_name: str,
        *,
        batch_size: int = 10,
        clock: Callable[[], float] = time.monotonic,
        on_acknowledged: Callable[[int], object] = lambda count: None,
    ) -> None:
        self._backend = backend
        self._queue = queue_name
        self._batch_size = batch_size
        self._clock = clock
        self._lock = threading.Lock()
        self._pending: list[str] = []
        self._oldest = 0.0
        self._on_acknowledged = on_acknowledged

    def add(self, receipt_handle: str) -> None:
        """Queue a handle for deletion; send a full batch at once."""
        with self._lock:
            if not self._pending:
                self._oldest = self._clock()
            self._pending.append(receipt_handle)
            full = len(self._pending) >= self._batch_size
        if full:
            self.flush()

    def flush_due(self, max_age: float) -> None:
        """Send what is pending if the oldest handle waited ``max_age`` seconds."""
        with self._lock:
            due = bool(self._pending) and self._clock() - self._oldest >= max_age
        if due:
            self.flush()

    def flush(self) -> None:
        """Send everything pending now."""
        with self._lock:
            handles, self._pending = self._pending, []
        if not handles:
            return
        try:
            failed = self._backend.acknowledge(self._queue, handles)
        except BackendError as exc:
            logger.warning("acknowledging %d messages failed (%s); will retry", len(handles), exc)
            with self._lock:
                self._pending[:0] = handles
            return
        self._on_acknowledged(len(handles) - len(failed))
        if failed:
            # The visibility timeout ran out before the delete: SQS will deliver these again
            # and the deduplication cache (if any) will skip them.
            logger.warning(
                "%d acknowledgements were refused (expired receipt handles); those messages "
                "will be delivered again",
                len(failed),
            )
