"""The consume path's decisions, as pure functions on values: no I/O, no threads, no clock.

How long a failed message waits (``Backoff``), whether a failed request can heal, whether a
receive was a message's last, how many messages to ask for, which leases are due for
extension, how a batch splits into units of work, how the handling-time estimate moves and
until when a stopping runner waits for the network (``StopDeadline``).
The runner (``melange.consuming.runner``) and the handling
(``melange.consuming.handling``) call these;
``melange.consuming.dead_letters`` holds the one other pure decision, the dead-letter copy.
"""

from __future__ import annotations

import enum
import math
import threading
import time
from collections.abc import Callable, Iterable

import attrs

from melange import limits
from melange.exceptions import (
    BackendError,
    BackendRefusedError,
    QueueNotFoundError,
)
from melange.messages import ReceivedMessage, RedrivePolicy
from melange.options import Backoff

__all__ = [
    "EMPTY_SHORT_POLL_PAUSE",
    "MAX_BATCHES_AHEAD",
    "OUTAGE_BACKOFF",
    "PROBE_BACKOFF",
    "SHUTDOWN_GRACE_SECONDS",
    "AckBatch",
    "Backoff",
    "Holding",
    "Pending",
    "StopDeadline",
    "due_for_extension",
    "is_last_receive",
    "left_after",
    "may_heal",
    "messages_ahead",
    "next_mean",
    "receive_allowance",
    "shares",
    "units_of_work",
]


#: How long after ``stop`` (beyond the long-poll wait and the running handlers) a runner
#: waits for the network: receives, the last acknowledgements and releases
#: (``StopDeadline``); what is not answered by then is logged and delivered again.
SHUTDOWN_GRACE_SECONDS = 5.0

#: Seconds a poller waits after a short poll (``wait_time_seconds=0``) that found nothing,
#: so that an idle queue is not asked as fast as the broker answers (and, in memory, the
#: asyncio poller lets the workers run).
EMPTY_SHORT_POLL_PAUSE = 0.01

#: The pause after the n-th failure in a row to reach the broker or the deduplication cache.
OUTAGE_BACKOFF = Backoff(base=0.5, cap=30.0, jitter=0.5)
#: Probing a cache is one cheap request: probe often, so consuming resumes soon after it is back.
PROBE_BACKOFF = Backoff(base=0.5, cap=5.0, jitter=0.5)


@attrs.frozen
class StopDeadline:
    """When a stopping runner stops waiting for the network; set once, at ``stop``.

    A long poll in flight returns within ``wait_time_seconds``, and
    ``SHUTDOWN_GRACE_SECONDS`` more cover the last acknowledgements and releases. Running
    handlers are waited for, however long they take; the acknowledgements of handlers
    that finish after ``at - SHUTDOWN_GRACE_SECONDS`` get ``SHUTDOWN_GRACE_SECONDS``
    after the last one (``after_handlers``). So a runner's stop returns within
    ``wait_time_seconds`` + the running handlers + ``SHUTDOWN_GRACE_SECONDS``, whatever
    the network does: each wait on it is bounded by ``remaining``, not by a timeout of
    its own, and waits one after another share the one budget.

    Attributes:
        at: the clock's time after which nothing waits for the network any more.
    """

    at: float

    @classmethod
    def at_stop(cls, now: float, wait_time_seconds: float) -> StopDeadline:
        """Return the deadline of a runner stopped at ``now``."""
        return cls(now + wait_time_seconds + SHUTDOWN_GRACE_SECONDS)

    def after_handlers(self, now: float) -> StopDeadline:
        """Return the deadline once the last handler finished at ``now``."""
        return StopDeadline(max(self.at, now + SHUTDOWN_GRACE_SECONDS))

    def remaining(self, now: float) -> float:
        """Return the seconds left at ``now`` (0 once the deadline passed)."""
        return max(0.0, self.at - now)


def may_heal(exc: BackendError) -> bool:
    """Return whether a failed broker request can succeed if tried again later.

    Throttling, 5xx answers and unreachable endpoints heal; a refusal (credentials,
    permissions, an unsupported or invalid request) and a missing queue do not.
    """
    return not isinstance(exc, BackendRefusedError | QueueNotFoundError)


def is_last_receive(receive_count: int, policy: RedrivePolicy | None) -> bool:
    """Return whether the broker dead-letters, instead of delivering again, after this receive."""
    return policy is not None and receive_count >= policy.max_receive_count


