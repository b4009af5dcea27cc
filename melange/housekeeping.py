"""The runner's background upkeep with the broker: batched acknowledgements and heartbeats.

``AckBatcher`` deletes handled messages ten per request; ``Heartbeat`` extends the
visibility (and deduplication leases) of messages whose handler still runs. The runner's
housekeeping thread drives both; neither decides anything the pure functions in
``melange.decisions`` do not.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from melange.decisions import due_for_extension
from melange.dedup import DeduplicationCache
from melange.exceptions import BackendError
from melange.handling import BrokerQueue, InFlight

__all__ = ["AckBatcher", "Heartbeat"]

logger = logging.getLogger(__name__)

#: Full batches pending before ``AckBatcher.add`` sends them itself rather than signal.
_BATCHES_BEHIND = 4


class Heartbeat:
    """Keeps the messages of running handlers invisible, and their deduplication leases held.

    Args:
        queue: the queue the messages came from.
        cache: the deduplication cache whose leases to renew, if any.
        visibility_timeout: seconds each extension hides a message (and holds a lease).
    """

    def __init__(
        self, queue: BrokerQueue, cache: DeduplicationCache | None, visibility_timeout: int
    ) -> None:
        self._queue = queue
        self._cache = cache
        self._visibility_timeout = visibility_timeout
        #: The messages whose handler runs, by receipt handle; the runner keeps it.
        self.in_flight: dict[str, InFlight] = {}

    def extend_due(self) -> None:
        """Extend every message whose visibility was last set half a timeout ago or more."""
        now = time.monotonic()
        flights = list(self.in_flight.values())
        due = set(
            due_for_extension(
                ((f.received.receipt_handle, f.extended_at) for f in flights),
                now=now,
                visibility_timeout=self._visibility_timeout,
            )
        )
        if not due:
            return
        try:
            self._queue.change_visibility(sorted(due), self._visibility_timeout)
        except BackendError as exc:
            logger.warning("heartbeat could not extend %d messages (%s)", len(due), exc)
            return
        for flight in flights:
            if flight.received.receipt_handle in due:
                flight.extended_at = now
                self._extend_claims(flight)

    def _extend_claims(self, flight: InFlight) -> None:
        if self._cache is None:
            return
        for key, token in list(flight.claims.items()):
            try:
                self._cache.extend(key, token, lease_seconds=self._visibility_timeout)
            except BackendError as exc:
                logger.warning("heartbeat could not extend the lease on %s (%s)", key, exc)


class AckBatcher:
    """Collects receipt handles and deletes them ten per request.

    A batch goes out when it is full, when ``flush_due`` finds it full or older than the
    flush interval, or on ``flush``. Handles whose delete failed because the broker could
    not be reached are kept for the next flush.

    Args:
        queue: the queue the handles belong to.
        batch_size: handles per delete request.
        clock: the monotonic clock that ages batches.
        on_acknowledged: called with how many handles each flush deleted.
        on_full: called when a batch fills, instead of sending it in the calling thread;
            the runner's housekeeper then sends it, so workers never wait on a delete.
    """

    def __init__(
        self,
        queue: BrokerQueue,
        *,
        batch_size: int = 10,
        clock: Callable[[], float] = time.monotonic,
        on_acknowledged: Callable[[int], object] = lambda count: None,
        on_full: Callable[[], object] | None = None,
    ) -> None:
        self._queue = queue
        self._batch_size = batch_size
        self._clock = clock
        self._lock = threading.Lock()
        self._pending: list[str] = []
        self._oldest = 0.0
        self._on_acknowledged = on_acknowledged
        self._on_full = on_full

    def add(self, receipt_handle: str) -> None:
        """Queue a handle for deletion; send a full batch at once, or signal ``on_full``."""
        with self._lock:
            if not self._pending:
                self._oldest = self._clock()
            self._pending.append(receipt_handle)
            pending = len(self._pending)
        full = pending == self._batch_size  # signalled once per batch, not per handle
        # The background sender fell behind (deletes slower than receives): the caller
        # sends, which slows handling down to what the broker takes and bounds the backlog.
        behind = pending >= self._batch_size * _BATCHES_BEHIND
        if behind or (full and self._on_full is None):
            self.flush()
        elif full and self._on_full is not None:
            self._on_full()

    def flush_due(self, max_age: float) -> None:
        """Send what is pending if a batch is full or the oldest handle waited ``max_age`` s."""
        with self._lock:
            due = bool(self._pending) and (
                len(self._pending) >= self._batch_size or self._clock() - self._oldest >= max_age
            )
        if due:
            self.flush()

    def flush(self) -> None:
        """Send everything pending now."""
        with self._lock:
            handles, self._pending = self._pending, []
        if not handles:
            return
        try:
            failed = self._queue.acknowledge(handles)
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
