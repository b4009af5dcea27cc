"""What every publisher shares, sync or asyncio: building, checking and planning a publish.

``PublisherCore`` turns a publish call's arguments into a ``PublishPlan`` (every message
serialized, its attributes and size checked, its id given, the melange 7.x check made, a
trace context added) before anything is sent; ``send_failed`` and ``accepted_ids`` record
the send's failure or read its result. The publishers (``melange.publishing._async``, and its
generated twin ``_sync``) only send.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Set
from typing import Any, Protocol

import attrs

from melange import wire
from melange.exceptions import (
    BackendError,
    BackendRefusedError,
    BatchPublishError,
    ConfigurationError,
    MelangeError,
    MessageAttributeError,
    Problem,
    QueueNotFoundError,
    TopicNotFoundError,
)
from melange.limits import MAX_ATTRIBUTES, SQS_MAX_MESSAGE_BYTES
from melange.messages import (
    AttributeValue,
    BatchResult,
    Destination,
    Envelope,
    OutgoingMessage,
    SendOptions,
    new_message_id,
)
from melange.serializers.registry import SerializerRegistry
from melange.telemetry import metrics, tracing
from melange.wire.claim_check import SIZE_ATTRIBUTE, ClaimCheck, PayloadPointer
from melange.wire.melange7 import check_readable_by_melange7

__all__ = [
    "Attributes",
    "PublishPlan",
    "PublisherCore",
    "SuppliesAttributes",
    "accepted_ids",
    "build_message",
    "never_sent",
    "own_attributes",
    "paired",
    "refused_pointers",
    "send_failed",
    "store_first",
    "to_store",
    "with_claim_check",
]

Attributes = Mapping[str, AttributeValue]


class SuppliesAttributes(Protocol):
    """A message type that supplies the message attributes of its instances."""

    def melange_attributes(self) -> Mapping[str, AttributeValue | None]:
        """Return the message attributes derived from this message's fields."""


def own_attributes(data: Any) -> dict[str, AttributeValue]:
    """Return the attributes ``data``'s type supplies (``melange_attributes``), or none.

    The method is looked up on the type, so an instance attribute of that name (a dict
    key, a dynamic attribute) is never taken for it. ``None`` values are left out.

    Raises:
        MessageAttributeError: ``melange_attributes`` is not a method, or did not return a
            mapping.
    """
    message_type = type(data)
    method = getattr(message_type, "melange_attributes", None)
    if method is None:
        return {}
    supplied = data.melange_attributes() if callable(method) else method
    if not callable(method) or not isinstance(supplied, Mapping):
        raise MessageAttributeError(
            f"{message_type.__qualname__}.melange_attributes gave {type(supplied).__name__}; "
            "define it as a method returning a mapping of attribute names to str, int, "
            "float or bytes",
            name="melange_attributes",
            message_type=message_type,
        )
    return {name: value for name, value in supplied.items() if value is not None}


def _check_attributes(envelope: Envelope, message_type: type, *, supplied: Set[str]) -> None:
    """Check the envelope's attributes now, naming ``message_type`` if it ``supplied`` some.

    Raises:
        MessageAttributeError: an attribute uses a reserved name, has an unsupported type
            or is empty, or there are too many (the wire format's rules).
    """
    try:
        wire.envelope_attributes(envelope)
    except MessageAttributeError as exc:
        if not supplied:
            raise
        raise MessageAttributeError(
            f"{exc} ({message_type.__qualname__}.melange_attributes() supplied "
            f"{sorted(supplied)!r}; change it there, or override one with attributes=)",
            name=exc.name,
            message_type=message_type,
        ) from None


def build_message(
    registry: SerializerRegistry,
    data: Any,
    options: SendOptions,
    attributes: Attributes | None = None,
    *,
    message_id: str | None = None,
    trace_context: Mapping[str, str] | None = None,
) -> OutgoingMessage:
    """Serialize ``data`` into an outgoing message with ``message_id``, or a fresh one.

    The message carries ``data``'s own attributes (``melange_attributes``) and
    ``attributes``, which win per name; then the W3C ``trace_context`` entries
    (``melange.telemetry.tracing``), as far as SQS/SNS's attribute limit leaves room for them.

    Raises:
        SerializationError: no serializer handles ``data``.
        MessageAttributeError: ``message_id`` is empty, not text, or unsendable; or an
            attribute cannot travel (the error names the message type if it supplied it).
    """
    if message_id is None:
        message_id = new_message_id()
    else:
        wire.check_message_id(message_id)
    serialized = registry.serialize(data)
    own = own_attributes(data)
    envelope = Envelope(
        content=serialized.content,
        manifest=serialized.manifest,
        serializer_id=serialized.serializer_id,
        message_id=message_id,
        attributes={**own, **(attributes or {})},  # the caller's win, name by name
    )
    _check_attributes(envelope, type(data), supplied=own.keys() - (attributes or {}).keys())
    if trace_context:
        room = MAX_ATTRIBUTES - len(wire.RESERVED_ATTRIBUTES) - len(envelope.attributes)
        traced = tracing.with_trace_context(envelope.attributes, trace_context, room)
        envelope = attrs.evolve(envelope, attributes=traced)
    return OutgoingMessage(envelope=envelope, options=options)