#: The most messages received ahead of the workers, in batches: enough to cover a receive's
#: round trip at any speed a no-op handler reaches, few enough to bound memory (40 x 1 MiB).
MAX_BATCHES_AHEAD = 4


def receive_allowance(
    *,
    workers: int,
    held: int,
    max_messages: int,
    visibility_timeout: int,
    mean_handling_seconds: float | None,
    mean_receive_seconds: float | None = None,
) -> int:
    """Return how many messages to ask for now (0: wait for a worker to finish).

    ``held`` counts the messages received and not yet settled plus those asked for by
    receives in flight. Beyond one message per worker, ``messages_ahead`` may wait in
    memory. While every worker is busy, only a full batch is received ahead, so the next
    messages are ready when a worker frees up without many small receives. Before any
    handling time is known, one message per worker.
    """
    ahead = messages_ahead(
        workers=workers,
        max_messages=max_messages,
        visibility_timeout=visibility_timeout,
        mean_handling_seconds=mean_handling_seconds,
        mean_receive_seconds=mean_receive_seconds,
    )
    room = workers + ahead - held
    if held >= workers:
        return max_messages if room >= max_messages else 0
    return max(0, min(max_messages, room))


def messages_ahead(
    *,
    workers: int,
    max_messages: int,
    visibility_timeout: int,
    mean_handling_seconds: float | None,
    mean_receive_seconds: float | None,
) -> int:
    """Return how many received messages may wait for a free worker.

    One batch, plus as many as the workers finish during one receive's round trip when
    that is known: the next receive then starts while enough wait to keep every worker
    busy until it returns (against a fast broker and fast handlers, the difference
    between waiting on the network and not). Never more than the workers can start
    within half the visibility timeout at the observed handling time, so no message
    waits in memory until it becomes visible again, nor more than ``MAX_BATCHES_AHEAD``
    batches.
    """
    if mean_handling_seconds is None:
        return 0
    most = MAX_BATCHES_AHEAD * max_messages
    if mean_handling_seconds <= 0:
        return most if mean_receive_seconds else max_messages
    # Compare before rounding: a tiny mean makes these quotients overflow to infinity.
    startable = workers * (visibility_timeout / 2) / mean_handling_seconds
    during_receive = workers * (mean_receive_seconds or 0.0) / mean_handling_seconds
    # Fewer workers than a batch: each takes its share of a batch at once (``shares``), so
    # a worker holds up to ``max_messages / workers`` messages, not one; the batch waiting
    # next comes on top of that, or the poller waits for each share to finish.
    in_hand = max(0, max_messages - workers)
    wanted = max_messages + in_hand + during_receive
    limit = min(startable, most)
    return math.floor(limit) if wanted >= limit else math.ceil(wanted)


def next_mean(previous: float | None, elapsed: float) -> float:
    """Return the handling-time estimate after one more handler took ``elapsed`` seconds.

    An exponential moving average: recent handlers weigh most, so the estimate follows a
    handler that slows down (a dependency degrades) within a few messages.
    """
    return elapsed if previous is None else 0.8 * previous + 0.2 * elapsed


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


def shares(units: list[list[ReceivedMessage]], workers: int) -> list[list[list[ReceivedMessage]]]:
    """Deal units of work into at most ``workers`` shares, one task each for the pool.

    Handing a worker several units at once saves a hand-off per message when there are
    fewer workers than units (one worker takes a whole batch); with more workers than
    units, each unit is a share of its own and runs in parallel.
    """
    count = max(1, min(len(units), workers))
    return [units[start::count] for start in range(count) if units[start::count]]


