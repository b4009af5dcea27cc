"""Large payloads in S3, in the format of AWS's extended clients: pure functions, no I/O.

A message too large for its queue or topic travels as a *claim check*: its body is stored
as an S3 object and the message carries a pointer to it, the JSON array

    ["software.amazon.payloadoffloading.PayloadS3Pointer",
     {"s3BucketName": "<bucket>", "s3Key": "<key>"}]

as its body (or as its SNS ``Message``), with a Number message attribute giving the
payload's size in bytes: ``ExtendedPayloadSize``, or ``SQSLargePayloadSize`` as AWS's
Java extended client writes by default. This is the format of AWS's extended clients
(``amazon-sqs-java-extended-client-lib``, and the Python ``amazon-sqs-extended-client``
and ``amazon-sns-extended-client``), so their messages and melange's read each other.

melange writes ``ExtendedPayloadSize``, the name AWS's clients define as current: the
Python clients write it by default, the Java client (1.1.0 and later, 2.x included) when
configured ``withLegacyReservedAttributeNameDisabled()``, and all of them read it (the
Java client before 1.1.0 did not). melange reads both names, and both pointer classes
(the Java client wrote ``com.amazon.sqs.javamessaging.MessageS3Pointer`` before 1.1.0).
The object holds the serialized content as a raw SNS delivery carries it, for a queue
and a topic alike (escaped as ``{"Message": content}`` only when it is itself such an
object); melange's own attributes (``message_id``,
``manifest``, ``serializer_id``, the trace context) stay on the message, so it is routed,
filtered and traced without reading S3.

A received message is a claim check when it carries a size attribute: among its SQS
attributes (a direct send, or a raw SNS delivery), or among the ``MessageAttributes`` of
the SNS notification that is its body (raw delivery off). ``claim_check`` finds the
pointer; ``inlined`` puts the fetched payload back where the pointer was.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import attrs

from melange.exceptions import MalformedMessageError
from melange.messages import AttributeValue, JsonDict, ReceivedMessage

__all__ = [
    "LEGACY_POINTER_CLASS",
    "LEGACY_SIZE_ATTRIBUTE",
    "POINTER_CLASS",
    "SIZE_ATTRIBUTE",
    "SIZE_ATTRIBUTES",
    "ClaimCheck",
    "PayloadPointer",
    "claim_check",
    "inlined",
]

#: The pointer class melange writes, as AWS's current extended clients do.
POINTER_CLASS = "software.amazon.payloadoffloading.PayloadS3Pointer"
#: The class older Java extended clients write; read, never written.
LEGACY_POINTER_CLASS = "com.amazon.sqs.javamessaging.MessageS3Pointer"
_POINTER_CLASSES = frozenset({POINTER_CLASS, LEGACY_POINTER_CLASS})

#: The Number attribute melange writes: the payload's size in bytes.
SIZE_ATTRIBUTE = "ExtendedPayloadSize"
#: The name AWS's Java extended client writes by default; read, never written.
LEGACY_SIZE_ATTRIBUTE = "SQSLargePayloadSize"
#: Either marks a claim check.
SIZE_ATTRIBUTES = frozenset({SIZE_ATTRIBUTE, LEGACY_SIZE_ATTRIBUTE})


@attrs.frozen
class PayloadPointer:
    """Where a payload is stored: an S3 bucket and key.

    Attributes:
        bucket: the S3 bucket's name.
        key: the object's key in it.
    """

    bucket: str
    key: str

    def body(self) -> str:
        """Return the pointer as the message body AWS's extended clients write and read."""
        return json.dumps([POINTER_CLASS, {"s3BucketName": self.bucket, "s3Key": self.key}])

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@attrs.frozen
class ClaimCheck:
    """A received message's pointer, and the payload size its attribute states.

    Attributes:
        pointer: where the payload is.
        size: the size the message's attribute gives, in bytes (``None`` if unreadable).
        attribute: the attribute that marked it (``ExtendedPayloadSize`` or the legacy name).
        via_notification: the pointer was the ``Message`` of an SNS notification body.
    """

    pointer: PayloadPointer
    size: int | None
    attribute: str
    via_notification: bool = False


