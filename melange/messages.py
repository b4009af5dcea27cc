"""Value types that cross the backend protocol: what is sent, what is received."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import attrs

from melange.exceptions import BatchEntryFailure

if TYPE_CHECKING:  # the claim check reads messages: imported for annotations only
    from melange.wire.claim_check import ClaimCheck

__all__ = [
    "AttributeValue",
    "BatchResult",
    "Destination",
    "Envelope",
    "JsonDict",
    "OutgoingMessage",
    "ReceivedMessage",
    "RedrivePolicy",
    "SendOptions",
    "SnsOrigin",
    "new_message_id",
]

#: A message attribute value: SQS/SNS ``String`` (str), ``Number`` (int or float) or
#: ``Binary`` (bytes).
AttributeValue = str | int | float | bytes
#: A JSON object as ``json.loads`` gives it: a message body, an SNS notification, a request.
JsonDict = dict[str, Any]


def new_message_id() -> str:
    """Return a fresh publisher-assigned message id (a random UUID as text)."""
    return str(uuid.uuid4())


def _frozen_mapping(value: Mapping[str, AttributeValue]) -> Mapping[str, AttributeValue]:
    return dict(value)


@attrs.frozen
class Envelope:
    """A serialized message and the metadata that travels with it.

    Attributes:
        content: the serializer's text.
        manifest: the serializer's description of the type (``None`` for foreign messages).
        serializer_id: identifier of the serializer that wrote ``content``.
        message_id: publisher-assigned id, stable across redeliveries and the SNS hop.
        attributes: the application's own message attributes.
    """

    content: str
    manifest: str | None
    serializer_id: int | None
    message_id: str = attrs.field(factory=new_message_id)
    attributes: Mapping[str, AttributeValue] = attrs.field(factory=dict, converter=_frozen_mapping)


@attrs.frozen
class SendOptions:
    """Per-message options that SQS and SNS offer.

    Attributes:
        message_group_id: FIFO group; messages of one group are delivered in order.
        deduplication_id: FIFO deduplication id; repeats within 5 minutes are dropped by
            the broker. When omitted on a FIFO destination melange uses the message id.
        delay_seconds: queues only; hides the message for this long (0-900).
        subject: topics only; the SNS subject (also shown in e-mail subscriptions).
    """

    message_group_id: str | None = None
    deduplication_id: str | None = None
    delay_seconds: int | None = None
    subject: str | None = None


@attrs.frozen
class Destination:
    """Where a publish goes: a queue or a topic, by name.

    Build one with ``Destination.queue("billing")`` or ``Destination.topic("events")``;
    its ``str`` is how errors name it (``queue 'billing'``).

    Attributes:
        kind: ``"queue"`` or ``"topic"``.
        name: the queue's or topic's name (a topic may be given by ARN).
    """

    kind: Literal["queue", "topic"]
    name: str

    @classmethod
    def queue(cls, name: str) -> Destination:
        """Return the destination of queue ``name``."""
        return cls("queue", name)

    @classmethod
    def topic(cls, name: str) -> Destination:
        """Return the destination of topic ``name``."""
        return cls("topic", name)

    @property
    def is_topic(self) -> bool:
        """Whether this is a topic (which fans out to subscribed queues)."""
        return self.kind == "topic"

    def renamed(self, rename: Callable[[str], str]) -> Destination:
        """Return this destination with ``rename`` applied to its name."""
        return attrs.evolve(self, name=rename(self.name))

    def __str__(self) -> str:
        return f"{self.kind} {self.name!r}"


@attrs.frozen
class OutgoingMessage:
    """An envelope and the options to send it with.

    ``claim_check``: the envelope's content is stored in S3 (``melange.payloads``) and the
    message carries this pointer instead, with melange's attributes as usual.
    """

    envelope: Envelope
    options: SendOptions = SendOptions()
    claim_check: ClaimCheck | None = None


@attrs.frozen
class BatchResult:
    """What the broker did with a batch publish.

    Attributes:
        successful: message ids (``Envelope.message_id``) the broker accepted, in input order.
        failed: entries it did not accept, with their index in the input.
    """

    successful: tuple[str, ...] = ()
    failed: tuple[BatchEntryFailure, ...] = ()


@attrs.frozen
class ReceivedMessage:
    """A message as received from a queue, before it is unwrapped or deserialized.

    Attributes:
        queue_name: the queue it was received from.
        receipt_handle: the handle to acknowledge it or change its visibility with.
        broker_message_id: the broker's id for this copy (differs per queue after fan-out).
        body: the raw body text.
        attributes: the SQS message attributes, as melange values.
        receive_count: how many times it has been received, this time included.
        message_group_id: its FIFO group, if any.
        sent_at: when the queue accepted it (SQS ``SentTimestamp``), in UTC, if known.
        trace_header: its AWS X-Ray trace header (the ``AWSTraceHeader`` system attribute
            Lambda passes when X-Ray is on), linked from the message's span; ``None``
            otherwise.
    """

    queue_name: str
    receipt_handle: str
    broker_message_id: str
    body: str
    attributes: Mapping[str, AttributeValue] = attrs.field(factory=dict, converter=_frozen_mapping)
    receive_count: int = 1
    message_group_id: str | None = None
    sent_at: datetime | None = None
    trace_header: str | None = None


@attrs.frozen
class SnsOrigin:
    """The topic a received message came through, read from its SNS notification envelope.

    Only a subscription without raw delivery wraps messages in that envelope; with raw
    delivery SNS passes neither the topic nor the subject on.

    Attributes:
        topic_arn: the topic's ARN.
        subject: the subject it was published with, if any.
    """

    topic_arn: str
    subject: str | None = None


@attrs.frozen
class RedrivePolicy:
    """Where a queue's broker moves a message that was received too often.

    Attributes:
        dead_letter_queue: the dead-letter queue's name.
        max_receive_count: receives after which the broker moves a message there; a
            message received this many times is on its last allowed receive.
    """

    dead_letter_queue: str
    max_receive_count: int