@attrs.define
class Holding:
    """How many messages a runner holds, and the timings that decide how many more to take.

    The state behind ``receive_allowance`` for one queue; no I/O, no locks, no clock: the
    threaded runner guards it with its condition, the asyncio runner needs none.
    """

    workers: int
    max_messages: int
    visibility_timeout: int
    held: int = 0  # received and not yet settled, or reserved for a receive in flight
    mean_handling_seconds: float | None = None
    mean_receive_seconds: float | None = None  # of receives that brought messages

    def allowance(self) -> int:
        """How many messages to ask for now (``receive_allowance``)."""
        return receive_allowance(
            workers=self.workers,
            held=self.held,
            max_messages=self.max_messages,
            visibility_timeout=self.visibility_timeout,
            mean_handling_seconds=self.mean_handling_seconds,
            mean_receive_seconds=self.mean_receive_seconds,
        )

    def reserve(self) -> int:
        """Count the allowance as held (before the receive, so pollers do not share room)."""
        wanted = self.allowance()
        self.held += wanted
        return wanted

    def received(self, asked: int, got: int, seconds: float) -> None:
        """Give back what a receive asked for and did not get; time it if it got some."""
        self.held -= asked - got
        if got:  # an empty long poll measures the queue's silence, not the broker
            self.mean_receive_seconds = next_mean(self.mean_receive_seconds, seconds)

    def settled(self, count: int) -> bool:
        """Give back ``count`` settled messages; return whether a receive may start now."""
        self.held -= count
        return self.allowance() > 0

    def handled(self, seconds: float) -> None:
        """Fold one handler's time into the estimate."""
        self.mean_handling_seconds = next_mean(self.mean_handling_seconds, seconds)


def left_after(
    unit: list[ReceivedMessage], index: int, acknowledged: bool
) -> list[ReceivedMessage]:
    """Return what of a unit of work to release after its message ``index`` was settled.

    On a FIFO queue a unit is a message group: when one message is not acknowledged
    (retried, dead-lettered, left), the later ones must not overtake it, so they are
    released to come back in order. Otherwise nothing.
    """
    return [] if acknowledged else unit[index + 1 :]


#: Full batches pending before ``AckBatch.push`` says the sender fell behind.
BATCHES_BEHIND = 4


class Pending(enum.Enum):
    """What a handle queued for deletion made of the batch."""

    WAITING = "waiting"  # not a full batch yet
    FULL = "full"  # a batch just filled: send it
    BEHIND = "behind"  # batches piled up: the sender fell behind, send them all now


class AckBatch:
    """Receipt handles waiting to be deleted, ten per request; thread-safe, no I/O.

    Each handle is kept with the broker's id of its message, from ``push`` until its
    delete request was answered (``sent``): what a stopping runner could not acknowledge
    is then named in the log (``unacknowledged``), the requests in flight included.

    Args:
        batch_size: handles per delete request.
        clock: the monotonic clock that ages batches.
    """

    def __init__(self, *, batch_size: int = 10, clock: Callable[[], float] = time.monotonic):
        self._batch_size = batch_size
        self._clock = clock
        self._lock = threading.Lock()
        # Receipt handle -> the broker's message id, oldest first (dicts keep the order).
        self._pending: dict[str, str] = {}
        self._sending: dict[str, str] = {}  # taken by a delete request not answered yet
        self._oldest = 0.0

    def push(self, receipt_handle: str, broker_message_id: str | None = None) -> Pending:
        """Queue a handle for deletion; return whether a batch just filled or piled up."""
        with self._lock:
            if not self._pending:
                self._oldest = self._clock()
            self._pending[receipt_handle] = broker_message_id or receipt_handle
            pending = len(self._pending)
        # The background sender fell behind (deletes slower than receives): the caller
        # sends, which slows handling down to what the broker takes and bounds the backlog.
        if pending >= self._batch_size * BATCHES_BEHIND:
            return Pending.BEHIND
        return Pending.FULL if pending == self._batch_size else Pending.WAITING

    def take(self, max_age: float | None = None) -> list[str]:
        """Take what is pending (if a batch is full or the oldest waited ``max_age`` s).

        The handles taken count as being deleted until ``sent`` or ``put_back``.
        """
        with self._lock:
            if max_age is not None and not (
                len(self._pending) >= self._batch_size
                or (self._pending and self._clock() - self._oldest >= max_age)
            ):
                return []
            taken, self._pending = self._pending, {}
            self._sending.update(taken)
        return list(taken)

    def sent(self, handles: list[str]) -> None:
        """Forget the handles of a delete request the broker answered."""
        with self._lock:
            for handle in handles:
                self._sending.pop(handle, None)

    def put_back(self, handles: list[str]) -> None:
        """Return the handles of a delete request that failed, to go with the next one."""
        with self._lock:
            back = {handle: self._sending.pop(handle, handle) for handle in handles}
            self._pending = {**back, **self._pending}

    def unacknowledged(self) -> list[str]:
        """Return the broker ids of the messages not deleted yet: being deleted, then pending."""
        with self._lock:
            return [*self._sending.values(), *self._pending.values()]
