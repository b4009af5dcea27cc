"""What becomes of a received message, as values: the consume core's vocabulary.

``Outcome`` is the fate the handling decides (acknowledge, retry after a backoff,
dead-letter with a reason, release, leave), ``InFlight`` a message whose handlers run,
``HandlingSetup`` what a dispatcher handles messages with, and ``DispatcherStats`` what
it counted. The pure decisions about a failed or unhandled message are here too, so the
asyncio and threaded halves (``melange.consuming._async``, ``melange.consuming._sync``)
share them. No I/O.
"""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from melange.consuming.consumers import Consumer, MessageContext
from melange.exceptions import Reject
from melange.messages import Envelope, ReceivedMessage, SnsOrigin
from melange.options import AckPolicy, DispatcherOptions
from melange.serializers.foreign import ForeignReader
from melange.serializers.registry import SerializerRegistry
from melange.telemetry import metrics, tracing
from melange.wire.claim_check import ClaimCheck, PayloadPointer

__all__ = [
    "REJECTED",
    "Action",
    "ConsumeHook",
    "DispatcherStats",
    "ExceptionHook",
    "HandlingSetup",
    "InFlight",
    "Outcome",
    "Settled",
    "deletable_payload",
    "failure_outcome",
    "is_permanent",
    "log_fields",
    "logged_id",
    "message_context",
    "reason_of",
    "unhandled_outcome",
]

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
    not part of the decision (outcomes compare equal without it). ``payload`` is the S3
    object of a large message to delete once it is acknowledged (``melange.payloads``).
    """

    action: Action
    delay: int = 0
    reason: str = ""
    message_id: str | None = attrs.field(default=None, eq=False)
    payload: PayloadPointer | None = attrs.field(default=None, eq=False)


#: Every consumer that accepts the message succeeded: delete it.
ACKNOWLEDGED = Outcome(Action.ACK)


@attrs.frozen
class Settled:
    """What became of one message of a batch someone else received (AWS Lambda).

    Attributes:
        received: the message.
        action: what was carried out: ``ACK``, acknowledged (the event source deletes
            it); ``DEAD_LETTER``, copied to the dead-letter queue with ``reason`` (the
            event source deletes the original); ``RETRY``, ``RELEASE`` or ``LEAVE``, left
            to come back; ``None``, nothing was settled (the broker did not take it,
            melange failed on it, a FIFO batch stopped before it, or no queue holds it).
        reason: why, for anything but ``ACK``.
    """

    received: ReceivedMessage
    action: Action | None
    reason: str = ""

    @property
    def delivered_again(self) -> bool:
        """Whether the message is to come back: neither acknowledged nor dead-lettered."""
        return self.action is not Action.ACK and self.action is not Action.DEAD_LETTER


@attrs.define
class InFlight:
    """A message being handled: when it started, when its visibility was last extended.

    Also the deduplication leases it holds (key to token); the heartbeat renews both.
    """

    received: ReceivedMessage
    started_at: float
    extended_at: float
    claims: dict[str, str] = attrs.field(factory=dict)


@attrs.frozen
class HandlingSetup:
    """What a dispatcher handles messages with; one value shared by all its runners.

    Attributes:
        registry: reads messages back into objects.
        consumers: the consumers attached (the dispatcher's list, which may grow).
        options: how to consume (backoff, ack policy, visibility timeout, ...).
        on_exception: called when a consumer raises.
        after_consume: called after every consumer that accepts a message succeeded.
        clock: the monotonic clock timing handlers and heartbeats (tests inject one).
        foreign: reads foreign messages as ``options.foreign`` says (``foreign_reader``);
            ``None``: the registry's default serializer reads them.
    """

    registry: SerializerRegistry
    consumers: Sequence[Consumer]
    options: DispatcherOptions = attrs.field(factory=DispatcherOptions)
    on_exception: ExceptionHook | None = None
    after_consume: ConsumeHook | None = None
    clock: Callable[[], float] = time.monotonic
    foreign: ForeignReader | None = None

    def read(self, envelope: Envelope) -> Any:
        """Return the message inside ``envelope``, as its consumers are given it.

        A message melange wrote is read by the serializer it names; a foreign one (neither
        ``serializer_id`` nor ``manifest``) by ``foreign``, if the queue names how.

        Raises:
            SerializationError: the message cannot be read (the dispatcher dead-letters it).
        """
        foreign = envelope.serializer_id is None and envelope.manifest is None
        if foreign and self.foreign is not None:
            return self.foreign(envelope.content)
        return self.registry.deserialize_envelope(envelope)


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


def logged_id(received: ReceivedMessage, message_id: str | None) -> str:
    """Return how a log line names a message: melange's id, as ``dlq show`` shows it.

    A message that could not be read has no melange id: the queue's id names it then.
    """
    return message_id if message_id is not None else f"(SQS id {received.broker_message_id})"


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


def deletable_payload(
    check: ClaimCheck | None, options: DispatcherOptions, bucket: str | None
) -> PayloadPointer | None:
    """Return the S3 object to delete once a message is acknowledged, if any.

    Only with ``delete_payloads`` (a queue no topic feeds: the other subscribers of a
    topic need the object too), never for what came in an SNS notification, and only in
    the application's own bucket (``bucket``), never in one it only reads.
    """
    if check is None or not options.delete_payloads or check.via_notification:
        return None
    return check.pointer if check.pointer.bucket == bucket else None


def reason_of(exc: BaseException) -> str:
    """Return the reason an exception gives a message's outcome: its class, then its text."""
    return f"{type(exc).__name__}: {exc}"


#: How the reason of a permanent failure starts (``melange.reason="rejected"`` in metrics).
REJECTED = "rejected by"


def failure_outcome(
    exc: BaseException,
    consumer: Consumer | None,
    options: DispatcherOptions,
    receive_count: int,
) -> Outcome:
    """Decide on a consumer that raised: retry after the backoff, or dead-letter, or ack.

    ``AckPolicy.ALWAYS`` acknowledges whatever happened. A permanent failure
    (``is_permanent``) is dead-lettered at once, its reason starting ``rejected by``; so is
    a failure on the consumer's ``max_receive_count``-th receive. Anything else is retried
    after the consumer's ``backoff`` (or the dispatcher's). ``consumer`` is ``None`` when
    no consumer was running (an ``accepts`` that raised): the dispatcher's options decide.
    """
    if options.ack_policy is AckPolicy.ALWAYS:
        return Outcome(Action.ACK, reason=f"ack_policy ALWAYS after {type(exc).__name__}")
    backoff = options.backoff if consumer is None or consumer.backoff is None else consumer.backoff
    delay = backoff.delay(receive_count)
    if consumer is None:
        return Outcome(Action.RETRY, delay=delay, reason=reason_of(exc))
    if is_permanent(exc, consumer):
        reason = exc.reason if isinstance(exc, Reject) else reason_of(exc)
        return Outcome(
            Action.DEAD_LETTER, delay=delay, reason=f"{REJECTED} {consumer.name}: {reason}"
        )
    budget = consumer.max_receive_count
    if budget is not None and receive_count >= budget:
        reason = f"{reason_of(exc)} (receive {receive_count}; {consumer.name} allows {budget})"
        return Outcome(Action.DEAD_LETTER, delay=delay, reason=reason)
    return Outcome(Action.RETRY, delay=delay, reason=reason_of(exc))


def is_permanent(exc: BaseException, consumer: Consumer) -> bool:
    """Return whether ``exc`` means the message can never succeed in ``consumer``.

    It is a ``melange.Reject``, or an instance of a type in the consumer's ``throws``.
    """
    return isinstance(exc, (Reject, *consumer.throws))


def unhandled_outcome(
    message: Any, consumers: Sequence[Consumer], options: DispatcherOptions
) -> Outcome:
    """Decide on a message no consumer accepts: dead-letter it, or ack (``ack_unhandled``)."""
    accepted = "; ".join(_accepted_types(c) for c in consumers) or "no consumer is attached"
    reason = f"no consumer accepts {type(message).__qualname__}: {accepted}"
    return Outcome(Action.ACK if options.ack_unhandled else Action.DEAD_LETTER, reason=reason)


def _accepted_types(consumer: Consumer) -> str:
    names = ", ".join(t.__qualname__ for t in consumer.handled_types)
    return f"{consumer.name} accepts {names or 'what its accepts() allows'}"


@attrs.define
class DispatcherStats:
    """Counts of what the dispatcher did, for logs, tests, benchmarks and metrics.

    Every count is also recorded in melange's metrics (``melange.telemetry.metrics``), when
    OpenTelemetry is installed, labelled with ``queue_name``: each runner counts into its
    queue's stats (``for_queue``), which add to the dispatcher's.
    """

    received: int = 0
    acknowledged: int = 0
    retried: int = 0
    dead_lettered: int = 0
    released: int = 0
    left: int = 0
    queue_name: str = attrs.field(default="", repr=False, eq=False)
    _parent: DispatcherStats | None = attrs.field(default=None, repr=False, eq=False)
    _lock: threading.Lock = attrs.field(factory=threading.Lock, repr=False, eq=False)

    def count(self, name: str, amount: int = 1, *, reason: str = "") -> None:
        """Add ``amount`` to the counter ``name`` (``reason``: why dead-lettered); thread-safe."""
        self._add(name, amount)
        recorder = metrics.current()
        if recorder is not None:
            recorder.counted(self.queue_name, name, amount, reason)

    def _add(self, name: str, amount: int) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + amount)
        if self._parent is not None:
            self._parent._add(name, amount)

    def for_queue(self, queue_name: str) -> DispatcherStats:
        """Return the stats of one queue's runner, which add to these too."""
        return DispatcherStats(queue_name=queue_name, parent=self)

    def handled(self, received: ReceivedMessage, outcome: Outcome | None, seconds: float) -> None:
        """Record that handling ``received`` took ``seconds`` (``None``: it raised)."""
        recorder = metrics.current()
        if recorder is not None:
            action = "error" if outcome is None else outcome.action.value
            reason = "" if outcome is None else outcome.reason
            recorder.handled(self.queue_name, action, reason, seconds, received.sent_at)
