"""The message dispatcher: receive, hand to consumers on worker threads, settle each message.

Guarantees: a message is acknowledged only after every consumer that accepts it succeeded,
acknowledgements go out in batches; a failure makes the message visible again after an
exponential backoff; an unreadable message goes to the dead-letter queue with the reason;
handlers that outlive half the visibility timeout get it extended; ``stop`` lets running
handlers finish, acknowledges them and releases what was received but not started.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from melange import limits
from melange.backends.protocol import MessagingBackend
from melange.consumers import Consumer
from melange.dedup import DeduplicationCache
from melange.exceptions import BackendError, ConfigurationError, QueueNotFoundError
from melange.flow import AckBatcher, due_for_extension, receive_allowance
from melange.handling import (
    Action,
    CacheUnavailablePolicy,
    ConsumeHook,
    ExceptionHook,
    InFlight,
    MessageHandling,
    Outcome,
)
from melange.messages import ReceivedMessage
from melange.retry import Backoff
from melange.serializers.registry import SerializerRegistry
from melange.settling import DispatcherStats, Settler

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

__all__ = ["DispatcherStats", "MessageDispatcher", "SimpleMessageDispatcher"]

logger = logging.getLogger("melange.dispatcher")

DEFAULT_BACKOFF = Backoff()  # frozen, so one shared default is safe
_ERROR_BACKOFF = Backoff(base=0.5, cap=30.0, jitter=0.5)


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
        heartbeat: extend the visibility of messages whose handler is still running.
        on_exception: called with (exception, message, received) when a consumer raises.
        after_consume: called with (message, received) after every consumer succeeded.
        on_cache_unavailable: when the cache cannot be reached, ``"process"`` (log a
            warning and handle anyway: handlers should be idempotent) or ``"redeliver"``.
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
        self._handling = MessageHandling(
            registry=serializer_registry,
            consumers=self._consumers,
            cache=cache,
            backoff=backoff,
            lease_seconds=visibility_timeout,
            always_ack=always_ack,
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
        self._in_flight: dict[str, InFlight] = {}

    def attach_consumer(self, consumer: Consumer) -> None:
        """Add a consumer; every message it accepts must succeed before acknowledgement.

        Attaching the same consumer object again does nothing, so wiring code that runs
        twice does not make every message handled twice.
        """
        if not any(attached is consumer for attached in self._consumers):
            self._consumers.append(consumer)

    # -- running -------------------------------------------------------------------------

    def run(self, queue_name: str) -> None:
        """Consume ``queue_name`` until ``stop`` is called; then finish cleanly and return.

        Raises:
            QueueNotFoundError: the queue does not exist when consuming starts.
        """
        self._stopping.clear()
        acks = AckBatcher(
            self.backend, queue_name, on_acknowledged=lambda n: self.stats.count("acknowledged", n)
        )
        housekeeper = threading.Thread(
            target=self._housekeep, args=(queue_name, acks), name="melange-housekeeper", daemon=True
        )
        housekeeper.start()
        logger.info(
            "consuming %r with %d workers and %d pollers", queue_name, self.workers, self.pollers
        )
        errors: list[BaseException] = []
        from concurrent.futures import ThreadPoolExecutor  # only workers need it

        try:
            with ThreadPoolExecutor(self.workers, thread_name_prefix="melange-worker") as pool:
                pollers = [
                    threading.Thread(
                        target=self._poll,
                        args=(queue_name, acks, pool, errors),
                        name=f"melange-poller-{number}",
                        daemon=True,
                    )
                    for number in range(self.pollers)
                ]
                for poller in pollers:
                    poller.start()
                for poller in pollers:
                    poller.join()
        finally:
            self._stopping.set()
            housekeeper.join()
            acks.flush()
        logger.info("stopped consuming %r: %s", queue_name, self.stats)
        if errors:
            raise errors[0]

    def _poll(
        self,
        queue_name: str,
        acks: AckBatcher,
        pool: ThreadPoolExecutor,
        errors: list[BaseException],
    ) -> None:
        try:
            self._receive_loop(queue_name, acks, pool)
        except BaseException as exc:  # re-raised by run() once everything has stopped
            errors.append(exc)
            self.stop()

    def consume_loop(self, queue_name: str) -> None:
        """Consume ``queue_name`` until stopped (melange 7's name for ``run``)."""
        self.run(queue_name)

    def stop(self) -> None:
        """Ask ``run`` to stop: no more receives, running handlers finish. Thread-safe."""
        self._stopping.set()
        with self._changed:
            self._changed.notify_all()

    def _receive_loop(self, queue_name: str, acks: AckBatcher, pool: ThreadPoolExecutor) -> None:
        failures = 0
        while not self._stopping.is_set():
            wanted = self._reserve_room()
            if wanted == 0:
                continue
            try:
                batch = self.backend.receive(
                    queue_name,
                    max_messages=wanted,
                    wait_time_seconds=self.wait_time_seconds,
                    visibility_timeout=self.visibility_timeout,
                )
            except BackendError as exc:
                self._unhold(wanted)
                if isinstance(exc, QueueNotFoundError):
                    raise
                failures += 1
                pause = _ERROR_BACKOFF.delay(failures)
                logger.warning(
                    "receiving from %r failed (%s); retrying in %d s", queue_name, exc, pause
                )
                self._stopping.wait(pause)
                continue
            failures = 0
            self._unhold(wanted - len(batch))
            self._dispatch(queue_name, acks, pool, batch)

    def _reserve_room(self) -> int:
        """Return how many messages to receive, counted as held until they are settled.

        Reserving before the request keeps several pollers from all seeing the same room.
        """
        with self._changed:
            wanted = self._allowance()
            if wanted == 0 and not self._stopping.is_set():
                self._changed.wait(timeout=1.0)
                wanted = self._allowance()
            if self._stopping.is_set():
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

    def _dispatch(
        self,
        queue_name: str,
        acks: AckBatcher,
        pool: ThreadPoolExecutor,
        batch: list[ReceivedMessage],
    ) -> None:
        self.stats.count("received", len(batch))
        if self._stopping.is_set():
            self._settler.release(queue_name, batch)
            self._unhold(len(batch))
            return
        if self.early_ack:
            for received in batch:
                acks.add(received.receipt_handle)
            acks.flush()
        for group in _ordered_groups(queue_name, batch):
            pool.submit(self._work, queue_name, acks, group)

    def _work(self, queue_name: str, acks: AckBatcher, group: list[ReceivedMessage]) -> None:
        try:
            for index, received in enumerate(group):
                if self._stopping.is_set():
                    self._settler.release(queue_name, group[index:])
                    return
                outcome = self._handle(received)
                self._settler.settle(queue_name, acks, received, outcome)
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
        self._in_flight[received.receipt_handle] = flight
        try:
            return self._handling.handle(flight)
        finally:
            del self._in_flight[received.receipt_handle]
            elapsed = time.monotonic() - flight.started_at
            previous = self._mean_seconds
            self._mean_seconds = elapsed if previous is None else 0.8 * previous + 0.2 * elapsed

    # -- housekeeping --------------------------------------------------------------------

    def _housekeep(self, queue_name: str, acks: AckBatcher) -> None:
        tick = min(0.1, self.ack_flush_interval / 2)
        while not self._stopping.wait(tick):
            acks.flush_due(self.ack_flush_interval)
            if self.heartbeat:
                self._extend_running(queue_name)

    def _extend_running(self, queue_name: str) -> None:
        now = time.monotonic()
        flights = list(self._in_flight.values())
        due = set(
            due_for_extension(
                ((f.received.receipt_handle, f.extended_at) for f in flights),
                now=now,
                visibility_timeout=self.visibility_timeout,
            )
        )
        if not due:
            return
        try:
            self.backend.change_visibility(queue_name, sorted(due), self.visibility_timeout)
        except BackendError as exc:
            logger.warning("heartbeat could not extend %d messages (%s)", len(due), exc)
            return
        for flight in flights:
            if flight.received.receipt_handle in due:
                flight.extended_at = now
                self._extend_claims(flight)

    def _extend_claims(self, flight: InFlight) -> None:
        cache = self._handling.cache
        for key, token in list(flight.claims.items()):
            if cache is not None:
                try:
                    cache.extend(key, token, lease_seconds=self.visibility_timeout)
                except BackendError as exc:
                    logger.warning("heartbeat could not extend the lease on %s (%s)", key, exc)

    # -- synchronous use -----------------------------------------------------------------

    def process_available(self, queue_name: str, *, limit: int | None = None) -> int:
        """Handle every message visible now, in this thread, and return how many.

        For tests and scripts: the same reading, deduplication, retries and dead-lettering
        as ``run``, without threads or long polling.
        """
        handled = 0
        while limit is None or handled < limit:
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


def _ordered_groups(queue_name: str, batch: list[ReceivedMessage]) -> list[list[ReceivedMessage]]:
    """Split a batch into units of work: one per message, or one per group on FIFO queues."""
    if not limits.is_fifo(queue_name):
        return [[received] for received in batch]
    groups: dict[str | None, list[ReceivedMessage]] = {}
    for received in batch:
        groups.setdefault(received.message_group_id, []).append(received)
    return list(groups.values())


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
