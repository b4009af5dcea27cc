"""One running queue, top-down: receive, hand each unit of work to a worker, settle it.

A ``QueueRunner`` owns everything that lives as long as consuming one queue: its pollers
(threads that keep a receive in flight), its worker pool, the messages in flight and how
many are held, the acknowledgement batch, the heartbeat that extends running handlers'
leases, and the handling-time estimate that bounds how much is received ahead. The
dispatcher builds one per queue (``MessageDispatcher.runner``); ``run`` consumes until
``stop``. What happens to each message is in ``melange.handling``; the decisions (how many
to receive, what to extend, how a batch splits) are pure functions in
``melange.decisions``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from melange.decisions import (
    OUTAGE_BACKOFF,
    Holding,
    left_after,
    may_heal,
    shares,
    units_of_work,
)
from melange.dedup import DeduplicationCache
from melange.exceptions import BackendError
from melange.handling import Action, InFlight, MessageHandling, Outcome
from melange.health import RUNNING, QueueActivity
from melange.housekeeping import AckBatcher, Heartbeat
from melange.messages import ReceivedMessage
from melange.options import AckPolicy, DispatcherOptions
from melange.settling import BrokerQueue, DispatcherStats, Settler

__all__ = ["SHUTDOWN_GRACE_SECONDS", "QueueRunner", "receive_failed"]

logger = logging.getLogger(__name__)

#: How long after ``stop`` (beyond the long-poll wait) ``run`` waits for a receive request,
#: the heartbeat and the last acknowledgements before it returns without them.
SHUTDOWN_GRACE_SECONDS = 5.0


class QueueRunner:
    """Consumes one queue with the dispatcher's consumers and options, until stopped.

    Build it with ``MessageDispatcher.runner(queue_name)``. It runs once: ``run`` in this
    thread, or ``start`` in a new one (then ``wait``).

    Args:
        queue: the queue, bound to the backend.
        handling: reads, deduplicates and consumes each message (shared by runners).
        options: the dispatcher's options.
        stats: the counters to update (shared by the dispatcher's runners).
        cache: the deduplication cache whose leases the heartbeat renews, if any.
    """

    def __init__(
        self,
        queue: BrokerQueue,
        handling: MessageHandling,
        options: DispatcherOptions,
        stats: DispatcherStats,
        cache: DeduplicationCache | None = None,
    ) -> None:
        self.queue = queue
        self.options = options
        self.stats = stats
        self._handling = handling
        self._queue_stats = queue_stats = stats.for_queue(queue.name)
        self._wake_housekeeper = threading.Event()
        self._acks = AckBatcher(
            queue,
            on_acknowledged=lambda n: queue_stats.count("acknowledged", n),
            on_full=self._wake_housekeeper.set,
        )
        self._settler = Settler(
            queue, queue_stats, options, acknowledge=lambda r: self._acks.add(r.receipt_handle)
        )
        self._heartbeat = Heartbeat(queue, cache, options.visibility_timeout)
        self.activity = QueueActivity(
            queue.name, options.wait_time_seconds, lambda: len(self._heartbeat.in_flight)
        )
        self._stopping = threading.Event()
        self._changed = threading.Condition()
        self._holding = Holding(options.workers, options.max_messages, options.visibility_timeout)
        self._errors: list[BaseException] = []
        self._pool: ThreadPoolExecutor | None = None
        self._thread: threading.Thread | None = None
        self._ran = False
        self.finished = False

    @property
    def queue_name(self) -> str:
        """The queue this runner consumes."""
        return self.queue.name

    def start(self) -> QueueRunner:
        """Run in a new thread and return at once; ``wait`` for the end (after ``stop``)."""
        self._thread = _start(self._run_keeping_errors, f"melange-runner-{self.queue_name}")
        return self

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for a started runner to finish; return whether it did.

        Raises:
            BackendRefusedError: the error that ended ``run``, if any.
        """
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                return False
        if self._errors:
            raise self._errors[0]
        return True

    def stop(self) -> None:
        """Ask the runner to stop: no more receives, running handlers finish. Thread-safe."""
        self._stopping.set()
        with self._changed:
            self._changed.notify_all()

    def run(self) -> None:
        """Consume until ``stop``; then finish running handlers, acknowledge them, return.

        After ``stop`` it waits at most ``wait_time_seconds`` plus
        ``SHUTDOWN_GRACE_SECONDS`` for receive requests: a request stuck in the network is
        left behind, and the messages it returns later are released.

        Raises:
            QueueNotFoundError: the queue does not exist when consuming starts.
            BackendRefusedError: the broker refused to deliver and will refuse again
                (credentials, permissions); raised once everything has stopped.
        """
        if self._ran:
            raise RuntimeError("a QueueRunner runs once; ask its dispatcher for another runner")
        self._ran = True
        RUNNING.register(self.activity)
        finished = threading.Event()
        housekeeper = _start(self._housekeep, "melange-housekeeper", finished)
        workers, pollers = self.options.workers, self.options.poller_count
        logger.info(
            "consuming %r with %d workers and %d pollers", self.queue_name, workers, pollers
        )
        try:
            with ThreadPoolExecutor(workers, thread_name_prefix="melange-worker") as pool:
                self._pool = pool
                try:
                    threads = [_start(self._poll, f"melange-poller-{n}") for n in range(pollers)]
                    self._await_pollers(threads)
                finally:
                    self._stopping.set()  # before the pool waits for its work
        finally:
            finished.set()
            self._wake_housekeeper.set()
            housekeeper.join(SHUTDOWN_GRACE_SECONDS)
            self._flush_last_acks()
            RUNNING.unregister(self.activity)
            self.finished = True
        logger.info("stopped consuming %r: %s", self.queue_name, self.stats)
        if self._errors:
            raise self._errors[0]

    def _run_keeping_errors(self) -> None:
        try:
            self.run()
        except BaseException as exc:  # re-raised by wait()
            if exc not in self._errors:
                self._errors.append(exc)

    def _await_pollers(self, pollers: list[threading.Thread]) -> None:
        """Wait for ``stop``, then for the pollers' last receives, for a bounded time."""
        while not self._stopping.wait(1.0):
            if not any(poller.is_alive() for poller in pollers):
                return
        grace = self.options.wait_time_seconds + SHUTDOWN_GRACE_SECONDS
        deadline = time.monotonic() + grace
        for poller in pollers:
            poller.join(max(0.0, deadline - time.monotonic()))
        stuck = sum(poller.is_alive() for poller in pollers)
        if stuck:
            logger.warning(
                "%d receive request(s) to %r did not return within %d s of stop; not waiting "
                "for them: messages they return later are released",
                stuck,
                self.queue_name,
                grace,
            )

    def _flush_last_acks(self) -> None:
        last_acks = _start(self._acks.flush, "melange-last-acks")
        last_acks.join(SHUTDOWN_GRACE_SECONDS)
        if last_acks.is_alive():
            logger.warning(
                "the last acknowledgements to %r were not answered within %d s; those "
                "messages may be delivered again",
                self.queue_name,
                SHUTDOWN_GRACE_SECONDS,
            )

    # -- receiving -----------------------------------------------------------------------

    def _poll(self) -> None:
        try:
            self._receive_loop()
        except BaseException as exc:  # re-raised by run() once everything has stopped
            self._errors.append(exc)
            self.stop()

    def _receive_loop(self) -> None:
        failures = 0
        probe = self._handling.cache_probe
        while not self._stopping.is_set():
            if not probe.wait_until_available(self._stopping):
                return
            wanted = self._reserve_room()
            if wanted == 0:
                continue
            began = time.monotonic()
            try:
                batch = self.queue.receive(
                    wanted,
                    wait_time_seconds=self._wait_time(),
                    visibility_timeout=self.options.visibility_timeout,
                )
            except BackendError as exc:
                self._unhold(wanted)
                failures += 1
                pause = receive_failed(self.queue_name, exc, failures)
                self.activity.backing_off(pause)
                self._stopping.wait(pause)
                continue
            failures = 0
            self.activity.received()
            with self._changed:
                self._holding.received(wanted, len(batch), time.monotonic() - began)
            self._dispatch(batch)

    def _wait_time(self) -> int:
        # Until the broker answered (at start, after a failure) a short poll: readiness
        # (melange.health) then shows at once instead of after a whole long poll.
        return self.options.wait_time_seconds if self.activity.answered else 0

    def _reserve_room(self) -> int:
        """Return how many messages to receive, counted as held until they are settled.

        Reserving before the request keeps several pollers from all seeing the same room.
        0 while stopping, or while the deduplication cache is down (found while waiting).
        """
        with self._changed:
            if self._holding.allowance() == 0 and not self._stopping.is_set():
                self.activity.waiting(True)
                self._changed.wait(timeout=1.0)
                self.activity.waiting(False)
            if self._stopping.is_set() or not self._handling.cache_probe.available:
                return 0
            return self._holding.reserve()

    def _unhold(self, count: int) -> None:
        if count:
            with self._changed:
                # Wake the pollers only when they may receive: a poller woken for less room
                # than a batch goes back to sleep, and each such wake costs a GIL hand-off.
                if self._holding.settled(count):
                    self._changed.notify_all()

    # -- handling ------------------------------------------------------------------------

    def _dispatch(self, batch: list[ReceivedMessage]) -> None:
        self._queue_stats.count("received", len(batch))
        submitted: set[str] = set()
        if not self._stopping.is_set() and self._pool is not None:
            self._acknowledge_on_receipt(batch)
            units = units_of_work(self.queue_name, batch)
            for share in shares(units, self.options.workers):
                try:
                    self._pool.submit(self._work, share)
                except RuntimeError:  # the pool has shut down: run returned without this poller
                    break
                submitted.update(received.receipt_handle for unit in share for received in unit)
        unstarted = [m for m in batch if m.receipt_handle not in submitted]
        if unstarted:
            self._settler.release(unstarted)
            self._unhold(len(unstarted))

    def _acknowledge_on_receipt(self, batch: list[ReceivedMessage]) -> None:
        if self.options.ack_policy is AckPolicy.ON_RECEIPT:
            for received in batch:
                self._acks.add(received.receipt_handle)
            self._acks.flush()

    def _work(self, share: list[list[ReceivedMessage]]) -> None:
        # Room is given back once per share: a share larger than one unit only goes to a
        # worker when there are more units than workers, and then more is received ahead.
        try:
            for unit in share:
                try:
                    self._work_unit(unit)
                except Exception:  # a bug of ours must not kill the worker or lose the count
                    logger.exception("unexpected error handling messages of %r", self.queue_name)
        finally:
            self._unhold(sum(len(unit) for unit in share))

    def _work_unit(self, unit: list[ReceivedMessage]) -> None:
        for index, received in enumerate(unit):
            if self._stopping.is_set():
                self._settler.release(unit[index:])
                return
            outcome = self._handle(received)
            self._settler.settle(received, outcome)
            left = left_after(unit, index, acknowledged=outcome.action is Action.ACK)
            if left:
                self._settler.release(left)
                return

    def _handle(self, received: ReceivedMessage) -> Outcome:
        flight = InFlight(received)
        self._heartbeat.in_flight[received.receipt_handle] = flight
        outcome = None
        try:
            outcome = self._handling.handle(flight)
            return outcome
        finally:
            del self._heartbeat.in_flight[received.receipt_handle]
            seconds = time.monotonic() - flight.started_at
            self._holding.handled(seconds)
            self._queue_stats.handled(received, outcome, seconds)

    def _housekeep(self, finished: threading.Event) -> None:
        # Until the last handler finished, not just until stop: they still need heartbeats.
        # Woken at once when a batch of acknowledgements fills, else every tick.
        interval = self.options.ack_flush_interval
        while not finished.is_set():
            self._wake_housekeeper.wait(min(0.1, interval / 2))
            self._wake_housekeeper.clear()
            self._acks.flush_due(interval)
            if self.options.heartbeat:
                self._heartbeat.extend_due()

    # -- synchronous use -----------------------------------------------------------------

    def process_available(self, *, limit: int | None = None) -> int:
        """Handle every message visible now, in this thread, and return how many.

        The same reading, deduplication, retries and dead-lettering as ``run``, without
        threads, long polling or batched acknowledgements.
        """
        handled = 0
        direct = Settler(self.queue, self._queue_stats, self.options)
        probe = self._handling.cache_probe
        # While the cache is unreachable, released messages are visible again at once:
        # receiving them again would only spend their receives.
        while (limit is None or handled < limit) and probe.probe(now=True):
            most = self.options.max_messages
            wanted = most if limit is None else min(most, limit - handled)
            batch = self.queue.receive(wanted, visibility_timeout=self.options.visibility_timeout)
            if not batch:
                break
            self._queue_stats.count("received", len(batch))
            self._acknowledge_on_receipt(batch)
            for received in batch:
                direct.settle(received, self._handle(received))
            handled += len(batch)
        return handled


def receive_failed(queue_name: str, exc: BackendError, failures: int) -> float:
    """Decide on a failed receive: re-raise what cannot heal, else log and return the pause."""
    if not may_heal(exc):
        raise exc
    pause = OUTAGE_BACKOFF.delay(failures)
    logger.warning("receiving from %r failed (%s); retrying in %d s", queue_name, exc, pause)
    return pause


def _start(target: Callable[..., object], name: str, *args: object) -> threading.Thread:
    """Start a daemon thread, so one stuck in the network never keeps the process alive."""
    thread = threading.Thread(target=target, args=args, name=name, daemon=True)
    thread.start()
    return thread