def paired(items: Iterable[Any], message_ids: Iterable[str] | None) -> list[tuple[Any, str | None]]:
    """Pair each item with its id from ``message_ids`` (or ``None``: a fresh one), checked."""
    objects = list(items)
    if message_ids is None:
        return [(obj, None) for obj in objects]
    ids = list(message_ids)
    if len(ids) != len(objects):
        raise ConfigurationError(
            f"{len(ids)} message_ids for {len(objects)} items; pass one id per item, in the "
            "items' order (e.g. [f.message_id for f in BatchPublishError.failures])",
            problems=[Problem("message_ids", tuple(ids), f"{len(objects)} ids, one per item")],
        )
    return list(zip(objects, ids, strict=True))


@attrs.frozen
class PublishPlan:
    """What one publish call sends: the destination and its checked, serialized messages.

    ``trace`` is the publish's span (``melange.telemetry.tracing``), ended by ``sending``.
    """

    destination: Destination
    messages: list[OutgoingMessage]
    trace: tracing.PublishTrace | None = None


class PublisherCore:
    """What every publisher shares, sync or asyncio: serializing, checks, ids, results.

    A publisher method turns its arguments into a ``PublishPlan`` here and sends it; the
    sync publishers below and ``melange.aio``'s differ only in how they send.
    """

    def __init__(
        self,
        serializer_registry: SerializerRegistry,
        backend: Any,
        *,
        readable_by_melange7: bool = False,
    ) -> None:
        self.serializer_registry = serializer_registry
        self.backend = backend
        self.readable_by_melange7 = readable_by_melange7

    def queue_plan(
        self,
        queue_name: str,
        pairs: Iterable[tuple[Any, str | None]],
        *,
        message_group_id: str | None = None,
        deduplication_id: str | None = None,
        delay_seconds: int | None = None,
        attributes: Attributes | None = None,
    ) -> PublishPlan:
        """Plan a queue publish of ``(object, message id or None)`` pairs."""
        options = SendOptions(
            message_group_id=message_group_id,
            deduplication_id=deduplication_id,
            delay_seconds=delay_seconds,
        )
        return self._plan(Destination.queue(queue_name), pairs, options, attributes)

    def topic_plan(
        self,
        topic_name: str,
        pairs: Iterable[tuple[Any, str | None]],
        *,
        subject: str | None = None,
        message_group_id: str | None = None,
        deduplication_id: str | None = None,
        attributes: Attributes | None = None,
    ) -> PublishPlan:
        """Plan a topic publish of ``(object, message id or None)`` pairs."""
        options = SendOptions(
            message_group_id=message_group_id, deduplication_id=deduplication_id, subject=subject
        )
        return self._plan(Destination.topic(topic_name), pairs, options, attributes)

    def _plan(
        self,
        destination: Destination,
        pairs: Iterable[tuple[Any, str | None]],
        options: SendOptions,
        attributes: Attributes | None,
    ) -> PublishPlan:
        """Plan a publish within its span, whose context every message carries."""
        items = list(pairs)
        if not items:
            return PublishPlan(destination, [])
        trace = tracing.start_publish(destination)
        try:
            context = None if trace is None else trace.carrier
            messages = self._messages(destination, items, options, attributes, context)
        except BaseException as exc:
            if trace is not None:
                trace.end(exc)
            raise
        if trace is not None:
            trace.sent([m.envelope.message_id for m in messages])
        return PublishPlan(destination, messages, trace)

    def _messages(
        self,
        destination: Destination,
        pairs: Iterable[tuple[Any, str | None]],
        options: SendOptions,
        attributes: Attributes | None,
        trace_context: Mapping[str, str] | None,
    ) -> list[OutgoingMessage]:
        """Serialize every item, and check all of them before anything is sent."""
        registry = self.serializer_registry
        messages = [
            build_message(
                registry, data, options, attributes, message_id=mid, trace_context=trace_context
            )
            for data, mid in pairs
        ]
        if self.readable_by_melange7:
            for message in messages:
                check_readable_by_melange7(
                    destination.name, message.envelope, topic=destination.is_topic
                )
        return messages


