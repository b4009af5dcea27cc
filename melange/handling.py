"""What happens to one received message: read it, deduplicate, run consumers, decide its fate.

The dispatcher owns threads and I/O with the broker; this module decides. Its result is an
``Outcome``: acknowledge, retry after a backoff, move to the dead-letter queue, release
it at once, or leave the message alone for redelivery.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Sequence
from typing import Any, Literal

import attrs

from melange import wire
from melange.consumers import Consumer
from melange.dedup import Claim, ClaimStatus, DeduplicationCache
from melange.exceptions import DeduplicationUnavailableError
from melange.flow import CacheProbe, InFlight
from melange.messages import ReceivedMessage
from melange.retry import Backoff
from melange.serializers.registry import SerializerRegistry

__all__ = ["Action", "InFlight", "MessageHandling", "Outcome"]

logger = logging.getLogger("melange.dispatcher")

#: Called with the exception, the deserialized message and the received message.
ExceptionHook = Callable[[BaseException, Any, ReceivedMessage], object]
#: Called with the deserialized message and the received message after every success.
ConsumeHook = Callable[[Any, ReceivedMessage], object]
#: What to do when the deduplication cache cannot be reached.
CacheUnavailablePolicy = Literal["process", "redeliver"]


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
class MessageHandling:
    """Turns a received message into an ``Outcome`` by running the consumers that accept it."""

    registry: SerializerRegistry
    consumers: Sequence[Consumer]
    cache: DeduplicationCache | None = None
    backoff: Backoff = attrs.field(factory=Backoff)
    lease_seconds: float = 30.0
    always_ack: bool = False
    ack_unhandled: bool = False
    on_cache_unavailable: CacheUnavailablePolicy = "process"
    on_exception: ExceptionHook | None = None
    after_consume: ConsumeHook | None = None
    cache_probe: CacheProbe = attrs.field(
        default=attrs.Factory(lambda self: CacheProbe(self.cache), takes_self=True)
    )

    def handle(self, flight: InFlight) -> Outcome:
        """Read, deduplicate and consume one message; never raises for a consumer's failure."""
        received = flight.received
        try:
            envelope = wire.unwrap(received)
            message = self.registry.deserialize_envelope(envelope)
        except Exception as exc:  # RecursionError too: whatever cannot be read is dead-lettered
            return Outcome(Action.DEAD_LETTER, reason=f"{type(exc).__name__}: {exc}")
        try:
            accepting = [c for c in self.consumers if c.accepts(message)]
        except Exception as exc:
            return self._failed(exc, message, received)
        if not accepting:
            return self._unhandled(message, envelope.message_id)
        for consumer in accepting:
            outcome = self._consume(consumer, message, envelope.message_id, flight)
            if outcome is not None:
                return outcome
        if self.after_consume is not None:
            self.after_consume(message, received)
        return Outcome(Action.ACK)

    def _unhandled(self, message: Any, message_id: str) -> Outcome:
        reason = f"no consumer accepts {type(message).__qualname__}: " + (
            "; ".join(_accepted_types(c) for c in self.consumers) or "no consumer is attached"
        )
        if self.ack_unhandled:
            logger.info("%s; acknowledging message %s (ack_unhandled)", reason, message_id)
            return Outcome(Action.ACK, reason=reason)
        return Outcome(Action.DEAD_LETTER, reason=reason)

    def _consume(
        self, consumer: Consumer, message: Any, message_id: str, flight: InFlight
    ) -> Outcome | None:
        key = f"{consumer.name}:{message_id}"
        claim = self._claim(key, flight.received)
        if isinstance(claim, Outcome):
            return claim
        if claim is not None and claim.status is ClaimStatus.DONE:
            logger.debug("%s already handled message %s; skipping", consumer.name, message_id)
            return None
        if claim is not None and claim.status is ClaimStatus.BUSY:
            return Outcome(Action.LEAVE, reason=f"{consumer.name} is handling it elsewhere")
        if claim is not None:
            flight.claims[key] = claim.token
        try:
            consumer.process(message)
        except Exception as exc:
            self._forget_claim(key, flight, done=False)
            return self._failed(exc, message, flight.received)
        self._forget_claim(key, flight, done=True)
        return None

    def _claim(self, key: str, received: ReceivedMessage) -> Claim | Outcome | None:
        if self.cache is None:
            return None
        redeliver = self.on_cache_unavailable == "redeliver"
        if redeliver and not self.cache_probe.available:  # do not wait for its timeout again
            return Outcome(Action.RELEASE, reason="the deduplication cache is unreachable")
        try:
            return self.cache.claim(key, lease_seconds=self.lease_seconds)
        except DeduplicationUnavailableError as exc:
            if redeliver:
                self.cache_probe.mark_unavailable(exc)
                return Outcome(Action.RELEASE, reason=str(exc))
            logger.warning(
                "%s; handling message %s without deduplication", exc, received.broker_message_id
            )
            return None

    def _forget_claim(self, key: str, flight: InFlight, *, done: bool) -> None:
        token = flight.claims.pop(key, None)
        if self.cache is None or token is None:
            return
        try:
            if done:
                self.cache.mark_done(key, token)
            else:
                self.cache.release(key, token)
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
        if self.always_ack:
            return Outcome(Action.ACK, reason=f"always_ack after {type(exc).__name__}")
        return Outcome(
            Action.RETRY,
            delay=self.backoff.delay(received.receive_count),
            reason=f"{type(exc).__name__}: {exc}",
        )


def _accepted_types(consumer: Consumer) -> str:
    """Describe what a consumer accepts, for the reason a message nobody accepts is moved."""
    names = ", ".join(t.__qualname__ for t in consumer.handled_types)
    return f"{consumer.name} accepts {names or 'what its accepts() allows'}"
