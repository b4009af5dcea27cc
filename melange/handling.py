"""One received message, top-down: read it, deduplicate, consume, then settle its fate.

``MessageHandling.handle`` reads the message (``wire`` and the serializers), claims it in
the deduplication cache, runs each consumer that accepts it, and returns an ``Outcome``:
acknowledge, retry after a backoff, move to the dead-letter queue, release it at once, or
leave it for redelivery. ``Settler.settle`` carries the outcome out against the broker,
through ``BrokerQueue``, the one place the consume path calls the backend.

Failures to settle are logged, never raised: the broker then delivers the message again,
which the consumers' idempotency (or the deduplication cache) absorbs. A message failing on
its last allowed receive is moved to the dead-letter queue here, with the exception as its
reason, rather than left for the broker's redrive policy to move without one.
"""

from __future__ import annotations

import enum
import inspect
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from melange import wire
from melange.backends.protocol import MessagingBackend
from melange.consumers import Consumer, MessageContext, deliver
from melange.dead_letters import dead_letter_copy
from melange.decisions import is_last_receive
from melange.dedup import CacheProbe, ClaimStatus, DeduplicationCache
from melange.dedup import Claim as DedupClaim
from melange.effects import (
    Acknowledge,
    ChangeVisibility,
    Claim,
    Deliver,
    Effect,
    ForgetClaim,
    LookUpRedrivePolicy,
    SendToDeadLetters,
    Steps,
    run_sync,
)
from melange.exceptions import BackendError, ConfigurationError, DeduplicationUnavailableError
from melange.messages import Envelope, ReceivedMessage, RedrivePolicy, SnsOrigin
from melange.options import AckPolicy, DispatcherOptions
from melange.serializers.registry import SerializerRegistry

__all__ = [
    "Action",
    "BrokerQueue",
    "DispatcherStats",
    "InFlight",
    "MessageHandling",
    "Outcome",
    "Settler",
    "Settling",
    "message_context",
]

logger = logging.getLogger(__name__)

#: Called with the exception, the deserialized message and the received message.
ExceptionHook = Callable[[BaseException, Any, ReceivedMessage], object]
#: Called with the deserialized message and the received message after every success.
ConsumeHook = Callable[[Any, ReceivedMessage], object]


class Action(enum.Enum):
    """The fate of a handled message."""

    ACK = "ack"  # delete it: every accepting consumer succeeded (or ack_unhandled)
    RETRY = "retry"  # make it visible again after ``Outcome.delay`` seconds
    DEAD_LETTER = "dead_letter"  # unreadable or unhandled: copy to the DLQ with the reason
    RELEASE = "release"  # the cache is unreachable: visible again at once, receiving pauses
    LEAVE = "leave"  # another worker holds it: let the visibility timeout bring it back


@attrs.frozen
class Outcome:
    """An ``Action`` with its delay (for RETRY) and its reason (for logs and dead letters)."""

    action: Action
    delay: int = 0
    reason: str = ""


@attrs.define
class InFlight:
    """A message being handled: when it started, when its visibility was last extended.

    Also the deduplication leases it holds; the heartbeat renews both.
    """

    received: ReceivedMessage
    started_at: float = attrs.field(factory=time.monotonic)
    extended_at: float = attrs.field(factory=time.monotonic)
    claims: dict[str, str] = attrs.field(factory=dict)


def message_context(
    received: ReceivedMessage, envelope: Envelope, origin: SnsOrigin | None
) -> MessageContext:
    """Return what a handler is told about ``received`` beside its message."""
    return MessageContext(
        message_id=envelope.message_id,
        broker_message_id=received.broker_message_id,
        receive_count=received.receive_count,
        queue_name=received.queue_name,
        attributes=envelope.attributes,
        sent_at=received.sent_at,
        sns_subject=None if origin is None else origin.subject,
        sns_topic_arn=None if origin is None else origin.topic_arn,
    )


