"""The message dispatcher: receive, hand to consumers on worker threads, settle each message.

Guarantees: a message is acknowledged only after every consumer that accepts it succeeded,
acknowledgements go out in batches; a failure makes the message visible again after an
exponential backoff; a message that cannot be read, that no consumer accepts, or that
fails on its last allowed receive goes to the dead-letter queue with the reason;
handlers that outlive half the visibility timeout get it extended; ``stop`` lets running
handlers finish, acknowledges them and releases what was received but not started, and
does not wait for a receive stuck in the network. A refusal that cannot heal (credentials,
permissions) ends ``run`` with that error; while the deduplication cache is unreachable
(``on_cache_unavailable="redeliver"``) receiving pauses.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import attrs

from melange import limits
from melange.backends.protocol import MessagingBackend
from melange.consumers import Consumer, check_consumer
from melange.dedup import DeduplicationCache
from melange.exceptions import BackendError, ConfigurationError
from melange.flow import AckBatcher, Heartbeat, InFlight, receive_allowance, units_of_work
from melange.handling import (
    Action,
    CacheUnavailablePolicy,
    ConsumeHook,
    ExceptionHook,
    MessageHandling,
    Outcome,
)
from melange.messages import ReceivedMessage
from melange.retry import OUTAGE_BACKOFF, Backoff, may_heal
from melange.serializers.registry import SerializerRegistry
from melange.settling import DispatcherStats, Settler

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

__all__ = ["DispatcherStats", "MessageDispatcher", "SimpleMessageDispatcher"]

logger = logging.getLogger("melange.dispatcher")

DEFAULT_BACKOFF = Backoff()  # frozen, so one shared default is safe
#: How long after ``stop`` (beyond the long-poll wait) ``run`` waits for a receive request,
#: the heartbeat and the last acknowledgements before it returns without them.
SHUTDOWN_GRACE_SECONDS = 5.0


class MessageDispatcher:
    """Consumes a queue with the guarantees production SQS users expect.

    Args:
        serializer_registry: reads messages back into objects.
        backend: the messaging backend.
        cache: a deduplication cache; with one, each consumer runs at most once per
            message id (successfully).
        consumers: consumers to attach now (``attach_consumer`` adds more).
        workers: handler threads; up to this many handlers run at once.
        pollers: threads that receive, each with one request in flight; defaults to one
            per 10 workers, so that receiving keeps up with many fast handlers.
        max_messages: messages per receive, 1-10.
        wait_time_seconds: long-poll wait, 0-20; ``stop`` can take this long.
        visibility_timeout: seconds a received message stays invisible; the heartbeat
            extends it for handlers that run longer than half of it.
        backoff: delay before a failed message is retried, by its receive count.
        early_ack: acknowledge on receipt, before handling (at most once; off by default).
        always_ack: acknowledge even when a consumer raised (melange 7's behaviour).
        ack_unhandled: acknowledge a message no consumer accepts, for queues that knowingly
            receive more than they handle; by default it goes to the dead-letter queue.
        heartbeat: extend the visibility of messages whose handler is still running.
        on_exception: called with (exception, message, received) when a consumer raises.
        after_consume: called with (message, received) after every consumer succeeded.
        on_cache_unavailable: when the cache cannot be reached, ``"process"`` (log a
            warning and handle anyway: handlers should be idempotent) or ``"redeliver"``
            (release the message and pause receiving until the cache answers a probe).
        ack_flush_interval: longest wait, in seconds, before a partial batch of
            acknowledgements is sent.
    """

    def __init__(
        self,
        serializer_registry: SerializerRegistry,
        backend: MessagingBackend,
        *,
        cache: DeduplicationCache | None = None,
        consumers: Iterable[Consumer] = (),
        workers: int = 1,
        pollers: int | None = None,
        max_messages: int = 10,
        wait_time_seconds: int = 20,
        visibility_timeout: int = 30,
        backoff: Backoff = DEFAULT_BACKOFF,
        early_ack: bool = False,
        always_ack: bool = False,
        ack_unhandled: bool = False,
        heartbeat: bool = True,
        on_exception: ExceptionHook | None = None,
        after_consume: ConsumeHook | None = None,
        on_cache_unavailable: CacheUnavailablePolicy = "process",
        ack_flush_interval: float = 0.2,
    ) -> None:
        _check_options(workers, pollers, max_messages, wait_time_seconds, visibility_timeout)
        if on_cache_unavailable not in ("process", "redeliver"):
            raise ConfigurationError(
                f"on_cache_unavailable={on_cache_unavailable!r} is not one of "
                "'process', 'redeliver'"
            )
        self.backend = backend
        self.workers = workers
        self.pollers = pollers or -(-workers // max_messages)  # ceil(workers / batch)
        self.max_messages = max_messages
        self.wait_time_seconds = wait_time_seconds
        self.visibility_timeout = visibility_timeout
        self.early_ack = early_ack
        self.heartbeat = heartbeat
        self.ack_flush_interval = ack_flush_interval
        self._consumers: list[Consumer] = list(consumers)
        for attached in self._consumers:
            check_consumer(attached)
        self._handling = MessageHandling(
            registry=serializer_registry,
            consumers=self._consumers,
            cache=cache,
            backoff=backoff,
            lease_seconds=visibility_timeout,
            always_ack=always_ack,
            ack_unhandled=ack_unhandled,
            on_cache_unavailable=on_cache_unavailable,
            on_exception=on_exception,
            after_consume=after_consume,
        )
        self.stats = DispatcherStats()
        self._settler = Settler(backend, self.stats, backoff, early_ack=early_ack)
        self._stopping = threading.Event()
        self._changed = threading.Condition()
        self._held = 0
        self._mean_seconds: float | None = None
        self._heartbeat = Heartbeat(backend, cache, visibility_timeout)

    def attach_consumer(self, consumer: Consumer) -> None:
        """Add a consumer; every message it accepts must succeed before acknowledgement.

        Attaching the same consumer object again does nothing, so wiring code that runs
        twice does not make every message handled twice.

        Raises:
            ConfigurationError: ``consumer`` is not a ``Consumer`` or skipped its
                ``Consumer.__init__``.
        """
        check_consumer(consumer)
        if not any(attached is consumer for attached in self._consumers):
            self._consumers.append(consumer)

    # -- running -------------------------------------------------------------------------

    def run(self, queue_name: str) -> None:
        """Consume ``queue_name`` until ``stop`` is called; then finish cleanly and return.

        After ``stop``, ``run`` returns once running handlers finish, waiting at most
        ``wait_time_seconds`` plus ``SHUTDOWN_GRACE_SECONDS`` for receive requests: a
        request stuck in the network is left behind, and the messages it returns later
        are released.

        Raises:
            QueueNotFoundError: the queue does not exist when consuming starts.
            BackendRefusedError: the broker refused to deliver and will refuse again
                (credentials, permissions); raised once everything has stopped.
        """
        from concurrent.futures import ThreadPoolExecutor  # only workers need it

        stopping = self._stopping = threading.Event()  # a new one: old pollers keep theirs
        finished = threading.Event()
        acks = AckBatcher(
            self.backend, queue_name, on_acknowledged=lambda n: self.stats.count("acknowledged", n)
        )
        housekeeper = _start(self._housekeep, "melange-housekeeper", queue_name, acks, finished)
        logger.info(
            "consuming %r with %d workers and %d pollers", queue_name, self.workers, self.pollers
        )
        errors: list[BaseException] = []
        try:
            with ThreadPoolExecutor(self.workers, thread_name_prefix="melange-worker") as pool:
                state = _RunState(queue_name, acks, pool, stopping, errors)
                try:
                    pollers = [
                        _start(self._poll, f"melange-poller-{number}", state)
                        for number in range(self.pollers)
                    ]
                    self._await_pollers(state, pollers)
                finally:
                    stopping.set()  # before the pool waits for its work
        finally:
            finished.set()
            housekeeper.join(SHUTDOWN_GRACE_SECONDS)
            last_acks = _start(acks.flush, "melange-last-acks")
            last_acks.join(SHUTDOWN_GRACE_SECONDS)
            if last_acks.is_alive():
                logger.warning(
                    "the last acknowledgements to %r were not answered within %d s; those "
                    "messages may be delivered again",
                    queue_name,
                    SHUTDOWN_GRACE_SECONDS,
                )
        logger.info("stopped consuming %r: %s", queue_name, self.stats)
        if errors:
            raise errors[0]

    def _await_pollers(self, state: _RunState, pollers: list[threading.Thread]) -> None:
        """Wait for ``stop``, then for the pollers' last receives, for a bounded time."""
        while not state.stopping.wait(1.0):
            if not any(poller.is_alive() for poller in pollers):
                return
        deadline = time.monotonic() + self.wait_time_seconds + SHUTDOWN_GRACE_SECONDS
        for poller in pollers:
            poller.join(max(0.0, deadline - time.monotonic()))
        stuck = sum(poller.is_alive() for poller in pollers)
        if stuck:
            logger.warning(
                "%d receive request(s) to %r did not return within %d s of stop; not waiting "
                "for them: messages they return later are released",
                stuck,
                state.queue_name,
                self.wait_time_seconds + SHUTDOWN_GRACE_SECONDS,
            )

    def _poll(self, state: _RunState) -> None:
        try:
            self._receive_loop(state)
        except BaseException as exc:  # re-raised by run() once everything has stopped
            state.errors.append(exc)
            state.stopping.set()  # this run's, even if a newer run has begun
            with self._changed:
                self._changed.notify_all()

    def consume_loop(self, queue_name: str) -> None:
        """Consume ``queue_name`` until stopped (melange 7's name for ``run``)."""
        self.run(queue_name)

    def stop(self) -> None:
        """Ask ``run`` to stop: no more receives, running handlers finish. Thread-safe."""
        self._stopping.set()
        with self._changed:
            self._changed.notify_all()

    def _receive_loop(self, state: _RunState) -> None:
        failures = 0
        probe = self._handling.cache_probe
        while not state.stopping.is_set():
            if not probe.wait_until_available(state.stopping):
                return
            wanted = self._reserve_room(state.stopping)
            if wanted == 0:
                continue
            try:
                batch = self.backend.receive(
                    state.queue_name,
                    max_messages=wanted,
                    wait_time_seconds=self.wait_time_seconds,
                    visibility_timeout=self.visibility_timeout,
                )
            except BackendError as exc:
                self._unhold(wanted)
                if not may_heal(exc):
                    raise
                failures += 1
                pause = OUTAGE_BACKOFF.delay(failures)
                logger.warning(
                    "receiving from %r failed (%s); retrying in %d s", state.queue_name, exc, pause
                )
                state.stopping.wait(pause)
                continue
            failures = 0
            self._unhold(wanted - len(batch))
            self._dispatch(state, batch)

    def _reserve_room(self, stopping: threading.Event) -> int:
        """Return how many messages to receive, counted as held until they are settled.

        Reserving before the request keeps several pollers from all seeing the same room.
        None while stopping, or while the deduplication cache is down (found while waiting).
        """
        with self._changed:
            wanted = self._allowance()
            if wanted == 0 and not stopping.is_set():
                self._changed.wait(timeout=1.0)
                wanted = self._allowance()
            if stopping.is_set() or not self._handling.cache_probe.available:
                return 0
            self._held += wanted
            return wanted

    def _unhold(self, count: int) -> None:
        if count:
            with self._changed:
                self._held -= count
                self._changed.notify_all()

    def _allowance(self) -> int:
        return receive_allowance(
            workers=self.workers,
            held=self._held,
            max_messages=self.max_messages,
            visibility_timeout=self.visibility_timeout,
            mean_handling_seconds=self._mean_seconds,
        )

    def _dispatch(self, state: _RunState, batch: list[ReceivedMessage]) -> None:
        self.stats.count("received", len(batch))
        submitted: set[str] = set()
        if not state.stopping.is_set():
            if self.early_ack:
                for received in batch:
                    state.acks.add(received.receipt_handle)
                state.acks.flush()
            for group in units_of_work(state.queue_name, batch):
                try:
                    state.pool.submit(self._work, state, group)
                except RuntimeError:  # the pool has shut down: run returned without this poller
                    break
                submitted.update(received.receipt_handle for received in group)
        unstarted = [m for m in batch if m.receipt_handle not in submitted]
        if unstarted:
            self._settler.release(state.queue_name, unstarted)
            self._unhold(len(unstarted))

    def _work(self, state: _RunState, group: list[ReceivedMessage]) -> None:
        queue_name = state.queue_name
        try:
            for index, received in enumerate(group):
                if state.stopping.is_set():
                    self._settler.release(queue_name, group[index:])
                    return
                outcome = self._handle(received)
                self._settler.settle(queue_name, state.acks, received, outcome)
                if outcome.action is not Action.ACK and index + 1 < len(group):
                    # FIFO: later messages of the group must not overtake this one.
                    self._settler.release(queue_name, group[index + 1 :])
                    return
        except Exception:  # a bug of ours must not kill the worker or lose the count
            logger.exception("unexpected error while handling messages of %r", queue_name)
        finally:
            self._unhold(len(group))

    def _handle(self, received: ReceivedMessage) -> Outcome:
        flight = InFlight(received)
        self._heartbeat.in_flight[received.receipt_handle] = flight
        try:
            return self._handling.handle(flight)
        finally:
            del self._heartbeat.in_flight[received.receipt_handle]
            elapsed = time.monotonic() - flight.started_at
            previous = self._mean_seconds
            self._mean_seconds = elapsed if previous is None else 0.8 * previous + 0.2 * elapsed

    # -- housekeeping --------------------------------------------------------------------

    def _housekeep(self, queue_name: str, acks: AckBatcher, finished: threading.Event) -> None:
        # Until the last handler finished, not just until stop: they still need heartbeats.
        tick = min(0.1, self.ack_flush_interval / 2)
        while not finished.wait(tick):
            acks.flush_due(self.ack_flush_interval)
            if self.heartbeat:
                self._heartbeat.extend_due(queue_name)

    # -- synchronous use -----------------------------------------------------------------

    def process_available(self, queue_name: str, *, limit: int | None = None) -> int:
        """Handle every message visible now, in this thread, and return how many.

        For tests and scripts: the same reading, deduplication, retries and dead-lettering
        as ``run``, without threads or long polling.
        """
        handled = 0
        probe = self._handling.cache_probe
        # While the cache is unreachable, released messages are visible again at once:
        # receiving them again would only spend their receives.
        while (limit is None or handled < limit) and probe.probe(now=True):
            wanted = self.max_messages if limit is None else min(self.max_messages, limit - handled)
            batch = self.backend.receive(
                queue_name, max_messages=wanted, visibility_timeout=self.visibility_timeout
            )
            if not batch:
                break
            self.stats.count("received", len(batch))
            for received in batch:
                self._settler.settle(queue_name, None, received, self._handle(received))
            handled += len(batch)
        return handled


class SimpleMessageDispatcher(MessageDispatcher):
    """A dispatcher for one consumer: ``SimpleMessageDispatcher(consumer, registry, backend)``."""

    def __init__(
        self,
        consumer: Consumer,
        serializer_registry: SerializerRegistry,
        backend: MessagingBackend,
        **options: object,
    ) -> None:
        super().__init__(serializer_registry, backend, consumers=[consumer], **options)  # type: ignore[arg-type]


@attrs.frozen
class _RunState:
    """What one ``run`` shares with its pollers and workers.

    A poller keeps its own, so one left stuck in a receive by an earlier ``run`` still
    sees that run stopped (and releases what it gets) even after a new ``run`` began.
    """

    queue_name: str
    acks: AckBatcher
    pool: ThreadPoolExecutor
    stopping: threading.Event
    errors: list[BaseException]


def _start(target: Callable[..., object], name: str, *args: object) -> threading.Thread:
    """Start a daemon thread, so one stuck in the network never keeps the process alive."""
    thread = threading.Thread(target=target, args=args, name=name, daemon=True)
    thread.start()
    return thread


def _check_options(
    workers: int,
    pollers: int | None,
    max_messages: int,
    wait_time_seconds: int,
    visibility_timeout: int,
) -> None:
    if workers < 1:
        raise ConfigurationError(f"workers={workers!r} must be at least 1")
    if pollers is not None and not 1 <= pollers <= workers:
        raise ConfigurationError(
            f"pollers={pollers!r} must be between 1 and workers={workers!r}; each poller "
            "keeps one receive in flight"
        )
    limits.check_receive_args("(dispatcher)", max_messages, wait_time_seconds, visibility_timeout)
    if visibility_timeout < 1:
        raise ConfigurationError(
            f"visibility_timeout={visibility_timeout!r} must be at least 1 second so a "
            "message is not redelivered while its handler runs"
        )
