"""One queue's messages, top-down: read, deduplicate, consume, then settle the outcome.

``AsyncMessageHandling.handle`` reads a received message (``melange.wire`` and the
serializers), claims it in the deduplication cache, runs each consumer that accepts it
and returns an ``Outcome``; ``settle`` carries the outcome out against the broker:
acknowledge (in batches, ``AsyncAcks``), retry after a backoff, copy to the dead-letter
queue with the reason, release, or leave it for redelivery. The decisions are pure
functions of ``melange.consuming.outcomes`` and ``melange.consuming.decisions``.

Failures to settle are logged, never raised: the broker then delivers the message again,
which the consumers' idempotency (or the deduplication cache) absorbs. A message failing
on its last allowed receive is moved to the dead-letter queue here, with the exception as
its reason, rather than left for the broker's redrive policy to move without one.

Written once, for asyncio: ``scripts/unasync.py`` generates the threaded twin in the
``_sync`` package beside this one (``make unasync``). Edit this file.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

from melange import wire
from melange.backends.aio_protocol import AsyncMessagingTransport
from melange.consuming.aio_concurrency import AsyncEvent, AsyncHandlers
from melange.consuming.aio_dedup import AsyncDeduplicationCache
from melange.consuming.consumers import Consumer, MessageContext
from melange.consuming.dead_letters import dead_letter_copy
from melange.consuming.decisions import AckBatch, Pending, is_last_receive
from melange.consuming.dedup import CacheProbe, Claim, ClaimStatus
from melange.consuming.outcomes import (
    Action,
    DispatcherStats,
    HandlingSetup,
    InFlight,
    Outcome,
    deletable_payload,
    failure_outcome,
    is_permanent,
    log_fields,
    logged_id,
    message_context,
    reason_of,
    unhandled_outcome,
)
from melange.exceptions import (
    BackendError,
    BackendRefusedError,
    DeduplicationUnavailableError,
    MalformedMessageError,
    MessageRejectedError,
    PayloadNotFoundError,
)
from melange.messages import (
    AttributeValue,
    BatchResult,
    Destination,
    OutgoingMessage,
    ReceivedMessage,
    RedrivePolicy,
)
from melange.options import AckPolicy
from melange.payloads.store import AsyncPayloadStore
from melange.telemetry import tracing
from melange.wire.claim_check import ClaimCheck, PayloadPointer, claim_check, inlined

__all__ = [
    "AsyncAcks",
    "AsyncEventSourceTransport",
    "AsyncMessageHandling",
    "AsyncNotificationTransport",
    "delete_payloads",
]

logger = logging.getLogger("melange.consuming.handling")


class AsyncMessageHandling:
    """Reads, deduplicates, consumes and settles the messages of one queue.

    Args:
        backend: the messaging backend.
        queue_name: the queue the messages come from.
        setup: the registry, consumers, options and hooks (shared by the dispatcher's runners).
        handlers: how a consumer's handler is called.
        stats: the queue's counters.
        cache: the deduplication cache, if any.
        probe: whether the cache answers (shared by the dispatcher's runners).
        acks: the batch acknowledgements go into; ``None``: each is deleted at once.
        payloads: where large messages' payloads are (``melange.payloads``); a message
            carrying a pointer is read from there before it is handled.
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
        acks: AsyncAcks | None = None,
        payloads: AsyncPayloadStore | None = None,
    ) -> None:
        self.queue_name = queue_name
        self.stats = stats
        self._backend = backend
        self._setup = setup
        self._options = setup.options
        self._handlers = handlers
        self._cache = cache
        self.probe = probe or CacheProbe(None)
        self._acks = acks
        self._payloads = payloads
        self._policy: tuple[RedrivePolicy | None] | None = None

    # -- handling ------------------------------------------------------------------------

    async def handle(self, flight: InFlight) -> Outcome:
        """Read, deduplicate and consume one message; return what to do with it.

        Never raises for what a consumer raised: that is a RETRY outcome (or ACK under
        ``AckPolicy.ALWAYS``). Runs within the message's ``process`` span, when tracing.
        """
        received = flight.received
        try:
            check = claim_check(received)
        except Exception as exc:  # a malformed pointer: dead-lettered with the reason
            return _traced(received, Outcome(Action.DEAD_LETTER, reason=reason_of(exc)))
        if check is not None:
            fetched = await self._fetch(received, check)
            if isinstance(fetched, Outcome):
                return _traced(received, fetched)
            received = fetched
        try:
            envelope, origin = wire.unwrap_with_origin(received)
        except Exception as exc:  # RecursionError too: whatever cannot be read is dead-lettered
            return _traced(received, Outcome(Action.DEAD_LETTER, reason=reason_of(exc)))
        trace = tracing.start_processing(received, envelope)
        outcome: Outcome | None = None
        try:
            try:
                message = self._setup.read(envelope)
            except Exception as exc:  # RecursionError too: whatever cannot be read is dead-lettered
                reason = reason_of(exc)
                outcome = Outcome(Action.DEAD_LETTER, reason=reason, message_id=envelope.message_id)
                return outcome
            context = message_context(received, envelope, origin)
            try:
                accepting = [c for c in self._setup.consumers if c.accepts(message)]
            except Exception as exc:
                outcome = await self._last_chance(
                    received, self._failed(exc, None, message, context, received)
                )
                return outcome
            if not accepting:
                outcome = self._unhandled(message, context)
                return outcome
            for consumer in accepting:
                outcome = await self._consume(consumer, message, context, flight)
                if outcome is not None:
                    outcome = await self._last_chance(received, outcome)
                    return outcome
            if self._setup.after_consume is not None:
                _call_hook("after_consume", self._setup.after_consume, message, received)
            bucket = None if self._payloads is None else self._payloads.settings.bucket
            payload = deletable_payload(check, self._options, bucket)
            outcome = Outcome(Action.ACK, message_id=envelope.message_id, payload=payload)
            return outcome
        finally:
            if trace is not None:
                _end_trace(trace, outcome)

    async def _last_chance(self, received: ReceivedMessage, outcome: Outcome) -> Outcome:
        """Return a retry on the message's last allowed receive as the dead letter it becomes.

        ``settle`` would move it all the same; deciding it here lets the span and the
        metrics say ``dead_letter`` rather than ``retry`` for it.
        """
        if outcome.action is Action.RETRY and await self._on_last_receive(received, outcome):
            return attrs.evolve(outcome, action=Action.DEAD_LETTER)
        return outcome

    async def _fetch(
        self, received: ReceivedMessage, check: ClaimCheck
    ) -> ReceivedMessage | Outcome:
        """Return ``received`` with its payload read from S3, or what to do instead.

        A missing object, a pointer to a bucket the application does not read, or no
        payload store is a dead letter with the reason; a store that does not answer is a
        retry after the backoff. A refusal for good (no such bucket, access denied) is
        raised: the runner stops on it, as on a broker's.
        """
        pointer = check.pointer
        if self._payloads is None:
            reason = (
                f"the message's payload is stored at {pointer} but this dispatcher reads no "
                "large payloads; set MELANGE_LARGE_PAYLOAD_BUCKET (or give the dispatcher "
                "payloads=) and redrive it"
            )
            return Outcome(Action.DEAD_LETTER, reason=reason)
        settings = self._payloads.settings
        if not settings.reads(pointer):
            reason = (
                f"the message points to {pointer}, a bucket this application does not read "
                f"(it reads {settings.bucket!r}); if that producer is trusted, add the bucket "
                "to MELANGE_LARGE_PAYLOAD_READ_BUCKETS and redrive it"
            )
            return Outcome(Action.DEAD_LETTER, reason=reason)
        try:
            payload = await self._payloads.get(pointer)
        except (PayloadNotFoundError, MalformedMessageError) as exc:  # gone, or not text
            return Outcome(Action.DEAD_LETTER, reason=reason_of(exc))
        except BackendRefusedError:
            raise
        except BackendError as exc:
            delay = self._options.backoff.delay(received.receive_count)
            reason = f"could not read the payload at {pointer}: {reason_of(exc)}"
            return Outcome(Action.RETRY, delay=delay, reason=reason)
        return inlined(received, check, payload)

    async def _consume(
        self, consumer: Consumer, message: Any, context: MessageContext, flight: InFlight
    ) -> Outcome | None:
        """Run one consumer at most once per message id; ``None``: it succeeded (or had)."""
        key = None
        if self._cache is not None:
            key = f"{consumer.name}:{context.message_id}"
            claim = await self._claim(key, context)
            if isinstance(claim, Outcome):
                return claim
            if claim is not None and claim.status is ClaimStatus.DONE:
                logger.debug(
                    "%s already handled message %s; skipping",
                    consumer.name,
                    key,
                    extra=_context_fields(context),
                )
                return None
            if claim is not None and claim.status is ClaimStatus.BUSY:
                reason = f"{consumer.name} is handling it elsewhere"
                return Outcome(Action.LEAVE, reason=reason, message_id=context.message_id)
            if claim is not None:
                flight.claims[key] = claim.token
        try:
            await self._handlers.call(consumer, message, context)
        except Exception as exc:
            if key is not None:
                await self._forget(key, flight, context, done=False)
            return self._failed(exc, consumer, message, context, flight.received)
        if key is not None:
            await self._forget(key, flight, context, done=True)
        return None

    async def _claim(self, key: str, context: MessageContext) -> Claim | Outcome | None:
        """Claim ``key`` in the cache; an ``Outcome`` when the message must wait for it."""
        if self._cache is None:
            return None
        redeliver = self._options.on_cache_unavailable == "redeliver"
        if redeliver and not self.probe.available:  # do not wait for its timeout again
            reason = "the deduplication cache is unreachable"
            return Outcome(Action.RELEASE, reason=reason, message_id=context.message_id)
        try:
            return await self._cache.claim(key, lease_seconds=self._options.visibility_timeout)
        except DeduplicationUnavailableError as exc:
            if redeliver:
                self.probe.mark_unavailable(exc)
                return Outcome(Action.RELEASE, reason=str(exc), message_id=context.message_id)
            logger.warning(
                "%s; handling message %s without deduplication",
                exc,
                context.message_id,
                extra=_context_fields(context),
            )
            return None

    async def _forget(
        self, key: str, flight: InFlight, context: MessageContext, *, done: bool
    ) -> None:
        """End a claim: record the key as done, or release it for another try."""
        token = flight.claims.pop(key, None)
        if self._cache is None or token is None:
            return
        try:
            if done:
                await self._cache.mark_done(key, token)
            else:
                await self._cache.release(key, token)
        except DeduplicationUnavailableError as exc:
            logger.warning(
                "could not record %s in the deduplication cache: %s",
                key,
                exc,
                extra=_context_fields(context),
            )

    def _failed(
        self,
        exc: Exception,
        consumer: Consumer | None,
        message: Any,
        context: MessageContext,
        received: ReceivedMessage,
    ) -> Outcome:
        outcome = failure_outcome(exc, consumer, self._options, received.receive_count)
        if consumer is None or not is_permanent(exc, consumer):
            # A permanent failure is logged once, at ERROR, when it is dead-lettered.
            logger.warning(
                "handling message %s (receive %d) failed: %r",
                context.message_id,
                received.receive_count,
                exc,
                exc_info=exc,
                extra=_context_fields(context),
            )
        if self._setup.on_exception is not None:
            _call_hook("on_exception", self._setup.on_exception, exc, message, received)
        return Outcome(outcome.action, outcome.delay, outcome.reason, context.message_id)

    def _unhandled(self, message: Any, context: MessageContext) -> Outcome:
        outcome = unhandled_outcome(message, self._setup.consumers, self._options)
        if outcome.action is Action.ACK:
            logger.info(
                "%s; acknowledging message %s (ack_unhandled)",
                outcome.reason,
                context.message_id,
                extra=_context_fields(context),
            )
        return Outcome(outcome.action, outcome.delay, outcome.reason, context.message_id)

    # -- settling ------------------------------------------------------------------------

    async def settle(self, received: ReceivedMessage, outcome: Outcome) -> Action | None:
        """Acknowledge, retry, dead-letter, release or leave ``received`` as ``outcome`` says.

        Returns:
            What was carried out: ``outcome``'s action, ``DEAD_LETTER`` for a retry on the
            last allowed receive, ``RETRY`` for a dead letter the queue has no dead-letter
            queue for, ``ACK`` when it was acknowledged on receipt; ``None`` when the broker
            did not take it (logged; the message will be delivered again).
        """
        if self._options.ack_policy is AckPolicy.ON_RECEIPT:
            if outcome.action is not Action.ACK:
                logger.error(
                    "message %s was acknowledged on receipt (AckPolicy.ON_RECEIPT) and then "
                    "failed: %s",
                    logged_id(received, outcome.message_id),
                    outcome.reason,
                    extra=log_fields(received, outcome.message_id),
                )
            return Action.ACK
        action = outcome.action
        try:
            if action is Action.RETRY and await self._on_last_receive(received, outcome):
                action = Action.DEAD_LETTER
            if action is Action.ACK:
                await self._acknowledge(received, outcome.payload)
            elif action is Action.RETRY:
                self.stats.count("retried")
                await self._backend.change_visibility(
                    self.queue_name, [received.receipt_handle], outcome.delay
                )
            elif action is Action.DEAD_LETTER:
                if not await self._dead_letter(received, outcome):
                    action = Action.RETRY
            elif action is Action.RELEASE:
                await self.release([received])
            elif action is Action.LEAVE:
                self.stats.count("left")
        # A rejected dead-letter copy (too large: dead_letter_copy prevents it) is not sent
        # again now; the original stays, as after a broker error.
        except (BackendError, MessageRejectedError) as exc:
            logger.warning(
                "could not settle message %s (%s); it will be delivered again",
                logged_id(received, outcome.message_id),
                exc,
                extra=log_fields(received, outcome.message_id),
            )
            return None
        return action

    async def release(self, messages: Sequence[ReceivedMessage]) -> None:
        """Make received messages visible again at once (visibility 0)."""
        if not messages:
            return
        handles = [m.receipt_handle for m in messages]
        try:
            await self._backend.change_visibility(self.queue_name, handles, 0)
            self.stats.count("released", len(handles))
        except BackendError as exc:
            logger.warning("could not release %d messages (%s)", len(handles), exc)

    async def acknowledge_on_receipt(self, batch: Sequence[ReceivedMessage]) -> None:
        """Delete a batch as it arrives, before handling (``AckPolicy.ON_RECEIPT``)."""
        if self._options.ack_policy is not AckPolicy.ON_RECEIPT:
            return
        for received in batch:
            await self._acknowledge(received)
        if self._acks is not None:
            await self._acks.flush()

    async def _acknowledge(
        self, received: ReceivedMessage, payload: PayloadPointer | None = None
    ) -> None:
        if self._acks is not None:
            # Counted when the batch goes out; the id names it if it never does (stop).
            await self._acks.add(received.receipt_handle, received.broker_message_id, payload)
            return
        refused = await self._backend.acknowledge(self.queue_name, [received.receipt_handle])
        if not refused:
            self.stats.count("acknowledged")
            if payload is not None and self._payloads is not None:
                await delete_payloads(self._payloads, [payload])

    async def _redrive_policy(self) -> RedrivePolicy | None:
        if self._policy is None:  # asked when first needed: a broker down at start only delays it
            self._policy = (await self._backend.redrive_policy(self.queue_name),)
        return self._policy[0]

    async def _on_last_receive(self, received: ReceivedMessage, outcome: Outcome) -> bool:
        try:
            policy = await self._redrive_policy()
        except BackendError as exc:  # unknown: retry, and leave the last word to the broker
            logger.warning(
                "could not read the redrive policy of %r (%s)",
                self.queue_name,
                exc,
                extra=log_fields(received, outcome.message_id),
            )
            return False
        return is_last_receive(received.receive_count, policy)

    async def _dead_letter(self, received: ReceivedMessage, outcome: Outcome) -> bool:
        """Copy ``received`` to the dead-letter queue and acknowledge it; ``False``: no DLQ."""
        reason = outcome.reason
        fields = {**log_fields(received, outcome.message_id), "reason": reason}
        policy = await self._redrive_policy()
        if policy is None:
            logger.error(
                "message %s on %r is to be dead-lettered (%s) but the queue has no dead-letter "
                "queue; leaving it for redelivery: declare one with dead_letter_queue=...",
                logged_id(received, outcome.message_id),
                self.queue_name,
                reason,
                extra=fields,
            )
            delay = outcome.delay or self._options.backoff.delay(received.receive_count)
            await self._backend.change_visibility(self.queue_name, [received.receipt_handle], delay)
            return False
        logger.error(
            "message %s on %r (receive %d) is dead-lettered (%s); moving it to %r",
            logged_id(received, outcome.message_id),
            self.queue_name,
            received.receive_count,
            reason,
            policy.dead_letter_queue,
            extra={**fields, "dead_letter_queue": policy.dead_letter_queue},
        )
        copy = dead_letter_copy(received.body, received.attributes, reason)
        group = received.message_group_id
        await self._backend.send_raw(
            policy.dead_letter_queue,
            copy.body,
            copy.attributes,
            message_group_id=group,
            deduplication_id=received.broker_message_id if group else None,  # FIFO needs one
        )
        await self._acknowledge(received)
        self.stats.count("dead_lettered", reason=reason)
        return True


class AsyncAcks:
    """One queue's acknowledgements, deleted ten per request.

    A full batch wakes ``wake`` (the runner's housekeeping sends it, so handlers never wait
    on a delete), or is sent at once without one; when the sender fell behind
    (``Pending.BEHIND``) the adder sends, which slows handling to what the broker takes.
    Handles whose delete failed because the broker could not be reached are kept for the
    next flush; ``unacknowledged`` names those not deleted yet, for a runner that stops
    before the broker answers.

    Args:
        backend: the messaging backend.
        queue_name: the queue the handles belong to.
        stats: counts what each delete request took.
        wake: set when a batch fills; ``None``: send it at once.
        clock: the monotonic clock that ages batches.
        payloads: deletes the S3 objects of large messages once they are acknowledged.
    """

    def __init__(
        self,
        backend: AsyncMessagingTransport,
        queue_name: str,
        stats: DispatcherStats,
        *,
        wake: AsyncEvent | None = None,
        clock: Callable[[], float] = time.monotonic,
        payloads: AsyncPayloadStore | None = None,
    ) -> None:
        self._backend = backend
        self._queue_name = queue_name
        self._stats = stats
        self._wake = wake
        self._batch = AckBatch(clock=clock)
        self._payloads = payloads
        #: The S3 object to delete once the message of a receipt handle is deleted.
        self._stored: dict[str, PayloadPointer] = {}

    async def add(
        self,
        receipt_handle: str,
        broker_message_id: str | None = None,
        payload: PayloadPointer | None = None,
    ) -> None:
        """Queue a handle for deletion; a full batch wakes the sender, or goes at once.

        ``broker_message_id`` names the message in the log if it is never deleted;
        ``payload`` is deleted from S3 once the message is.
        """
        if payload is not None and self._payloads is not None:
            self._stored[receipt_handle] = payload
        pending = self._batch.push(receipt_handle, broker_message_id)
        if pending is Pending.BEHIND or (pending is Pending.FULL and self._wake is None):
            await self.flush()
        elif pending is Pending.FULL and self._wake is not None:
            self._wake.set()

    async def flush(self, max_age: float | None = None) -> None:
        """Send what is pending (with ``max_age``: only a full or old enough batch)."""
        handles = self._batch.take(max_age)
        if not handles:
            return
        try:
            refused = await self._backend.acknowledge(self._queue_name, handles)
        except BackendError as exc:
            logger.warning("acknowledging %d messages failed (%s); will retry", len(handles), exc)
            self._batch.put_back(handles)
            return
        self._batch.sent(handles)
        self._stats.count("acknowledged", len(handles) - len(refused))
        if self._stored:
            # Deleted once its message is: a refused delete leaves the message, which
            # needs its object when it is delivered again.
            kept = set(refused)
            done = [self._stored.pop(h) for h in handles if h in self._stored and h not in kept]
            for handle in kept:
                self._stored.pop(handle, None)
            if done and self._payloads is not None:
                await delete_payloads(self._payloads, done)
        if refused:
            # The visibility timeout ran out before the delete: SQS will deliver these again
            # and the deduplication cache (if any) will skip them.
            logger.warning(
                "%d acknowledgements were refused (expired receipt handles); those messages "
                "will be delivered again",
                len(refused),
            )

    def unacknowledged(self) -> list[str]:
        """Return the broker ids of the messages queued or sent for deletion and not deleted.

        A delete request cancelled, or still waiting for its answer, counts its messages.
        """
        return self._batch.unacknowledged()


class AsyncEventSourceTransport:
    """A backend whose deletes are left to a Lambda event source mapping.

    The mapping deletes every record of a batch the function does not report as failed,
    so ``acknowledge`` deletes nothing; everything else (changing visibility for a
    backoff, sending a dead-letter copy, reading the redrive policy) goes to the backend.
    The worker's settling then decides a Lambda batch too: what it would delete is not
    reported, everything else is (``AsyncMessageHandling.settle`` says which).

    Args:
        backend: the backend for every other call.
    """

    def __init__(self, backend: AsyncMessagingTransport) -> None:
        self.backend = backend

    async def acknowledge(self, queue_name: str, receipt_handles: Sequence[str]) -> list[str]:
        """Delete nothing: the event source mapping deletes what is not reported."""
        return []

    async def publish(
        self, destination: Destination, messages: Sequence[OutgoingMessage]
    ) -> BatchResult:
        """Publish through the backend."""
        return await self.backend.publish(destination, messages)

    async def receive(
        self,
        queue_name: str,
        *,
        max_messages: int = 10,
        wait_time_seconds: int = 0,
        visibility_timeout: int | None = None,
    ) -> list[ReceivedMessage]:
        """Receive through the backend (a batch from an event is not received)."""
        return await self.backend.receive(
            queue_name,
            max_messages=max_messages,
            wait_time_seconds=wait_time_seconds,
            visibility_timeout=visibility_timeout,
        )

    async def change_visibility(
        self, queue_name: str, receipt_handles: Sequence[str], timeout_seconds: int
    ) -> list[str]:
        """Change visibility through the backend (a retry's backoff)."""
        return await self.backend.change_visibility(queue_name, receipt_handles, timeout_seconds)

    async def send_raw(
        self,
        queue_name: str,
        body: str,
        attributes: Mapping[str, AttributeValue],
        *,
        message_group_id: str | None = None,
        deduplication_id: str | None = None,
    ) -> str:
        """Send through the backend (a dead-letter copy)."""
        return await self.backend.send_raw(
            queue_name,
            body,
            attributes,
            message_group_id=message_group_id,
            deduplication_id=deduplication_id,
        )

    async def redrive_policy(self, queue_name: str) -> RedrivePolicy | None:
        """Read the queue's redrive policy through the backend."""
        return await self.backend.redrive_policy(queue_name)

    async def close(self) -> None:
        """Close nothing: the backend is the caller's."""


class AsyncNotificationTransport(AsyncEventSourceTransport):
    """An ``AsyncEventSourceTransport`` for notifications SNS delivered straight to Lambda.

    No queue holds them, so there is no redrive policy to read: a failure is retried by
    Lambda and then given to the function's on-failure destination, never dead-lettered
    by melange, and handling one makes no request to SQS.
    """

    async def redrive_policy(self, queue_name: str) -> RedrivePolicy | None:
        """Return ``None``: no queue, no redrive policy."""
        return None


async def delete_payloads(payloads: AsyncPayloadStore, pointers: list[PayloadPointer]) -> None:
    """Delete the S3 objects of acknowledged messages; a failure leaves them to expire."""
    for pointer in pointers:
        try:
            await payloads.delete(pointer)
        except BackendError as exc:
            logger.warning(
                "could not delete %s, the payload of an acknowledged message (%s); the "
                "bucket's lifecycle rule will expire it",
                pointer,
                exc,
            )


def _call_hook(name: str, hook: Callable[..., object], *args: Any) -> None:
    """Call an application's hook; what it raises is logged and changes no outcome.

    A hook reports (to an error tracker, a metric): the message is settled as its
    handling decided whether the hook worked or not, never left without a decision.
    """
    received: ReceivedMessage = args[-1]
    try:
        hook(*args)
    except Exception:
        logger.exception(
            "the %s hook raised on message %s; the message is settled all the same",
            name,
            received.broker_message_id,
            extra=log_fields(received, None),
        )


def _traced(received: ReceivedMessage, outcome: Outcome) -> Outcome:
    """Record the span of a message that could not be read at all, if tracing."""
    trace = tracing.start_processing(received, None)
    if trace is not None:
        _end_trace(trace, outcome)
    return outcome


def _end_trace(trace: tracing.ProcessTrace, outcome: Outcome | None) -> None:
    if outcome is None:  # handling raised: a bug of ours, logged by the runner
        trace.end("error", "the handling raised", failed=True)
        return
    failed = outcome.action in (Action.RETRY, Action.DEAD_LETTER)
    trace.end(outcome.action.value, outcome.reason, failed=failed)


def _context_fields(context: MessageContext) -> dict[str, object]:
    """Return ``log_fields`` from what a handler is told about its message."""
    return {
        "queue": context.queue_name,
        "message_id": context.message_id,
        "broker_message_id": context.broker_message_id,
        "receive_count": context.receive_count,
    }