@attrs.define
class MessageHandling:
    """Turns a received message into an ``Outcome`` by running the consumers that accept it."""

    registry: SerializerRegistry
    consumers: Sequence[Consumer]
    options: DispatcherOptions = attrs.field(factory=DispatcherOptions)
    cache: DeduplicationCache | None = None
    on_exception: ExceptionHook | None = None
    after_consume: ConsumeHook | None = None
    cache_probe: CacheProbe = attrs.field(
        default=attrs.Factory(lambda self: CacheProbe(self.cache), takes_self=True)
    )

    def handle(self, flight: InFlight) -> Outcome:
        """Read, deduplicate and consume one message, blocking; never raises for a consumer."""
        return run_sync(self.steps(flight), self.perform)

    def perform(self, effect: Effect) -> object:
        """Carry out an effect of ``steps`` with blocking calls (the threaded dispatcher)."""
        if isinstance(effect, Deliver):
            result = deliver(effect.consumer, effect.message, effect.context)
            if inspect.isawaitable(result):
                _close(result)
                raise ConfigurationError(
                    f"consumer {effect.consumer.name!r} handles "
                    f"{type(effect.message).__qualname__} with an async def handler, which "
                    "the threaded MessageDispatcher cannot await; run it on "
                    "melange.aio.AsyncMessageDispatcher (`python -m melange worker` does)"
                )
            return result
        if self.cache is not None and isinstance(effect, Claim):
            return self.cache.claim(effect.key, lease_seconds=effect.lease_seconds)
        if self.cache is not None and isinstance(effect, ForgetClaim):
            if effect.done:
                self.cache.mark_done(effect.key, effect.token)
            else:
                self.cache.release(effect.key, effect.token)
            return None
        raise TypeError(f"MessageHandling cannot perform {effect!r}")

    def steps(self, flight: InFlight) -> Steps[Outcome]:
        """Read, deduplicate and consume one message, as effects (``melange.effects``)."""
        received = flight.received
        try:
            envelope, origin = wire.unwrap_with_origin(received)
            message = self.registry.deserialize_envelope(envelope)
        except Exception as exc:  # RecursionError too: whatever cannot be read is dead-lettered
            return Outcome(Action.DEAD_LETTER, reason=f"{type(exc).__name__}: {exc}")
        try:
            accepting = [c for c in self.consumers if c.accepts(message)]
        except Exception as exc:
            return self._failed(exc, message, received)
        if not accepting:
            return self._unhandled(message, envelope.message_id)
        context = message_context(received, envelope, origin)
        for consumer in accepting:
            outcome = yield from self._consume(consumer, message, context, flight)
            if outcome is not None:
                return outcome
        if self.after_consume is not None:
            self.after_consume(message, received)
        return Outcome(Action.ACK)

    def _unhandled(self, message: Any, message_id: str) -> Outcome:
        reason = f"no consumer accepts {type(message).__qualname__}: " + (
            "; ".join(_accepted_types(c) for c in self.consumers) or "no consumer is attached"
        )
        if self.options.ack_unhandled:
            logger.info("%s; acknowledging message %s (ack_unhandled)", reason, message_id)
            return Outcome(Action.ACK, reason=reason)
        return Outcome(Action.DEAD_LETTER, reason=reason)

    def _consume(
        self, consumer: Consumer, message: Any, context: MessageContext, flight: InFlight
    ) -> Steps[Outcome | None]:
        key = f"{consumer.name}:{context.message_id}"
        claim = yield from self._claim(key, flight.received)
        if isinstance(claim, Outcome):
            return claim
        if claim is not None and claim.status is ClaimStatus.DONE:
            logger.debug("%s already handled message %s; skipping", consumer.name, key)
            return None
        if claim is not None and claim.status is ClaimStatus.BUSY:
            return Outcome(Action.LEAVE, reason=f"{consumer.name} is handling it elsewhere")
        if claim is not None:
            flight.claims[key] = claim.token
        try:
            yield Deliver(consumer, message, context)
        except Exception as exc:
            yield from self._forget_claim(key, flight, done=False)
            return self._failed(exc, message, flight.received)
        yield from self._forget_claim(key, flight, done=True)
        return None

    def _claim(self, key: str, received: ReceivedMessage) -> Steps[DedupClaim | Outcome | None]:
        if self.cache is None:
            return None
        redeliver = self.options.on_cache_unavailable == "redeliver"
        if redeliver and not self.cache_probe.available:  # do not wait for its timeout again
            return Outcome(Action.RELEASE, reason="the deduplication cache is unreachable")
        try:
            claim: DedupClaim = yield Claim(key, self.options.visibility_timeout)
        except DeduplicationUnavailableError as exc:
            if redeliver:
                self.cache_probe.mark_unavailable(exc)
                return Outcome(Action.RELEASE, reason=str(exc))
            logger.warning(
                "%s; handling message %s without deduplication", exc, received.broker_message_id
            )
            return None
        return claim

    def _forget_claim(self, key: str, flight: InFlight, *, done: bool) -> Steps[None]:
        token = flight.claims.pop(key, None)
        if self.cache is None or token is None:
            return
        try:
            yield ForgetClaim(key, token, done)
        except DeduplicationUnavailableError as exc:
            logger.warning("could not record %s in the deduplication cache: %s", key, exc)

    def _failed(self, exc: Exception, message: Any, received: ReceivedMessage) -> Outcome:
        logger.warning(
            "handling message %s (receive %d) failed: %r",
            received.broker_message_id,
            received.receive_count,
            exc,
            exc_info=exc,
        )
        if self.on_exception is not None:
            self.on_exception(exc, message, received)
        if self.options.ack_policy is AckPolicy.ALWAYS:
            return Outcome(Action.ACK, reason=f"ack_policy ALWAYS after {type(exc).__name__}")
        return Outcome(
            Action.RETRY,
            delay=self.options.backoff.delay(received.receive_count),
            reason=f"{type(exc).__name__}: {exc}",
        )


