"""The runner's background upkeep with the broker: batched acknowledgements and heartbeats.

``AckBatcher`` deletes handled messages ten per request; ``Heartbeat`` extends the
visibility (and deduplication leases) of messages whose handler still runs. The runner's
housekeeping thread drives both; neither decides anything the pure functions in
``melange.decisions`` do not.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Callable

from melange.decisions import due_for_extension
from melange.dedup import DeduplicationCache
from melange.exceptions import BackendError
from melange.handling import InFlight
from melange.settling import BrokerQueue

__all__ = ["AckBatcher", "Heartbeat", "Pending", "log_unextended", "log_unrenewed"]

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
        self, queue: BrokerQueue | None, cache: DeduplicationCache | None, visibility_timeout: int
    ) -> None:
        self._queue = queue  # None: the asyncio runner sends the extensions itself
        self.cache = cache
        self.visibility_timeout = visibility_timeout
        #: The messages whose handler runs, by receipt handle; the runner keeps it.
        self.in_flight: dict[str, InFlight] = {}

    def due(self) -> tuple[float, list[InFlight]]:
        """Return now and the messages whose visibility was set half a timeout ago or more."""
        now = time.monotonic()
        flights = list(self.in_flight.values())
        due = set(
            due_for_extension(
                ((f.received.receipt_handle, f.extended_at) for f in flights),
                now=now,
                visibility_timeout=self.visibility_timeout,
            )
        )
        return now, [f for f in flights if f.received.receipt_handle in due]

    def extended(self, flights: list[InFlight], now: float) -> list[tuple[str, str]]:
        """Record that ``flights`` were extended at ``now``; return their leases to renew."""
        for flight in flights:
            flight.extended_at = now
        if self.cache is None:
            return []
        return [claim for flight in flights for claim in flight.claims.items()]

    def extend_due(self) -> None:
        """Extend every message due, and renew its deduplication leases (blocking calls)."""
        now, flights = self.due()
        if not flights or self._queue is None:
            return
        handles = sorted(f.received.receipt_handle for f in flights)
        try:
            self._queue.change_visibility(handles, self.visibility_timeout)
        except BackendError as exc:
            log_unextended(handles, exc)
            return
        for key, token in self.extended(flights, now):
            try:
                if self.cache is not None:
                    self.cache.extend(key, token, lease_seconds=self.visibility_timeout)
            except BackendError as exc:
                log_unrenewed(key, exc)


def log_unextended(handles: list[str], exc: BackendError) -> None:
    """Log a heartbeat whose visibility extension failed (the broker may redeliver)."""
    logger.warning("heartbeat could not extend %d messages (%s)", len(handles), exc)


def log_unrenewed(key: str, exc: BackendError) -> None:
    """Log a deduplication lease the heartbeat could not renew."""
    logger.warning("heartbeat could not extend the lease on %s (%s)", key, exc)


class Pending(enum.Enum):
    """What a handle queued for deletion made of the batch."""

    WAITING = "waiting"  # not a full batch yet
    FULL = "full"  # a batch just filled: send it
    BEHIND = "behind"  # batches piled up: the sender fell behind, send them all now


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
        queue: BrokerQueue | None,
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

    def push(self, receipt_handle: str) -> Pending:
        """Queue a handle for deletion; return whether a batch just filled or piled up."""
        with self._lock:
            if not self._pending:
                self._oldest = self._clock()
            self._pending.append(receipt_handle)
            pending = len(self._pending)
        # The background sender fell behind (deletes slower than receives): the caller
        # sends, which slows handling down to what the broker takes and bounds the backlog.
        if pending >= self._batch_size * _BATCHES_BEHIND:
            return Pending.BEHIND
        return Pending.FULL if pending == self._batch_size else Pending.WAITING

    def take(self, max_age: float | None = None) -> list[str]:
        """Take what is pending (if a batch is full or the oldest waited ``max_age`` s)."""
        with self._lock:
            if max_age is not None and not (
                len(self._pending) >= self._batch_size
                or (self._pending and self._clock() - self._oldest >= max_age)
            ):
                return []
            handles, self._pending = self._pending, []
        return handles

    def sent(self, handles: list[str], refused: list[str]) -> None:
        """Count what a delete request took and warn about what it refused."""
        self._on_acknowledged(len(handles) - len(refused))
        if refused:
            # The visibility timeout ran out before the delete: SQS will deliver these again
            # and the deduplication cache (if any) will skip them.
            logger.warning(
                "%d acknowledgements were refused (expired receipt handles); those messages "
                "will be delivered again",
                len(refused),
            )

    def unsent(self, handles: list[str], exc: BackendError) -> None:
        """Keep the handles of a failed delete request for the next flush."""
        logger.warning("acknowledging %d messages failed (%s); will retry", len(handles), exc)
        with self._lock:
            self._pending[:0] = handles

    # -- blocking sends (the threaded runner) -------------------------------------------

    def add(self, receipt_handle: str) -> None:
        """Queue a handle for deletion; send a full batch at once, or signal ``on_full``."""
        pending = self.push(receipt_handle)
        if pending is Pending.BEHIND or (pending is Pending.FULL and self._on_full is None):
            self.flush()
        elif pending is Pending.FULL and self._on_full is not None:
            self._on_full()

    def flush_due(self, max_age: float) -> None:
        """Send what is pending if a batch is full or the oldest handle waited ``max_age`` s."""
        self._send(self.take(max_age))

    def flush(self) -> None:
        """Send everything pending now."""
        self._send(self.take())

    def _send(self, handles: list[str]) -> None:
        if not handles or self._queue is None:
            return
        try:
            refused = self._queue.acknowledge(handles)
        except BackendError as exc:
            self.unsent(handles, exc)
            return
        self.sent(handles, refused)