def store_first(always: bool, messages: Iterable[OutgoingMessage]) -> int | None:
    """Return the limit over which messages go to S3 before any send is tried, if any.

    0 with ``always``: every message. SQS's 1 MiB, the most any queue or topic takes, when
    a message's content alone is longer: it cannot fit anywhere, and the backend would
    build its whole inline body (escaping the content once more, scanning it for what SQS
    refuses) only to refuse it. ``None`` otherwise: what may fit is tried inline, and what
    the destination refuses as too large is stored then. Costs one ``len`` per message.
    """
    if always:
        return 0
    for message in messages:
        if message.claim_check is None and len(message.envelope.content) > SQS_MAX_MESSAGE_BYTES:
            return SQS_MAX_MESSAGE_BYTES
    return None


def to_store(
    destination: Destination, messages: Iterable[OutgoingMessage], limit: int
) -> list[tuple[int, str]]:
    """Return ``(index, body)`` of each message to store in S3: over ``limit`` bytes inline.

    The size is what SQS/SNS count (body and attributes); ``limit`` 0 stores every
    message (``LargePayloads.always``). ``body`` is what the object holds
    (``wire.stored_body``). A message already carrying a claim check is skipped.

    Raises:
        SerializationError: a body is no UTF-8 text (a lone surrogate, which JSON keeps
            raw in a topic's message): S3 could not store it, and inline SQS/SNS refuse it.
    """
    chosen = []
    for index, message in enumerate(messages):
        if message.claim_check is not None:
            continue
        body = wire.stored_body(message.envelope)
        # What the destination measured: a queue carries the content wrapped (and escaped
        # once more), not as stored.
        sent = body if destination.is_topic else wire.queue_body(message.envelope.content)
        try:
            inline = wire.message_size(sent, wire.envelope_attributes(message.envelope))
        except UnicodeEncodeError:
            # Refused as inline, naming the character; only a failed encode pays the scan.
            wire.check_characters(f"content for {destination}", message.envelope.content)
            raise
        if limit == 0 or inline > limit:
            chosen.append((index, body))
    return chosen


def with_claim_check(
    message: OutgoingMessage, pointer: PayloadPointer, body: str
) -> OutgoingMessage:
    """Return ``message`` carrying the pointer to ``body``, stored at ``pointer``."""
    check = ClaimCheck(pointer, len(body.encode()), SIZE_ATTRIBUTE)
    return attrs.evolve(message, claim_check=check)


def never_sent(exc: BaseException) -> bool:
    """Return whether a failed send certainly delivered nothing (its stored payloads can go).

    A refusal (for good, a missing queue or topic, a message melange itself refused) sent
    nothing; a lost answer (a timeout, a reset) may have delivered the message, whose
    pointer must then keep its object: the bucket's lifecycle rule removes it later.
    """
    if isinstance(exc, BackendRefusedError | QueueNotFoundError | TopicNotFoundError):
        return True
    return isinstance(exc, MelangeError) and not isinstance(exc, BackendError)


def refused_pointers(
    messages: Iterable[OutgoingMessage], result: BatchResult
) -> list[PayloadPointer]:
    """Return the stored payloads of the entries a batch publish did not accept."""
    sent = list(messages)
    return [
        check.pointer
        for failure in result.failed
        if (check := sent[failure.index].claim_check) is not None
    ]


def send_failed(plan: PublishPlan, exc: BaseException) -> None:
    """Record that sending ``plan`` raised ``exc``, which the publisher then re-raises.

    A one-message request's ``BackendError`` carries the id it sent with, so that a retry
    (``message_id=``) sends the same message; the metrics count its messages as failed,
    and the publish's span ends as failed. Plain code rather than context managers
    around the send: every publish would pay for entering them.
    """
    if isinstance(exc, BackendError) and len(plan.messages) == 1:
        exc.message_id = plan.messages[0].envelope.message_id
    if isinstance(exc, Exception):
        destination = plan.destination
        metrics.publish_failed(destination.kind, destination.name, len(plan.messages), exc)
    if plan.trace is not None:
        plan.trace.end(exc)


def accepted_ids(plan: PublishPlan, result: BatchResult) -> list[str]:
    """Return the sent messages' ids, or raise ``BatchPublishError`` for refused entries.

    It also ends the publish's span, as sent.
    """
    if plan.trace is not None:
        plan.trace.end()
    metrics.published(
        plan.destination.kind, plan.destination.name, len(result.successful), len(result.failed)
    )
    if result.failed:
        raise BatchPublishError(
            plan.destination.name, failures=result.failed, succeeded=result.successful
        )
    return list(result.successful)