def claim_check(received: ReceivedMessage) -> ClaimCheck | None:
    """Return the claim check ``received`` carries, or ``None`` for an inline message.

    Raises:
        MalformedMessageError: a size attribute marks it, but what should be the pointer
            is not one (the message names why).
    """
    attribute = _size_attribute(received.attributes)
    if attribute is not None:
        pointer = _pointer(received.body, received.body)
        return ClaimCheck(pointer, _size(received.attributes[attribute]), attribute)
    if not _may_be_notification_check(received.body):
        return None
    notification = _notification(received.body)
    if notification is None:
        return None
    sns_attributes = notification.get("MessageAttributes")
    if not isinstance(sns_attributes, dict):
        return None
    attribute = _size_attribute(sns_attributes)
    if attribute is None:
        return None
    message = notification["Message"]
    if not isinstance(message, str):
        raise MalformedMessageError(
            f"SNS notification marked by {attribute} has a Message that is not text",
            body=received.body,
        )
    item = sns_attributes[attribute]
    size = _size(item.get("Value")) if isinstance(item, dict) else None
    return ClaimCheck(_pointer(message, received.body), size, attribute, via_notification=True)


def inlined(received: ReceivedMessage, check: ClaimCheck, payload: str) -> ReceivedMessage:
    """Return ``received`` as if ``payload`` had travelled inline instead of the pointer.

    The size attribute is dropped (as AWS's clients drop it), so handlers see the
    attributes the publisher set and nothing of the claim check.
    """
    if not check.via_notification:
        attributes = {k: v for k, v in received.attributes.items() if k not in SIZE_ATTRIBUTES}
        return attrs.evolve(received, body=payload, attributes=attributes)
    notification = _notification(received.body)
    if notification is None:  # claim_check read it: cannot happen
        raise MalformedMessageError("SNS notification is no longer readable", body=received.body)
    sns_attributes = notification.get("MessageAttributes")
    if isinstance(sns_attributes, dict):
        notification["MessageAttributes"] = {
            k: v for k, v in sns_attributes.items() if k not in SIZE_ATTRIBUTES
        }
    notification["Message"] = payload
    return attrs.evolve(received, body=json.dumps(notification))


def _size_attribute(attributes: Mapping[str, object]) -> str | None:
    if SIZE_ATTRIBUTE in attributes:
        return SIZE_ATTRIBUTE
    if LEGACY_SIZE_ATTRIBUTE in attributes:
        return LEGACY_SIZE_ATTRIBUTE
    return None


def _may_be_notification_check(body: str) -> bool:
    # Cheap test before parsing: an SNS notification naming one of the size attributes.
    return '"Notification"' in body and ("PayloadSize" in body)


def _notification(body: str) -> JsonDict | None:
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if (
        isinstance(parsed, dict)
        and parsed.get("Type") == "Notification"
        and "TopicArn" in parsed
        and "Message" in parsed
    ):
        return parsed
    return None


def _size(value: AttributeValue | object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    try:
        return int(str(value))
    except ValueError:
        return None


def _pointer(text: str, body: str) -> PayloadPointer:
    """Read a pointer, or raise ``MalformedMessageError`` saying what is wrong with it."""
    expected = (
        f'expected ["{POINTER_CLASS}", {{"s3BucketName": ..., "s3Key": ...}}], as AWS\'s '
        "extended clients write"
    )
    try:
        parsed = json.loads(text)
    except (ValueError, RecursionError):
        raise MalformedMessageError(
            f"message marked as stored in S3 has a body that is not JSON; {expected}", body=body
        ) from None
    if not (isinstance(parsed, list) and len(parsed) == 2 and isinstance(parsed[1], dict)):
        raise MalformedMessageError(
            f"message marked as stored in S3 has a body that is not a pointer; {expected}",
            body=body,
        )
    kind, where = parsed
    if kind not in _POINTER_CLASSES:
        raise MalformedMessageError(
            f"message marked as stored in S3 names pointer class {kind!r}; {expected}",
            body=body,
        )
    bucket, key = where.get("s3BucketName"), where.get("s3Key")
    if not isinstance(bucket, str) or not bucket or not isinstance(key, str) or not key:
        raise MalformedMessageError(
            f"S3 pointer has s3BucketName={bucket!r} and s3Key={key!r}; {expected}", body=body
        )
    return PayloadPointer(bucket, key)
