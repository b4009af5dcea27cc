"""Writing the wire format: envelopes to the body and attributes SQS and SNS are sent.

A message sent to a queue has the body ``{"Message": <content>}`` (JSON) and the message
attributes ``manifest`` (String), ``serializer_id`` (Number) and ``message_id`` (String,
a UUID assigned by the publisher), plus the application's own attributes. A message
published to a topic has the content itself as its SNS ``Message`` and the same attributes,
unless the content is a JSON object with a ``"Message"`` key: that content is escaped, sent
wrapped once like a queue body, so that no reader takes it for an envelope (``needs_escape``).
The values here are melange's (``Payload``: body, attributes, size); how a backend puts
them into its requests is its own business. See the docs' wire-format page.

Nothing here does I/O.
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime

import attrs

from melange.exceptions import (
    MessageAttributeError,
    MessageTooLargeError,
    SerializationError,
)
from melange.limits import (
    MAX_ATTRIBUTES,
    SNS_MAX_MESSAGE_BYTES,
    SQS_MAX_MESSAGE_BYTES,
    check_queue_options,
    check_topic_options,
    is_fifo,
)
from melange.messages import AttributeValue, Destination, Envelope, JsonDict, OutgoingMessage
from melange.wire.claim_check import SIZE_ATTRIBUTES, ClaimCheck

MANIFEST = "manifest"
SERIALIZER_ID = "serializer_id"
MESSAGE_ID = "message_id"
RESERVED_ATTRIBUTES = frozenset({MANIFEST, SERIALIZER_ID, MESSAGE_ID})


@attrs.frozen
class Payload:
    """What a queue or topic is sent: the body text, the attributes and their counted size."""

    body: str
    attributes: dict[str, AttributeValue]
    size: int


def queue_body(content: str) -> str:
    """Return the body of a direct queue publish for serialized ``content``."""
    return json.dumps({"Message": content})


#: What JSON calls whitespace, which may precede a JSON text.
_JSON_WHITESPACE = " \t\n\r"
#: A JSON escape of one of the letters of "Message" (M, e, s, a, g), e.g. ``\u004d``: a key
#: spelled with escapes holds one. Escapes of other characters (``\u00e9``) do not matter.
_ESCAPED_MESSAGE_LETTER = re.compile(r"\\u00(?:4[dD]|6[157]|73)")


def needs_escape(content: str) -> bool:
    """Return whether topic content must travel wrapped, as ``{"Message": content}``.

    A raw SNS delivery's body is the content itself, so content that is a JSON object with
    a ``"Message"`` key (a direct publish's body, or an SNS notification, has one) would be
    read as that envelope. Such content is escaped; everything else travels as it is.
    Content too deeply nested to parse here is escaped too: escaping is always safe.
    """
    if not may_have_message_key(content):
        return False
    try:
        parsed = json.loads(content)
    except ValueError:
        return False  # not JSON: no reader takes it for an envelope
    except RecursionError:
        return True
    return isinstance(parsed, dict) and "Message" in parsed


def may_have_message_key(text: str) -> bool:
    """Return whether ``text`` may be a JSON object with a ``Message`` key (cheap test)."""
    # Cheap test before parsing: a JSON object naming "Message", literally or with escapes.
    head = text.lstrip(_JSON_WHITESPACE)
    return head.startswith("{") and (
        "Message" in head or _ESCAPED_MESSAGE_LETTER.search(head) is not None
    )


def topic_message(content: str) -> str:
    """Return the SNS ``Message`` that carries ``content``: itself, or escaped if it must be."""
    return queue_body(content) if needs_escape(content) else content


def envelope_attributes(envelope: Envelope) -> dict[str, AttributeValue]:
    """Return every message attribute an envelope travels with, melange's and the user's.

    Raises:
        MessageAttributeError: a user attribute uses a reserved name, has an unsupported
            type, or there are more than SQS/SNS allow.
    """
    for name, value in envelope.attributes.items():
        _check_user_attribute(name, value)
    result: dict[str, AttributeValue] = {MESSAGE_ID: envelope.message_id}
    if envelope.manifest is not None:
        result[MANIFEST] = envelope.manifest
    if envelope.serializer_id is not None:
        result[SERIALIZER_ID] = envelope.serializer_id
    result.update(envelope.attributes)
    if len(result) > MAX_ATTRIBUTES:
        raise MessageAttributeError(
            f"message carries {len(result)} attributes ({sorted(result)!r}) but SQS and SNS "
            f"allow {MAX_ATTRIBUTES}, {len(RESERVED_ATTRIBUTES)} of them melange's; "
            "drop some or move them into the message itself",
            name=sorted(envelope.attributes)[-1],
        )
    return result


def _check_user_attribute(name: str, value: object) -> None:
    if name in RESERVED_ATTRIBUTES:
        raise MessageAttributeError(
            f"attribute name {name!r} is reserved by melange's wire format; "
            f"choose a name other than {sorted(RESERVED_ATTRIBUTES)!r}",
            name=name,
        )
    if name in SIZE_ATTRIBUTES:
        raise MessageAttributeError(
            f"attribute name {name!r} marks a payload stored in S3 (AWS's extended clients' "
            "format), so a consumer would look for one; choose another name",
            name=name,
        )
    if isinstance(value, bool) or not isinstance(value, str | int | float | bytes):
        raise MessageAttributeError(
            f"attribute {name!r} has a value of type {type(value).__name__}; "
            "message attributes must be str, int, float or bytes",
            name=name,
        )
    if isinstance(value, str | bytes) and not value:
        raise MessageAttributeError(
            f"attribute {name!r} is empty; SQS refuses empty attribute values, so leave "
            "the attribute out instead",
            name=name,
        )
    if isinstance(value, str):
        check_characters(f"attribute {name!r}", value)
    if isinstance(value, float) and not math.isfinite(value):
        raise MessageAttributeError(
            f"attribute {name!r} is not a finite number; SQS/SNS numbers must be finite",
            name=name,
        )


def check_message_id(message_id: object) -> None:
    """Raise ``MessageAttributeError`` unless ``message_id`` is non-empty text SQS/SNS carry.

    A publisher given ``message_id=`` (to resend a message) sends it as the ``message_id``
    attribute, and as the deduplication id on FIFO destinations.
    """
    if not isinstance(message_id, str) or not message_id:
        raise MessageAttributeError(
            f"message_id={message_id!r} is not a non-empty string; pass the id of the "
            "message to resend (the failed publish's error.message_id) or leave it out",
            name=MESSAGE_ID,
        )
    refused = _REFUSED_CHARACTERS.search(message_id)
    if refused is not None:
        raise MessageAttributeError(
            f"message_id={message_id!r} contains {refused.group()!r}, which SQS and SNS "
            "refuse; use an id melange assigned, or plain text",
            name=MESSAGE_ID,
        )


#: Characters outside XML 1.0's set, which SQS and SNS refuse in bodies and attributes.
#: Written as the refused set rather than the complement of the allowed one: compiling the
#: complement of the astral range costs ~10 ms at import.
_REFUSED_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def check_characters(what: str, text: str) -> None:
    """Raise ``SerializationError`` when ``text`` holds a character SQS/SNS refuse."""
    refused = _REFUSED_CHARACTERS.search(text)
    if refused is not None:
        raise SerializationError(
            f"{what} contains {refused.group()!r} at position {refused.start()}, which SQS and "
            "SNS refuse (only XML 1.0 characters travel); encode the data, e.g. with base64"
        )


def printable(text: str) -> str:
    """Return ``text`` with every character SQS/SNS refuse replaced by ``?``."""
    return _REFUSED_CHARACTERS.sub("?", text)


def message_size(body: str, attributes: Mapping[str, AttributeValue]) -> int:
    """Return the size SQS/SNS count against their limits: body, attribute names, types, values."""
    size = len(body.encode())
    for name, value in attributes.items():
        data_type, encoded = encode_value(value)
        size += len(name.encode()) + len(data_type) + len(encoded)
    return size


def check_size(destination: str, size: int, limit: int) -> None:
    """Raise ``MessageTooLargeError`` when ``size`` exceeds ``limit``."""
    if size > limit:
        raise MessageTooLargeError(destination=destination, size=size, limit=limit)


def encode_value(value: AttributeValue) -> tuple[str, bytes]:
    """Return an attribute value's SQS/SNS data type and its bytes on the wire."""
    if isinstance(value, bytes):
        return "Binary", value
    if isinstance(value, str):
        return "String", value.encode()
    return "Number", number_text(value).encode()


def number_text(value: int | float) -> str:
    """Return a Number attribute's text, exact for floats."""
    return repr(value) if isinstance(value, float) else str(value)


def queue_payload(queue_name: str, envelope: Envelope) -> Payload:
    """Return the body, attributes and size of a direct queue publish, within SQS's limits.

    Raises:
        MessageTooLargeError: the body and attributes exceed SQS's limit.
        MessageAttributeError: see ``envelope_attributes``.
    """
    check_characters(f"content for queue {queue_name!r}", envelope.content)
    body = queue_body(envelope.content)
    attributes = envelope_attributes(envelope)
    size = message_size(body, attributes)
    check_size(queue_name, size, SQS_MAX_MESSAGE_BYTES)
    return Payload(body, attributes, size)


def topic_payload(
    topic_name: str, envelope: Envelope, *, max_size: int = SNS_MAX_MESSAGE_BYTES
) -> Payload:
    """Return the SNS message, attributes and size of a topic publish, within SNS's limits.

    ``max_size`` is the topic's own limit (its ``MaximumMessageSize``, 256 KiB unless set).

    The message is the content, escaped if ``needs_escape`` says so; the size is that of
    what is sent.

    Raises:
        MessageTooLargeError: the message and attributes exceed SNS's limit.
        MessageAttributeError: see ``envelope_attributes``.
    """
    check_characters(f"content for topic {topic_name!r}", envelope.content)
    body = topic_message(envelope.content)
    attributes = envelope_attributes(envelope)
    size = message_size(body, attributes)
    check_size(topic_name, size, max_size)
    return Payload(body, attributes, size)


def check_raw(queue_name: str, body: str, attributes: Mapping[str, AttributeValue]) -> None:
    """Check a body and attributes sent as they are (``send_raw``) against SQS's limits.

    Raises:
        SerializationError: the body holds characters SQS refuses.
        MessageTooLargeError: body and attributes exceed SQS's limit.
    """
    check_characters(f"body for queue {queue_name!r}", body)
    check_size(queue_name, message_size(body, attributes), SQS_MAX_MESSAGE_BYTES)


def deduplication_id(name: str, message: OutgoingMessage) -> str | None:
    """Return the deduplication id to send with a message to queue or topic ``name``.

    On a FIFO destination without an explicit id, the publisher's message id is used, so a
    retried publish of the same envelope is a duplicate the broker drops, not a second
    message.
    """
    if is_fifo(name):
        return message.options.deduplication_id or message.envelope.message_id
    return message.options.deduplication_id


def sns_notification_body(
    *,
    topic_arn: str,
    sns_message_id: str,
    message: str,
    attributes: Mapping[str, AttributeValue],
    subject: str | None = None,
    timestamp: datetime | None = None,
) -> str:
    """Return the JSON body SNS delivers to a queue subscribed with raw delivery off."""
    sns_attributes: JsonDict = {}
    for name, value in attributes.items():
        data_type, encoded = encode_value(value)
        text = base64.b64encode(encoded).decode() if data_type == "Binary" else encoded.decode()
        sns_attributes[name] = {"Type": data_type, "Value": text}
    when = (timestamp or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    notification: JsonDict = {
        "Type": "Notification",
        "MessageId": sns_message_id,
        "TopicArn": topic_arn,
        "Message": message,
        "Timestamp": when,
        "MessageAttributes": sns_attributes,
    }
    if subject is not None:
        notification["Subject"] = subject
    return json.dumps(notification)


def stored_body(envelope: Envelope) -> str:
    """Return what a claim check stores in S3: the content, as a raw delivery carries it.

    The serialized content itself, escaped as ``{"Message": content}`` only when it is a
    JSON object with a ``Message`` key (``topic_message``), for a queue as for a topic: a
    reader of AWS's extended clients gets the payload, not melange's queue wrapper, and
    melange reads it back as it reads a raw delivery. Escaping a large payload twice
    (melange's wrapper, then the request's JSON) was most of what it cost.
    """
    return topic_message(envelope.content)


def claim_check_payload(
    destination: Destination, message: OutgoingMessage, check: ClaimCheck
) -> Payload:
    """Return the body and attributes of a message whose content is stored in S3.

    The body is the pointer; the attributes are melange's and the application's, plus
    ``ExtendedPayloadSize`` (so at most nine of the application's own).

    Raises:
        MessageAttributeError: the attributes and the size attribute are more than SQS/SNS
            carry.
    """
    attributes = envelope_attributes(message.envelope)
    attributes[check.attribute] = check.size if check.size is not None else 0
    if len(attributes) > MAX_ATTRIBUTES:
        raise MessageAttributeError(
            f"message for {destination} is stored in S3, which adds the attribute "
            f"{check.attribute!r} to its {len(attributes) - 1} ({sorted(attributes)!r}); SQS "
            f"and SNS carry at most {MAX_ATTRIBUTES}: send fewer attributes of your own",
            name=check.attribute,
        )
    body = check.pointer.body()
    return Payload(body, attributes, message_size(body, attributes))


def outgoing_payload(
    destination: Destination, message: OutgoingMessage, *, max_size: int | None = None
) -> Payload:
    """Check a message's options against its destination and return what is sent.

    ``max_size`` is a topic's own limit (its ``MaximumMessageSize``); queues have SQS's.

    Raises:
        ConfigurationError: options SQS/SNS would reject for this destination.
        MessageTooLargeError: the body and attributes exceed the limit.
        MessageAttributeError: see ``envelope_attributes``.
    """
    if message.claim_check is not None:
        if destination.is_topic:
            check_topic_options(destination.name, message.options)
        else:
            check_queue_options(destination.name, message.options)
        return claim_check_payload(destination, message, message.claim_check)
    if destination.is_topic:
        check_topic_options(destination.name, message.options)
        limit = SNS_MAX_MESSAGE_BYTES if max_size is None else max_size
        return topic_payload(destination.name, message.envelope, max_size=limit)
    check_queue_options(destination.name, message.options)
    return queue_payload(destination.name, message.envelope)