def _close(awaitable: object) -> None:
    """Close an un-awaited coroutine, so Python does not warn that it never ran."""
    close = getattr(awaitable, "close", None)
    if callable(close):
        close()


def _accepted_types(consumer: Consumer) -> str:
    """Describe what a consumer accepts, for the reason a message nobody accepts is moved."""
    names = ", ".join(t.__qualname__ for t in consumer.handled_types)
    return f"{consumer.name} accepts {names or 'what its accepts() allows'}"


# -- settling --------------------------------------------------------------------------


@attrs.define
class DispatcherStats:
    """Counts of what the dispatcher did, for logs, tests and benchmarks."""

    received: int = 0
    acknowledged: int = 0
    retried: int = 0
    dead_lettered: int = 0
    released: int = 0
    left: int = 0
    _lock: threading.Lock = attrs.field(factory=threading.Lock, repr=False, eq=False)

    def count(self, name: str, amount: int = 1) -> None:
        """Add ``amount`` to the counter ``name``; safe from any thread."""
        with self._lock:
            setattr(self, name, getattr(self, name) + amount)


class BrokerQueue:
    """One queue as the consume path uses it: every call it makes to the backend is here.

    Args:
        backend: the messaging backend.
        queue_name: the queue consumed.
    """

    def __init__(self, backend: MessagingBackend, queue_name: str) -> None:
        self.backend = backend
        self.name = queue_name

    def receive(
        self, max_messages: int, *, wait_time_seconds: int = 0, visibility_timeout: int
    ) -> list[ReceivedMessage]:
        """Receive up to ``max_messages``, hidden for ``visibility_timeout`` seconds."""
        return self.backend.receive(
            self.name,
            max_messages=max_messages,
            wait_time_seconds=wait_time_seconds,
            visibility_timeout=visibility_timeout,
        )

    def acknowledge(self, receipt_handles: Sequence[str]) -> list[str]:
        """Delete received messages; return the handles the broker refused."""
        return self.backend.acknowledge(self.name, receipt_handles)

    def change_visibility(self, receipt_handles: Sequence[str], seconds: int) -> None:
        """Hide received messages for ``seconds`` from now (0: visible at once)."""
        self.backend.change_visibility(self.name, receipt_handles, seconds)

    def redrive_policy(self) -> RedrivePolicy | None:
        """Ask the broker for the queue's redrive policy (``Settling`` keeps the answer)."""
        return self.backend.redrive_policy(self.name)


#: Sends one acknowledgement (batched by the runner); ``None``: send each at once.
AcknowledgeOne = Callable[[ReceivedMessage], object]


