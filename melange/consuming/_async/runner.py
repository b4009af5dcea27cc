"""One running queue, top-down: receive, hand each unit of work to a worker, settle it.

Each ``AsyncQueueRunner`` owns everything that lives as long as consuming one queue: its
pollers (each keeps one receive in flight), its workers (``workers`` units of work at
once), the messages in flight and how many are held, the acknowledgement batch, and the
housekeeping that sends acknowledgements and extends running handlers' visibility. The
dispatcher builds one per queue; ``run`` consumes until ``stop``. What happens to each
message is ``AsyncMessageHandling``'s (``handling.py`` beside this file); how many to
receive, what to extend and how a batch splits are pure functions of
``melange.consuming.decisions``.

Following one message: ``_poll`` receives it, ``_dispatch`` deals the batch into shares
for the workers, ``_work`` hands it to ``AsyncMessageHandling.handle`` (which calls the
handler) and ``settle`` (which acknowledges it, through the batch that ``_housekeep``
sends).

Written once, for asyncio: ``scripts/unasync.py`` generates the threaded twin in the
``_sync`` package beside this one (``make unasync``). Edit this file.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Literal

import attrs

from melange.backends.aio_protocol import AsyncMessagingTransport
from melange.consuming._async.handling import (
    AsyncAcks,
    AsyncEventSourceTransport,
    AsyncMessageHandling,
    AsyncNotificationTransport,
    delete_payloads,
)
from melange.consuming.aio_concurrency import (
    AsyncEvent,
    AsyncHandlers,
    AsyncInterrupted,
    AsyncTasks,
    AsyncWorkers,
)
from melange.consuming.aio_dedup import AsyncDeduplicationCache
from melange.consuming.decisions import (
    EMPTY_SHORT_POLL_PAUSE,
    OUTAGE_BACKOFF,
    Holding,
    StopDeadline,
    due_for_extension,
    left_after,
    may_heal,
    shares,
    units_of_work,
)
from melange.consuming.dedup import CacheProbe
from melange.consuming.outcomes import (
    Action,
    DispatcherStats,
    HandlingSetup,
    InFlight,
    Outcome,
    Settled,
    log_fields,
    reason_of,
)
from melange.exceptions import BackendError, BackendRefusedError, DeduplicationUnavailableError
from melange.messages import ReceivedMessage
from melange.options import AckPolicy
from melange.payloads.store import AsyncPayloadStore
from melange.telemetry import tracing
from melange.telemetry.activity import RUNNING, QueueActivity
from melange.wire.claim_check import PayloadPointer

__all__ = ["AsyncQueueRunner"]

logger = logging.getLogger("melange.consuming.runner")


class AsyncQueueRunner:
    """Consumes one queue with a dispatcher's consumers and options, until stopped.

    Build it with the dispatcher's ``runner(queue_name)``; it runs once.

    Args:
        backend: the messaging backend.
        queue_name: the queue consumed.
        setup: the registry, consumers, options and hooks (shared by the dispatcher's runners).
        handlers: how a consumer's handler is called.
        stats: the dispatcher's counters; the runner counts into its queue's share.
        cache: the deduplication cache, if any.
        probe: whether the cache answers (shared by the dispatcher's runners).
        payloads: where large messages' payloads are stored, if anywhere.
    """

    def __init__(
        self,
        backend: AsyncMessagingTransport,
        queue_name: str,
        setup: HandlingSetup,
        handlers: AsyncHandlers,
        stats: DispatcherStats,
        *,
        cache: AsyncDeduplicationCache | None = None,
        probe: CacheProbe | None = None,
        payloads: AsyncPayloadStore | None = None,
    ) -> None:
        options = setup.options
        self.queue_name = queue_name
        self.options = options
        self.stats = stats
        self._backend = backend
        self._setup = setup
        self._handlers = handlers
        self._clock = setup.clock
        self._cache = cache
        self._probe = probe or CacheProbe(None)
        self._payloads = payloads
        self._queue_stats = stats.for_queue(queue_name)
        self._stopping = AsyncEvent()
        self._room = AsyncEvent()  # set when a poller may receive again
        self._wake_housekeeper = AsyncEvent()
        self._handlers_done = AsyncEvent()
        self._acks = AsyncAcks(
            backend,
            queue_name,
            self._queue_stats,
            wake=self._wake_housekeeper,
            clock=self._clock,
            payloads=payloads,
        )
        self._handling = AsyncMessageHandling(
            backend,
            queue_name,
            setup,
            handlers,
            self._queue_stats,
            cache=cache,
            probe=self._probe,
            acks=self._acks,
            payloads=payloads,
        )
        #: The messages whose handlers run, by receipt handle (the heartbeat's to extend).
        self.in_flight: dict[str, InFlight] = {}
        self.activity = QueueActivity(
            queue_name, options.wait_time_seconds, lambda: len(self.in_flight)
        )
        # Holding is shared by pollers and workers, which are threads in the threaded half.
        self._lock = threading.Lock()
        self._holding = Holding(options.workers, options.max_messages, options.visibility_timeout)
        self._workers = AsyncWorkers(options.workers)
        self._errors: list[Exception] = []
        # Received, and not started because the runner stops: housekeeping releases them.
        self._unstarted: list[ReceivedMessage] = []
        # process_batch's (AWS Lambda): built at the first batch, kept for the next ones.
        self._batch_handlings: dict[str, AsyncMessageHandling] = {}  # process_batch's
        self._ran = False
        self.finished = False

    def stop(self) -> None:
        """Ask the runner to stop: no more receives, running handlers finish. Thread-safe."""
        self._stopping.set()
        self._room.set()  # wake the pollers waiting for room

    async def run(self) -> None:
        """Consume until ``stop``; then finish running handlers, acknowledge them, return.

        After ``stop`` it returns within ``wait_time_seconds`` + the running handlers +
        ``SHUTDOWN_GRACE_SECONDS`` whatever the network does (``StopDeadline``): receives
        in flight are not waited for beyond it (the asyncio half cancels them at once),
        and the acknowledgements and releases the broker has not answered by then are
        logged, with the ids of the messages that will be delivered again. Interrupted
        (cancelled; Ctrl-C in the threaded half) it stops the same way, then raises again.

        Raises:
            QueueNotFoundError: the queue does not exist when consuming starts.
            BackendRefusedError: the broker refused to deliver and will refuse again
                (credentials, permissions); raised once everything has stopped.
        """
        if self._ran:
            raise RuntimeError("a queue runner runs once; ask its dispatcher for another runner")
        self._ran = True
        RUNNING.register(self.activity)
        logger.info(
            "consuming %r with %d workers and %d pollers",
            self.queue_name,
            self.options.workers,
            self.options.poller_count,
        )
        housekeeping, pollers = AsyncTasks(), AsyncTasks()
        housekeeping.start(self._housekeep, name=f"melange-housekeeper-{self.queue_name}")
        for number in range(self.options.poller_count):
            pollers.start(self._poll, name=f"melange-poller-{number}-{self.queue_name}")
        interrupted = False
        try:
            while not await self._stopping.wait(1.0):
                pass
        except AsyncInterrupted:
            interrupted = True
        finally:
            await self._shut_down(pollers, housekeeping)
        logger.info("stopped consuming %r: %s", self.queue_name, self.stats)
        if interrupted:
            raise AsyncInterrupted
        if self._errors:
            raise self._errors[0]

    async def _shut_down(self, pollers: AsyncTasks, housekeeping: AsyncTasks) -> None:
        """Stop receiving, let running handlers finish, settle the rest by the deadline.

        Every wait on the network after ``stop`` is bounded by what is left of one
        ``StopDeadline``, so waits one after another (a delete in flight, then the last
        one) never add up beyond it.
        """
        self.stop()
        pollers.cancel()
        stopped_at = self._clock()
        deadline = StopDeadline.at_stop(stopped_at, self.options.wait_time_seconds)
        await self._workers.join()
        deadline = deadline.after_handlers(self._clock())
        self._handlers_done.set()  # housekeeping heartbeats until the last handler finished
        self._wake_housekeeper.set()
        await housekeeping.join(deadline.remaining(self._clock()))
        last = AsyncTasks()
        if deadline.remaining(self._clock()):  # nothing starts once housekeeping spent it all
            last.start(self._acks.flush, name=f"melange-last-acks-{self.queue_name}")
            last.start(self._release_unstarted, name=f"melange-releases-{self.queue_name}")
        await last.join(deadline.remaining(self._clock()))
        self._report_unsettled()
        stuck = await pollers.join(deadline.remaining(self._clock()))
        if stuck:
            logger.warning(
                "%d receive request(s) to %r did not return within %.1f s of stop; not "
                "waiting for them: messages they return later are released",
                stuck,
                self.queue_name,
                self._clock() - stopped_at,
            )
        RUNNING.unregister(self.activity)
        self.finished = True

    def _report_unsettled(self) -> None:
        """Log what the broker did not answer by the stop deadline: it will come back."""
        unacknowledged = self._acks.unacknowledged()
        if unacknowledged:
            logger.warning(
                "%d messages handled from %r were not acknowledged: the broker did not "
                "answer before the stop deadline; they will be delivered again: %s",
                len(unacknowledged),
                self.queue_name,
                ", ".join(unacknowledged),
                extra={"queue": self.queue_name, "broker_message_ids": unacknowledged},
            )
        with self._lock:
            unreleased = [m.broker_message_id for m in self._unstarted]
        if unreleased:
            logger.warning(
                "%d messages received from %r and not started were not released: the "
                "broker did not answer before the stop deadline; they will be delivered "
                "again after their visibility timeout: %s",
                len(unreleased),
                self.queue_name,
                ", ".join(unreleased),
                extra={"queue": self.queue_name, "broker_message_ids": unreleased},
            )

    # -- receiving -----------------------------------------------------------------------

    async def _poll(self) -> None:
        """Receive and dispatch until stopped; an error that cannot heal stops the runner."""
        try:
            await self._receive_loop()
        except Exception as exc:  # re-raised by run() once everything has stopped
            self._errors.append(exc)
            self.stop()

    async def _receive_loop(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            if not await self._wait_for_cache():
                return
            wanted = await self._reserve_room()
            if wanted == 0:
                continue
            began = self._clock()
            wait_time = self._wait_time()
            try:
                batch = await self._backend.receive(
                    self.queue_name,
                    max_messages=wanted,
                    wait_time_seconds=wait_time,
                    visibility_timeout=self.options.visibility_timeout,
                )
            except BackendError as exc:
                self._unhold(wanted)
                if not may_heal(exc):
                    raise
                failures += 1
                pause = OUTAGE_BACKOFF.delay(failures)
                logger.warning(
                    "receiving from %r failed (%s); retrying in %d s", self.queue_name, exc, pause
                )
                self.activity.backing_off(pause)
                await self._stopping.wait(pause)
                continue
            failures = 0
            seconds = self._clock() - began
            self.activity.received()
            with self._lock:
                self._holding.received(wanted, len(batch), seconds)
            tracing.record_receive(self.queue_name, batch, seconds)
            await self._dispatch(batch)
            if not batch and wait_time == 0:  # a short poll found nothing: do not spin
                await self._stopping.wait(EMPTY_SHORT_POLL_PAUSE)

    def _wait_time(self) -> int:
        # Until the broker answered (at start, after a failure) a short poll: readiness
        # (melange.telemetry.health) then shows at once instead of after a whole long poll.
        return self.options.wait_time_seconds if self.activity.answered else 0

    async def _reserve_room(self) -> int:
        """Return how many messages to receive, counted as held until they are settled.

        Reserving before the request keeps several pollers from all seeing the same room.
        0 while stopping, or while the deduplication cache is down.
        """
        while True:
            with self._lock:
                self._room.clear()
                if self._stopping.is_set() or not self._probe.available:
                    return 0
                wanted = self._holding.reserve()
            if wanted:
                return wanted
            self.activity.waiting(True)
            await self._room.wait(1.0)
            self.activity.waiting(False)

    def _unhold(self, count: int) -> None:
        if count:
            with self._lock:
                # Wake the pollers only when they may receive: a poller woken for less room
                # than a batch goes back to sleep, and each such wake costs a hand-off.
                if self._holding.settled(count):
                    self._room.set()

    async def _wait_for_cache(self) -> bool:
        """Wait, probing with backoff, until the cache answers; ``False``: stopping first.

        Only while the cache is down (``on_cache_unavailable="redeliver"``): receiving a
        message only to release it would spend one of its receives each time.
        """
        while not self._probe.available:
            if self._stopping.is_set():
                return False
            if self._probe.due():
                await self._ping_cache()
            else:
                await self._stopping.wait(self._probe.pause())
        return True

    async def _ping_cache(self) -> bool:
        """Ask the cache whether it answers; record and return the answer."""
        if self._cache is None:
            return True
        try:
            await self._cache.ping()
        except DeduplicationUnavailableError as exc:
            self._probe.unanswered(exc)
            return False
        self._probe.answered()
        return True

    # -- handling ------------------------------------------------------------------------

    async def _dispatch(self, batch: list[ReceivedMessage]) -> None:
        """Deal a batch to the workers; release what none of them will start."""
        self._queue_stats.count("received", len(batch))
        if self._stopping.is_set():
            await self._handling.release(batch)
            self._unhold(len(batch))
            return
        await self._handling.acknowledge_on_receipt(batch)
        dealt = shares(units_of_work(self.queue_name, batch), self.options.workers)
        for index, share in enumerate(dealt):
            if not self._workers.submit(self._work, share):  # stopping: workers take no more
                unstarted = [m for rest in dealt[index:] for unit in rest for m in unit]
                await self._handling.release(unstarted)
                self._unhold(len(unstarted))
                return

    async def _work(self, share: list[list[ReceivedMessage]]) -> None:
        """Handle and settle a share of a batch, unit by unit (a FIFO group is one unit)."""
        try:
            for unit in share:
                try:
                    for index, received in enumerate(unit):
                        if self._stopping.is_set():
                            self._put_aside(unit[index:])
                            break
                        flight = self._started(received)
                        outcome = None
                        try:
                            outcome = await self._handling.handle(flight)
                        except BackendRefusedError as exc:  # S3 refused for good: stop
                            self._refused(exc, unit[index:])
                            break
                        finally:
                            self._finished(flight, outcome)
                        await self._handling.settle(received, outcome)
                        left = left_after(unit, index, acknowledged=outcome.action is Action.ACK)
                        if left:  # FIFO: later messages of the group must not overtake it
                            await self._handling.release(left)
                            break
                except Exception:  # a bug of ours must not kill the worker or lose the count
                    logger.exception("unexpected error handling messages of %r", self.queue_name)
        finally:
            # Room is given back once per share: a share larger than one unit only goes to
            # a worker when there are more units than workers, and then more is received.
            self._unhold(sum(len(unit) for unit in share))

    def _refused(self, exc: BackendRefusedError, unsettled: list[ReceivedMessage]) -> None:
        """Stop on a refusal that cannot heal (a large payload's bucket is gone or denied).

        As for the broker's: every message stays for redelivery, and ``run`` raises the
        error once everything has stopped.
        """
        logger.error("reading a message of %r was refused (%s); stopping", self.queue_name, exc)
        self._errors.append(exc)
        self._put_aside(unsettled)
        self.stop()

    def _put_aside(self, unstarted: list[ReceivedMessage]) -> None:
        """Leave messages no worker will start to housekeeping, which releases them.

        A worker stopping does not wait on the network: a release the broker does not
        answer then holds up neither the other units of its share nor the stop.
        """
        with self._lock:
            self._unstarted.extend(unstarted)
        self._wake_housekeeper.set()

    def _started(self, received: ReceivedMessage) -> InFlight:
        now = self._clock()
        flight = InFlight(received, now, now)
        self.in_flight[received.receipt_handle] = flight
        return flight

    def _finished(self, flight: InFlight, outcome: Outcome | None) -> None:
        received = flight.received
        del self.in_flight[received.receipt_handle]
        seconds = self._clock() - flight.started_at
        self._holding.handled(seconds)
        self._queue_stats.handled(received, outcome, seconds)

    # -- housekeeping --------------------------------------------------------------------

    async def _housekeep(self) -> None:
        """Send acknowledgements and releases, extend leases, until the last handler finished."""
        interval = self.options.ack_flush_interval
        while not self._handlers_done.is_set():
            # Woken at once when a batch of acknowledgements fills, else every tick.
            await self._wake_housekeeper.wait(min(0.1, interval / 2))
            self._wake_housekeeper.clear()
            await self._acks.flush(interval)
            await self._release_unstarted()
            if self.options.heartbeat:
                await self.extend_due()

    async def _release_unstarted(self) -> None:
        """Release the messages workers put aside when the runner stopped."""
        with self._lock:
            unstarted = list(self._unstarted)
        if not unstarted:
            return
        await self._handling.release(unstarted)  # logs the messages it could not release
        released = {id(m) for m in unstarted}
        with self._lock:
            self._unstarted = [m for m in self._unstarted if id(m) not in released]

    async def extend_due(self) -> None:
        """The heartbeat: extend what was extended half a visibility timeout ago or more.

        Keeps the messages whose handler still runs invisible, and their deduplication
        leases held; a broker or cache that does not answer is logged and tried again at
        the next beat.
        """
        now = self._clock()
        lease = self.options.visibility_timeout
        flights = {f.received.receipt_handle: f for f in list(self.in_flight.values())}
        started = ((handle, f.extended_at) for handle, f in flights.items())
        handles = sorted(due_for_extension(started, now=now, visibility_timeout=lease))
        if not handles:
            return
        try:
            await self._backend.change_visibility(self.queue_name, handles, lease)
        except BackendError as exc:
            logger.warning("heartbeat could not extend %d messages (%s)", len(handles), exc)
            return
        for handle in handles:
            flight = flights[handle]
            flight.extended_at = now
            for key, token in list(flight.claims.items()):
                if self._cache is None:
                    break
                try:
                    await self._cache.extend(key, token, lease_seconds=lease)
                except BackendError as exc:
                    logger.warning("heartbeat could not extend the lease on %s (%s)", key, exc)

    # -- without concurrency -------------------------------------------------------------

    async def process_batch(
        self, batch: Sequence[ReceivedMessage], *, in_order: bool = False
    ) -> list[Settled]:
        """Handle and settle a batch received by someone else; say what became of each.

        For AWS Lambda's SQS event source mapping (``melange.aws_lambda``), which received
        the batch and deletes every message the function does not report: an
        acknowledgement is only recorded (``AsyncEventSourceTransport``), while a retry's
        backoff and a dead-letter copy go to the backend exactly as in ``run``. The
        messages to report are those ``Settled.delivered_again``. ``in_order`` (a FIFO
        queue): after a message that was not acknowledged, the later ones are not handled
        (``action`` ``None``), as ``run`` releases the rest of its group (``left_after``).

        Never raises for a message, so what was settled stays settled: a refusal that
        cannot heal (a large payload's bucket is gone or denied) leaves that message and
        every later one unhandled, as ``run`` stops on it; an error of melange's leaves its
        message unsettled, logged. The S3 objects of acknowledged large messages (where
        ``run`` would delete them) are deleted once the whole batch is settled, not as each
        message is: the mapping deletes the messages only after the function returns, and
        a message that comes back (the function timed out) needs its object.
        """
        handling = self._batch_handling("batches")
        self._queue_stats.count("received", len(batch))
        await handling.acknowledge_on_receipt(batch)
        # On receipt every message was acknowledged already: none is held back.
        in_order = in_order and self.options.ack_policy is not AckPolicy.ON_RECEIPT
        records = list(batch)
        settled: list[Settled] = []
        acknowledged_payloads: list[PayloadPointer] = []
        for index, received in enumerate(records):
            try:
                outcome = await self._handle_one(handling, received)
            except BackendRefusedError as exc:
                logger.error(
                    "reading message %s of %r was refused (%s); it and the %d after it are "
                    "left for redelivery",
                    received.broker_message_id,
                    self.queue_name,
                    exc,
                    len(batch) - index - 1,
                    extra=log_fields(received, None),
                )
                settled.extend(Settled(m, None, reason_of(exc)) for m in records[index:])
                break
            except Exception as exc:  # a bug of ours: the message comes back, the rest go on
                logger.exception(
                    "unexpected error handling message %s of %r",
                    received.broker_message_id,
                    self.queue_name,
                    extra=log_fields(received, None),
                )
                settled.append(Settled(received, None, reason_of(exc)))
                acknowledged = False
            else:
                payload = outcome.payload
                action = await handling.settle(received, attrs.evolve(outcome, payload=None))
                settled.append(Settled(received, action, outcome.reason))
                acknowledged = outcome.action is Action.ACK
                if action is Action.ACK and payload is not None:
                    acknowledged_payloads.append(payload)
            left = left_after(records, index, acknowledged=acknowledged) if in_order else []
            if left:
                before = received.broker_message_id
                reason = f"message {before}, before it in the FIFO batch, was not acknowledged"
                settled.extend(Settled(m, None, reason) for m in left)
                break
        if acknowledged_payloads and self._payloads is not None:
            await delete_payloads(self._payloads, acknowledged_payloads)
        return settled

    async def process_notifications(self, batch: Sequence[ReceivedMessage]) -> list[Settled]:
        """Handle notifications no queue holds (SNS straight to AWS Lambda); settle nothing.

        No request goes to the broker: there is no queue to acknowledge, retry on or
        dead-letter from. A handled message is ``ACK``; any other outcome (a failure, an
        unreadable or unhandled message, one another invocation is handling) leaves
        ``action`` ``None`` with the outcome's reason: the caller raises, so that Lambda
        retries the invocation and then gives the event to the function's on-failure
        destination. Under ``AckPolicy.ON_RECEIPT`` every message is ``ACK``: it is never
        delivered again, and a failure is logged.
        """
        handling = self._batch_handling("notifications")
        self._queue_stats.count("received", len(batch))
        on_receipt = self.options.ack_policy is AckPolicy.ON_RECEIPT
        settled: list[Settled] = []
        for received in batch:
            try:
                outcome = await self._handle_one(handling, received)
            except Exception as exc:  # S3 refused, or a bug of ours: Lambda retries it
                logger.exception(
                    "handling notification %s failed",
                    received.broker_message_id,
                    extra=log_fields(received, None),
                )
                settled.append(Settled(received, None, reason_of(exc)))
                continue
            if outcome.action is Action.ACK or on_receipt:
                if on_receipt and outcome.action is not Action.ACK:
                    logger.error(
                        "notification %s failed and is not retried (AckPolicy.ON_RECEIPT): %s",
                        received.broker_message_id,
                        outcome.reason,
                        extra=log_fields(received, outcome.message_id),
                    )
                settled.append(Settled(received, Action.ACK, outcome.reason))
            else:
                settled.append(Settled(received, None, outcome.reason))
        return settled

    def _batch_handling(
        self, kind: Literal["available", "batches", "notifications"]
    ) -> AsyncMessageHandling:
        """Return the handling this runner's one-at-a-time calls of ``kind`` share.

        Built at the first call and kept, as ``run`` keeps its handling: the queue's
        redrive policy is asked once, at the first failure, not once per batch.
        ``available`` settles through the backend itself (``process_available``),
        ``batches`` through an ``AsyncEventSourceTransport`` (AWS Lambda's SQS batches),
        ``notifications`` through an ``AsyncNotificationTransport`` (SNS straight to
        Lambda: no queue, no redrive policy).
        """
        found = self._batch_handlings.get(kind)
        if found is None:
            backend: AsyncMessagingTransport = self._backend
            if kind == "batches":
                backend = AsyncEventSourceTransport(self._backend)
            elif kind == "notifications":
                backend = AsyncNotificationTransport(self._backend)
            found = AsyncMessageHandling(
                backend,
                self.queue_name,
                self._setup,
                self._handlers,
                self._queue_stats,
                cache=self._cache,
                probe=self._probe,
                payloads=self._payloads,
            )
            self._batch_handlings[kind] = found
        return found

    async def _handle_one(
        self, handling: AsyncMessageHandling, received: ReceivedMessage
    ) -> Outcome:
        """Handle one message outside the workers, counted and timed as they count it."""
        flight = self._started(received)
        outcome = None
        try:
            outcome = await handling.handle(flight)
        finally:
            self._finished(flight, outcome)
        return outcome

    async def process_available(self, *, limit: int | None = None) -> int:
        """Handle every message visible now, one at a time, and return how many.

        The same reading, deduplication, retries and dead-lettering as ``run``, without
        concurrency, long polling or batched acknowledgements.
        """
        handling = self._batch_handling("available")
        handled = 0
        # While the cache is unreachable, released messages are visible again at once:
        # receiving them again would only spend their receives.
        while (limit is None or handled < limit) and (
            self._probe.available or await self._ping_cache()
        ):
            most = self.options.max_messages
            wanted = most if limit is None else min(most, limit - handled)
            began = self._clock()
            batch = await self._backend.receive(
                self.queue_name,
                max_messages=wanted,
                visibility_timeout=self.options.visibility_timeout,
            )
            if not batch:
                break
            tracing.record_receive(self.queue_name, batch, self._clock() - began)
            self._queue_stats.count("received", len(batch))
            await handling.acknowledge_on_receipt(batch)
            for received in batch:
                await handling.settle(received, await self._handle_one(handling, received))
            handled += len(batch)
        return handled
