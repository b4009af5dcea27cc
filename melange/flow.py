"""Flow control for the dispatcher: how much to receive, what to extend, when to acknowledge.

Also when to pause receiving (the deduplication cache is down) and how a batch splits
into units of work.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterable

import attrs

from melange import limits
from melange.backends.protocol import MessagingBackend
from melange.dedup import DeduplicationCache
from melange.exceptions import BackendError, DeduplicationUnavailableError
from melange.messages import ReceivedMessage
from melange.retry import Backoff

__all__ = [
    "AckBatcher",
    "CacheProbe",
    "Heartbeat",
    "InFlight",
    "due_for_extension",
    "receive_allowance",
    "units_of_work",
]

logger = logging.getLogger("melange.dispatcher")

#: Probing a cache is one cheap request: probe often, so consuming resumes soon after it is back.
PROBE_BACKOFF = Backoff(base=0.5, cap=5.0, jitter=0.5)


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


def units_of_work(queue_name: str, batch: list[ReceivedMessage]) -> list[list[ReceivedMessage]]:
    """Split a batch into units of work: one per message, or one per group on FIFO queues."""
    if not limits.is_fifo(queue_name):
        return [[received] for received in batch]
    groups: dict[str | None, list[ReceivedMessage]] = {}
    for received in batch:
        groups.setdefault(received.message_group_id, []).append(received)
    return list(groups.values())


def due_for_extension(
    started: Iterable[tuple[str, float]], *, now: float, visibility_timeout: int
) -> list[str]:
    """Return the receipt handles whose visibility was last set half a timeout ago or more.

    ``started`` holds ``(receipt_handle, extended_at)`` for messages whose handler runs.
    """
    return [
        handle for handle, extended_at in started if now - extended_at >= visibility_timeout / 2
    ]


@attrs.define
class InFlight:
    """A message being handled, as the heartbeat sees it.

    Holds when it started, when its visibility was last extended, and the deduplication
    leases it holds; the heartbeat renews both.
    """

    received: ReceivedMessage
    started_at: float = attrs.field(factory=time.monotonic)
    extended_at: float = attrs.field(factory=time.monotonic)
    claims: dict[str, str] = attrs.field(factory=dict)


class Heartbeat:
    """Keeps the messages of running handlers invisible, and their deduplication leases held.

    Args:
        backend: the messaging backend.
        cache: the deduplication cache whose leases to renew, if any.
        visibility_timeout: seconds each extension hides a message (and holds a lease).
    """

    def __init__(
        self, backend: MessagingBackend, cache: DeduplicationCache | None, visibility_timeout: int
    ) -> None:
        self._backend = backend
        self._cache = cache
        self._visibility_timeout = visibility_timeout
        #: The messages whose handler runs, by receipt handle; the dispatcher keeps it.
        self.in_flight: dict[str, InFlight] = {}

    def extend_due(self, queue_name: str) -> None:
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
            self._backend.change_visibility(queue_name, sorted(due), self._visibility_timeout)
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


class CacheProbe:
    """Whether the deduplication cache answers; while it does not, receiving pauses.

    Receiving a message only to release it again would spend one of its receives each
    time, and enough of them send a healthy message to the dead-letter queue. So the
    first unanswered claim marks the cache unavailable, and pollers wait in
    ``wait_until_available`` while one of them pings the cache with backoff.

    Args:
        cache: the deduplication cache (``None``: always available).
        backoff: the pause before the n-th probe in a row.
        clock: monotonic time source.
    """

    def __init__(
        self,
        cache: DeduplicationCache | None,
        *,
        backoff: Backoff = PROBE_BACKOFF,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._cache = cache
        self._backoff = backoff
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0  # unanswered probes in a row, the first claim counted
        self._next_probe = 0.0

    @property
    def available(self) -> bool:
        """Whether the cache answered last time it was asked."""
        return self._failures == 0

    def mark_unavailable(self, exc: DeduplicationUnavailableError) -> None:
        """Record that the cache did not answer; receiving pauses until a probe succeeds."""
        with self._lock:
            if self._failures == 0:
                self._failures = 1
                self._next_probe = self._clock() + self._backoff.delay(1)
                logger.warning("%s; receiving pauses until the deduplication cache answers", exc)

    def probe(self, *, now: bool = False) -> bool:
        """Ping the cache if a probe is due (or ``now``); return whether it is available."""
        with self._lock:
            if self._failures == 0 or self._cache is None:
                return True
            if not now and self._clock() < self._next_probe:
                return False
            try:
                self._cache.ping()
            except DeduplicationUnavailableError as exc:
                self._failures += 1
                pause = self._backoff.delay(self._failures)
                self._next_probe = self._clock() + pause
                logger.warning("%s; probing again in %d s", exc, pause)
                return False
            self._failures = 0
        logger.info("the deduplication cache answers again; receiving resumes")
        return True

    def wait_until_available(self, stopping: threading.Event) -> bool:
        """Probe with backoff until the cache answers (True) or ``stopping`` is set (False)."""
        while not self.probe():
            pause = min(1.0, max(0.05, self._next_probe - self._clock()))
            if stopping.wait(pause):
                return False
        return True