class Settling:
    """Carrying out ``Outcome``s on one queue, as effects, counted in ``stats``.

    Shared by both halves: the threaded ``Settler`` below and the asyncio runner drive it.
    It remembers the queue's redrive policy once the broker gave it.

    Args:
        queue_name: the queue the messages came from.
        stats: the counters to update.
        options: the dispatcher's options (backoff, ack policy).
    """

    def __init__(self, queue_name: str, stats: DispatcherStats, options: DispatcherOptions) -> None:
        self.queue_name = queue_name
        self.stats = stats
        self.options = options
        self._policy: tuple[RedrivePolicy | None] | None = None

    def settle(self, received: ReceivedMessage, outcome: Outcome) -> Steps[None]:
        """Acknowledge, retry, dead-letter, release or leave ``received`` as ``outcome`` says."""
        if self.options.ack_policy is AckPolicy.ON_RECEIPT:
            if outcome.action is not Action.ACK:
                logger.error(
                    "message %s was acknowledged on receipt (AckPolicy.ON_RECEIPT) and then "
                    "failed: %s",
                    received.broker_message_id,
                    outcome.reason,
                )
            return
        try:
            yield from self._apply(received, outcome)
        except BackendError as exc:
            logger.warning(
                "could not settle message %s (%s); it will be delivered again",
                received.broker_message_id,
                exc,
            )

    def _apply(self, received: ReceivedMessage, outcome: Outcome) -> Steps[None]:
        action = outcome.action
        last = action is Action.RETRY and (yield from self._on_last_receive(received))
        if action is Action.DEAD_LETTER or last:
            yield from self._dead_letter(received, outcome.reason)
        elif action is Action.ACK:
            yield from self._acknowledge(received)
        elif action is Action.RETRY:
            self.stats.count("retried")
            yield ChangeVisibility((received.receipt_handle,), outcome.delay)
        elif action is Action.RELEASE:
            yield from self.release([received])
        elif action is Action.LEAVE:
            self.stats.count("left")

    def _acknowledge(self, received: ReceivedMessage) -> Steps[None]:
        deleted = yield Acknowledge(received)
        if deleted:  # None: batched, counted when the batch goes out
            self.stats.count("acknowledged")

    def _redrive_policy(self) -> Steps[RedrivePolicy | None]:
        if self._policy is None:  # asked when first needed: a broker down at start only delays it
            self._policy = ((yield LookUpRedrivePolicy()),)
        return self._policy[0]

    def _on_last_receive(self, received: ReceivedMessage) -> Steps[bool]:
        try:
            policy = yield from self._redrive_policy()
        except BackendError as exc:  # unknown: retry, and leave the last word to the broker
            logger.warning("could not read the redrive policy of %r (%s)", self.queue_name, exc)
            return False
        return is_last_receive(received.receive_count, policy)

    def _dead_letter(self, received: ReceivedMessage, reason: str) -> Steps[None]:
        policy = yield from self._redrive_policy()
        if policy is None:
            logger.error(
                "message %s on %r is to be dead-lettered (%s) but the queue has no dead-letter "
                "queue; leaving it for redelivery: declare one with dead_letter_queue=...",
                received.broker_message_id,
                self.queue_name,
                reason,
            )
            delay = self.options.backoff.delay(received.receive_count)
            yield ChangeVisibility((received.receipt_handle,), delay)
            return
        logger.error(
            "message %s on %r (receive %d) is dead-lettered (%s); moving it to %r",
            received.broker_message_id,
            self.queue_name,
            received.receive_count,
            reason,
            policy.dead_letter_queue,
        )
        copy = dead_letter_copy(received.body, received.attributes, reason)
        group = received.message_group_id
        yield SendToDeadLetters(
            policy.dead_letter_queue,
            copy.body,
            copy.attributes,
            message_group_id=group,
            deduplication_id=received.broker_message_id if group else None,  # FIFO needs one
        )
        yield from self._acknowledge(received)
        self.stats.count("dead_lettered")

    def release(self, messages: Sequence[ReceivedMessage]) -> Steps[None]:
        """Make received messages visible again at once (visibility 0)."""
        if not messages:
            return
        handles = tuple(m.receipt_handle for m in messages)
        try:
            yield ChangeVisibility(handles, 0)
            self.stats.count("released", len(handles))
        except BackendError as exc:
            logger.warning("could not release %d messages (%s)", len(handles), exc)


class Settler:
    """Carries out ``Outcome``s on one queue with blocking calls (the threaded dispatcher).

    Args:
        queue: the queue the messages came from.
        stats: the counters to update.
        options: the dispatcher's options (backoff, ack policy).
        acknowledge: sends one acknowledgement, batched; by default each is sent at once.
    """

    def __init__(
        self,
        queue: BrokerQueue,
        stats: DispatcherStats,
        options: DispatcherOptions,
        acknowledge: AcknowledgeOne | None = None,
    ) -> None:
        self.queue = queue
        self.stats = stats
        self.settling = Settling(queue.name, stats, options)
        self._acknowledge = acknowledge

    def settle(self, received: ReceivedMessage, outcome: Outcome) -> None:
        """Acknowledge, retry, dead-letter, release or leave ``received`` as ``outcome`` says."""
        run_sync(self.settling.settle(received, outcome), self._perform)

    def release(self, messages: Sequence[ReceivedMessage]) -> None:
        """Make received messages visible again at once (visibility 0)."""
        run_sync(self.settling.release(messages), self._perform)

    def _perform(self, effect: Effect) -> object:
        if isinstance(effect, Acknowledge):
            if self._acknowledge is not None:
                self._acknowledge(effect.received)
                return None
            return not self.queue.acknowledge([effect.received.receipt_handle])
        if isinstance(effect, ChangeVisibility):
            self.queue.change_visibility(list(effect.receipt_handles), effect.seconds)
            return None
        if isinstance(effect, LookUpRedrivePolicy):
            return self.queue.redrive_policy()
        if isinstance(effect, SendToDeadLetters):
            return self.queue.backend.send_raw(
                effect.queue_name,
                effect.body,
                effect.attributes,
                message_group_id=effect.message_group_id,
                deduplication_id=effect.deduplication_id,
            )
        raise TypeError(f"Settler cannot perform {effect!r}")
