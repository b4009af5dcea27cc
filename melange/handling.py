"""One received message, top-down: read it, deduplicate, consume, then settle its fate.

``MessageHandling.handle`` reads the message (``wire`` and the serializers), claims it in
the deduplication cache, runs each consumer that accepts it, and returns an ``Outcome``:
acknowledge, retry after a backoff, move to the dead-letter queue, release it at once, or
leave it for redelivery; ``melange.settling`` carries the outcome out against the broker.
Written once as effects (``steps``) for both dispatchers; ``handle`` drives them blocking.
"""

from __future__ import annotations

import enum
import inspect
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from melange import tracing, wire
from melange.consumers import Consumer, MessageContext, deliver
from melange.dedup import CacheProbe, ClaimStatus, DeduplicationCache
from melange.dedup import Claim as DedupClaim
from melange.effects import (
    Claim,
    Deliver,
    Effect,
    ForgetClaim,
    Steps,
    run_sync,
)
from melange.exceptions import ConfigurationError, DeduplicationUnavailableError
from melange.messages import Envelope, ReceivedMessage, SnsOrigin
from melange.options import AckPolicy, DispatcherOptions
from melange.serializers.registry import SerializerRegistry

__all__ = [
    "Action",
    "InFlight",
    "MessageHandling",
    "Outcome",
    "log_fields",
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
    """An ``Action`` with its delay (for RETRY) and its reason (for logs and dead letters).

    ``message_id`` is melange's id of the message, when it could be read: for the logs,
    not part of the decision (outcomes compare equal without it).
    """

    action: Action
    delay: int = 0
    reason: str = ""
    message_id: str | None = attrs.field(default=None, eq=False)


def log_fields(received: ReceivedMessage, message_id: str | None) -> dict[str, object]:
    """Return the ``extra`` fields of every log line about ``received``.

    ``queue``, ``message_id`` (melange's, ``None`` if the message could not be read),
    ``broker_message_id`` and ``receive_count`` become attributes of the log record, for
    structured log handlers (JSON formatters) to pick up.
    """
    return {
        "queue": received.queue_name,
        "message_id": message_id,
        "broker_message_id": received.broker_message_id,
        "receive_count": received.receive_count,
    }


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
    attributes = envelope.attributes
    if tracing.TRACEPARENT in attributes or tracing.TRACESTATE in attributes:
        attributes = {k: v for k, v in attributes.items() if k not in tracing.TRACE_ATTRIBUTES}
    return MessageContext(
        message_id=envelope.message_id,
        broker_message_id=received.broker_message_id,
        receive_count=received.receive_count,
        queue_name=received.queue_name,
        attributes=attributes,
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
        """Read, deduplicate and consume one message, as effects (``melange.effects``).

        All of it within the message's ``process`` span (``melange.tracing``), which is
        current while the handlers run, in either half.
        """
        received = flight.received
        try:
            envelope, origin = wire.unwrap_with_origin(received)
        except Exception as exc:  # RecursionError too: whatever cannot be read is dead-lettered
            with tracing.processing(received, None) as trace:
                trace.finished(Action.DEAD_LETTER.value, _reason(exc), failed=True)
            return Outcome(Action.DEAD_LETTER, reason=_reason(exc))
        with tracing.processing(received, envelope) as trace:
            outcome = yield from self._consume_envelope(flight, envelope, origin)
            failed = outcome.action in (Action.RETRY, Action.DEAD_LETTER)
            trace.finished(outcome.action.value, outcome.reason, failed=failed)
        return attrs.evolve(outcome, message_id=envelope.message_id)

    def _consume_envelope(
        self, flight: InFlight, envelope: Envelope, origin: SnsOrigin | None
    ) -> Steps[Outcome]:
        received = flight.received
        try:
            message = self.registry.deserialize_envelope(envelope)
        except Exception as exc:  # RecursionError too: whatever cannot be read is dead-lettered
            return Outcome(Action.DEAD_LETTER, reason=_reason(exc))
        context = message_context(received, envelope, origin)
        try:
            accepting = [c for c in self.consumers if c.accepts(message)]
        except Exception as exc:
            return self._failed(exc, message, context, received)
        if not accepting:
            return self._unhandled(message, context)
        for consumer in accepting:
            outcome = yield from self._consume(consumer, message, context, flight)
            if outcome is not None:
                return outcome
        if self.after_consume is not None:
            self.after_consume(message, received)
        return Outcome(Action.ACK)

    def _unhandled(self, message: Any, context: MessageContext) -> Outcome:
        reason = f"no consumer accepts {type(message).__qualname__}: " + (
            "; ".join(_accepted_types(c) for c in self.consumers) or "no consumer is attached"
        )
        if self.options.ack_unhandled:
            logger.info(
                "%s; acknowledging message %s (ack_unhandled)",
                reason,
                context.message_id,
                extra=_context_fields(context),
            )
            return Outcome(Action.ACK, reason=reason)
        return Outcome(Action.DEAD_LETTER, reason=reason)

    def _consume(
        self, consumer: Consumer, message: Any, context: MessageContext, flight: InFlight
    ) -> Steps[Outcome | None]:
        key = f"{consumer.name}:{context.message_id}"
        claim = yield from self._claim(key, context)
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
            return Outcome(Action.LEAVE, reason=f"{consumer.name} is handling it elsewhere")
        if claim is not None:
            flight.claims[key] = claim.token
        try:
            yield Deliver(consumer, message, context)
        except Exception as exc:
            yield from self._forget_claim(key, flight, context, done=False)
            return self._failed(exc, message, context, flight.received)
        yield from self._forget_claim(key, flight, context, done=True)
        return None

    def _claim(self, key: str, context: MessageContext) -> Steps[DedupClaim | Outcome | None]:
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
                "%s; handling message %s without deduplication",
                exc,
                context.broker_message_id,
                extra=_context_fields(context),
            )
            return None
        return claim

    def _forget_claim(
        self, key: str, flight: InFlight, context: MessageContext, *, done: bool
    ) -> Steps[None]:
        token = flight.claims.pop(key, None)
        if self.cache is None or token is None:
            return
        try:
            yield ForgetClaim(key, token, done)
        except DeduplicationUnavailableError as exc:
            logger.warning(
                "could not record %s in the deduplication cache: %s",
                key,
                exc,
                extra=_context_fields(context),
            )

    def _failed(
        self, exc: Exception, message: Any, context: MessageContext, received: ReceivedMessage
    ) -> Outcome:
        logger.warning(
            "handling message %s (receive %d) failed: %r",
            received.broker_message_id,
            received.receive_count,
            exc,
            exc_info=exc,
            extra=_context_fields(context),
        )
        if self.on_exception is not None:
            self.on_exception(exc, message, received)
        if self.options.ack_policy is AckPolicy.ALWAYS:
            return Outcome(Action.ACK, reason=f"ack_policy ALWAYS after {type(exc).__name__}")
        return Outcome(
            Action.RETRY,
            delay=self.options.backoff.delay(received.receive_count),
            reason=_reason(exc),
        )


def _reason(exc: BaseException) -> str:
    """Return the reason an exception gives a message's outcome: its class, then its text."""
    return f"{type(exc).__name__}: {exc}"


def _context_fields(context: MessageContext) -> dict[str, object]:
    """Return ``log_fields`` from what a handler is told about its message."""
    return {
        "queue": context.queue_name,
        "message_id": context.message_id,
        "broker_message_id": context.broker_message_id,
        "receive_count": context.receive_count,
    }


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
