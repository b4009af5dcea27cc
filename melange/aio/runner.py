"""One queue consumed on an event loop: receive, hand each unit of work to a task, settle it.

The asyncio twin of ``melange.runner.QueueRunner``, with tasks where that one has threads:
pollers keep receives in flight, each unit of work runs in a task (at most ``workers`` at
once, the dispatcher's ``concurrency``), a housekeeping task sends acknowledgements in
batches and extends the visibility of long handlers. Every decision is shared with the
threaded runner: how much to receive (``Holding``), how batches split (``units_of_work``,
``shares``, ``left_after``), how a message is handled (``MessageHandling.steps``) and
settled (``Settling``), when acknowledgements go out (``AckBatcher``) and what to extend
(``Heartbeat``). Here they are only awaited.

Handlers written ``async def`` are awaited on the loop; plain functions run in the
dispatcher's thread pool, so a blocking handler never stalls the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
import logging
import time
from concurrent.futures import Executor
from typing import Any

from melange import tracing
from melange.aio.housekeeping import AsyncHousekeeping, OffLoop
from melange.aio.protocol import AsyncMessagingTransport
from melange.consumers import deliver
from melange.decisions import Holding, left_after, shares, units_of_work
from melange.dedup import DeduplicationCache
from melange.effects import (
    Acknowledge,
    ChangeVisibility,
    Claim,
    Deliver,
    Effect,
    ForgetClaim,
    LookUpRedrivePolicy,
    SendToDeadLetters,
    run_async,
)
from melange.exceptions import BackendError, DeduplicationUnavailableError
from melange.handling import Action, InFlight, MessageHandling, Outcome
from melange.health import RUNNING, QueueActivity
from melange.housekeeping import AckBatcher, Heartbeat
from melange.messages import ReceivedMessage
from melange.options import AckPolicy, DispatcherOptions
from melange.runner import receive_failed
from melange.settling import DispatcherStats, Settling

__all__ = ["AsyncQueueRunner"]

logger = logging.getLogger(__name__)


class AsyncQueueRunner:
    """Consumes one queue on the running event loop until stopped or cancelled.

    Args:
        backend: the asyncio backend.
        queue_name: the queue consumed.
        handling: reads, deduplicates and consumes each message (shared by runners).
        options: the dispatcher's options; ``workers`` is the concurrency.
        stats: the counters to update.
        executor: where plain (not ``async def``) handlers and blocking cache calls run.
    """

    def __init__(
        self,
        backend: AsyncMessagingTransport,
        queue_name: str,
        handling: MessageHandling,
        options: DispatcherOptions,
        stats: DispatcherStats,
        executor: Executor,
    ) -> None:
        self.queue_name = queue_name
        self.options = options
        self.stats = stats
        self._backend = backend
        self._handling = handling
        self._executor = executor
        self._queue_stats = queue_stats = stats.for_queue(queue_name)
        self._settling = Settling(queue_name, queue_stats, options)
        self._heartbeat = Heartbeat(None, handling.cache, options.visibility_timeout)
        self._off_loop = OffLoop(executor)
        self._upkeep = AsyncHousekeeping(
            backend,
            queue_name,
            options,
            AckBatcher(None, on_acknowledged=lambda n: queue_stats.count("acknowledged", n)),
            self._heartbeat,
            handling.cache,
            self._off_loop,
        )
        self.activity = QueueActivity(
            queue_name, options.wait_time_seconds, lambda: len(self._heartbeat.in_flight)
        )
        self._holding = Holding(options.workers, options.max_messages, options.visibility_timeout)
        self._slots = asyncio.Semaphore(options.workers)
        self._room = asyncio.Event()  # set when a receive may start
        self._stopping = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._work: set[asyncio.Task[None]] = set()
        self._errors: list[BaseException] = []

    def stop(self) -> None:
        """Ask the runner to stop: no more receives, running handlers finish. Thread-safe."""
        loop = self._loop
        if loop is None or loop.is_closed():
            self._stopping.set()
        else:
            loop.call_soon_threadsafe(self._stop_now)

    def _stop_now(self) -> None:
        self._stopping.set()
        self._room.set()  # wake pollers waiting for room

    async def run(self) -> None:
        """Consume until ``stop`` or cancellation; then finish running handlers and return.

        Receives in flight are cancelled (what they would have returned comes back after
        its visibility timeout); running handlers finish and are acknowledged. Cancelled,
        it shuts down the same way, then raises ``CancelledError``.

        Raises:
            QueueNotFoundError: the queue does not exist when consuming starts.
            BackendRefusedError: the broker refused to deliver and will refuse again.
        """
        self._loop = asyncio.get_running_loop()
        logger.info(
            "consuming %r with concurrency %d on the event loop",
            self.queue_name,
            self.options.workers,
        )
        finished = asyncio.Event()
        RUNNING.register(self.activity)
        housekeeper = asyncio.create_task(self._upkeep.run(finished))
        pollers = [asyncio.create_task(self._poll()) for _ in range(self.options.poller_count)]
        cancelled = False
        try:
            await self._stopping.wait()
        except asyncio.CancelledError:
            cancelled = True
            self._stop_now()
        finally:
            for poller in pollers:
                poller.cancel()
            await asyncio.gather(*pollers, return_exceptions=True)
            await asyncio.gather(*self._work, return_exceptions=True)
            finished.set()
            self._upkeep.wake.set()
            await housekeeper
            await self._upkeep.flush()
            RUNNING.unregister(self.activity)
        logger.info("stopped consuming %r: %s", self.queue_name, self.stats)
        if cancelled:
            raise asyncio.CancelledError
        if self._errors:
            raise self._errors[0]

    # -- receiving -----------------------------------------------------------------------

    async def _poll(self) -> None:
        try:
            await self._receive_loop()
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # re-raised by run() once everything has stopped
            self._errors.append(exc)
            self._stop_now()

    async def _receive_loop(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            wanted = await self._reserve_room()
            if wanted == 0:
                continue
            began = time.monotonic()
            try:
                batch = await self._backend.receive(
                    self.queue_name,
                    max_messages=wanted,
                    wait_time_seconds=self._wait_time(),
                    visibility_timeout=self.options.visibility_timeout,
                )
            except BackendError as exc:
                self._holding.settled(wanted)
                failures += 1
                pause = receive_failed(self.queue_name, exc, failures)
                self.activity.backing_off(pause)
                await self._pause(pause)
                continue
            failures = 0
            self.activity.received()
            self._holding.received(wanted, len(batch), time.monotonic() - began)
            tracing.record_receive(self.queue_name, batch, time.monotonic() - began)
            await self._dispatch(batch)

    def _wait_time(self) -> int:
        # Until the broker answered (at start, after a failure) a short poll: readiness
        # (melange.health) then shows at once instead of after a whole long poll.
        return self.options.wait_time_seconds if self.activity.answered else 0

    async def _reserve_room(self) -> int:
        """Return how many messages to receive, counted as held until they are settled."""
        while self._holding.allowance() == 0 and not self._stopping.is_set():
            self._room.clear()
            self.activity.waiting(True)
            await self._room.wait()
            self.activity.waiting(False)
        if not self._handling.cache_probe.available and not self._stopping.is_set():
            await self._probe_cache()  # down (on_cache_unavailable="redeliver"): wait for it
            return 0
        return 0 if self._stopping.is_set() else self._holding.reserve()

    async def _cache_answers(self) -> bool:
        """Probe a cache that is down at once; return whether it answers."""
        if self._handling.cache_probe.due(now=True):
            await self._ping_cache()
        return self._handling.cache_probe.available

    async def _probe_cache(self) -> None:
        if not self._handling.cache_probe.due():
            await self._pause(0.05)
            return
        await self._ping_cache()

    async def _ping_cache(self) -> None:
        probe, cache = self._handling.cache_probe, self._handling.cache
        if cache is None:
            return
        try:
            await self._off_loop.call(cache.ping)
        except DeduplicationUnavailableError as exc:
            probe.unanswered(exc)
        else:
            probe.answered()

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    def _unhold(self, count: int) -> None:
        if count and self._holding.settled(count):
            self._room.set()

    # -- handling ------------------------------------------------------------------------

    async def _dispatch(self, batch: list[ReceivedMessage]) -> None:
        self._queue_stats.count("received", len(batch))
        if self._stopping.is_set():
            await self._drive(self._settling.release(batch))
            self._unhold(len(batch))
            return
        await self._acknowledge_on_receipt(batch)
        for share in shares(units_of_work(self.queue_name, batch), self.options.workers):
            task = asyncio.create_task(self._work_share(share))
            self._work.add(task)
            task.add_done_callback(self._work.discard)

    async def _acknowledge_on_receipt(self, batch: list[ReceivedMessage]) -> None:
        if self.options.ack_policy is AckPolicy.ON_RECEIPT:
            for received in batch:
                self._upkeep.acks.push(received.receipt_handle)
            await self._upkeep.flush()

    async def _work_share(self, share: list[list[ReceivedMessage]]) -> None:
        try:
            for unit in share:
                async with self._slots:  # at most ``workers`` units handled at once
                    try:
                        await self._work_unit(unit)
                    except Exception:  # a bug of ours must not lose the count
                        logger.exception(
                            "unexpected error handling messages of %r", self.queue_name
                        )
        finally:
            self._unhold(sum(len(unit) for unit in share))

    async def _work_unit(self, unit: list[ReceivedMessage]) -> None:
        for index, received in enumerate(unit):
            if self._stopping.is_set():
                await self._drive(self._settling.release(unit[index:]))
                return
            outcome = await self._handle(received)
            await self._drive(self._settling.settle(received, outcome))
            left = left_after(unit, index, acknowledged=outcome.action is Action.ACK)
            if left:
                await self._drive(self._settling.release(left))
                return

    async def _handle(self, received: ReceivedMessage) -> Outcome:
        flight = InFlight(received)
        self._heartbeat.in_flight[received.receipt_handle] = flight
        outcome = None
        try:
            outcome = await run_async(self._handling.steps(flight), self._perform)
            return outcome
        finally:
            del self._heartbeat.in_flight[received.receipt_handle]
            seconds = time.monotonic() - flight.started_at
            self._holding.handled(seconds)
            self._queue_stats.handled(received, outcome, seconds)

    async def _drive(self, steps: Any) -> None:
        await run_async(steps, self._perform)

    async def _perform(self, effect: Effect) -> object:
        """Carry out an effect of the shared handling and settling, awaited."""
        if isinstance(effect, Deliver):
            if effect.consumer.handles_asynchronously(effect.message):
                return await _awaited(deliver(effect.consumer, effect.message, effect.context))
            # In the task's context copy: the handler then sees the message's process span.
            run = contextvars.copy_context().run
            return await self._off_loop.run(
                run, deliver, effect.consumer, effect.message, effect.context
            )
        if isinstance(effect, Claim | ForgetClaim):
            return await self._cache_call(effect)
        if isinstance(effect, Acknowledge):
            await self._upkeep.acknowledge(effect.received)
            return None  # batched: counted when the batch goes out
        if isinstance(effect, ChangeVisibility):
            return await self._backend.change_visibility(
                self.queue_name, list(effect.receipt_handles), effect.seconds
            )
        if isinstance(effect, LookUpRedrivePolicy):
            return await self._backend.redrive_policy(self.queue_name)
        if isinstance(effect, SendToDeadLetters):
            return await self._backend.send_raw(
                effect.queue_name,
                effect.body,
                effect.attributes,
                message_group_id=effect.message_group_id,
                deduplication_id=effect.deduplication_id,
            )
        raise TypeError(f"AsyncQueueRunner cannot perform {effect!r}")

    async def _cache_call(self, effect: Claim | ForgetClaim) -> object:
        cache = self._handling.cache
        if cache is None:
            raise TypeError(f"no deduplication cache to perform {effect!r}")
        method, args, kwargs = cache_method(cache, effect)
        return await self._off_loop.call(method, *args, **kwargs)

    # -- without tasks -------------------------------------------------------------------

    async def process_available(self, *, limit: int | None = None) -> int:
        """Handle every message visible now, one at a time, and return how many."""
        handled = 0
        # While the cache is unreachable, released messages are visible again at once:
        # receiving them again would only spend their receives.
        while (limit is None or handled < limit) and await self._cache_answers():
            most = self.options.max_messages
            wanted = most if limit is None else min(most, limit - handled)
            batch = await self._backend.receive(
                self.queue_name,
                max_messages=wanted,
                visibility_timeout=self.options.visibility_timeout,
            )
            if not batch:
                break
            self._queue_stats.count("received", len(batch))
            await self._acknowledge_on_receipt(batch)
            for received in batch:
                outcome = await self._handle(received)
                await self._drive(self._settling.settle(received, outcome))
            await self._upkeep.flush()
            handled += len(batch)
        return handled


def cache_method(
    cache: DeduplicationCache, effect: Claim | ForgetClaim
) -> tuple[Any, tuple[Any, ...], dict[str, Any]]:
    """Return the cache method, arguments and keywords an effect asks for."""
    if isinstance(effect, Claim):
        return cache.claim, (effect.key,), {"lease_seconds": effect.lease_seconds}
    method = cache.mark_done if effect.done else cache.release
    return method, (effect.key, effect.token), {}


async def _awaited(result: object) -> object:
    if inspect.isawaitable(result):
        return await result
    return result
