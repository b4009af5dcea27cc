"""Reading the wire format: a received message back to the envelope that was sent.

``unwrap`` reads all three shapes a queue can hold: a direct publish, an SNS notification
envelope (raw delivery off) and an SNS raw delivery. See the docs' wire-format page.

Nothing here does I/O.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping

from melange.exceptions import MalformedMessageError
from melange.messages import AttributeValue, Envelope, JsonDict, ReceivedMessage, SnsOrigin
from melange.wire.write import (
    MANIFEST,
    MESSAGE_ID,
    RESERVED_ATTRIBUTES,
    SERIALIZER_ID,
    may_have_message_key,
)


def typed_value(data_type: str, text: str) -> AttributeValue:
    """Return an attribute's text as a melange value: a Number becomes int or float."""
    if not data_type.startswith("Number"):
        return text
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


def unwrap(received: ReceivedMessage) -> Envelope:
    """Return the envelope inside a received message, whatever its origin.

    A direct queue publish (``{"Message": ...}`` with SQS attributes), an SNS notification
    envelope (raw delivery off: attributes inside the body) and an SNS raw delivery (the
    body is the content itself) all give the same envelope. Messages without melange's
    ``message_id`` (older melange, other producers) get the SNS message id, or else the
    broker's id, so deduplication still has a stable key.

    A text (the SQS body, or a notification's ``Message``) that is a JSON object whose only
    key is ``Message`` is unwrapped once, when melange wrote it: a queue body, or topic
    content escaped by ``topic_message``. A body is unwrapped only when its attributes carry
    one of melange's (``manifest``, ``serializer_id``, ``message_id``), so another
    producer's ``{"Message": ...}`` is read as it was sent; a notification's ``Message``
    only when they carry ``message_id``: melange 7.x did not escape, so its messages are
    read as they were.

    Raises:
        MalformedMessageError: the attributes melange relies on have the wrong type.
    """
    return unwrap_with_origin(received)[0]


def unwrap_with_origin(received: ReceivedMessage) -> tuple[Envelope, SnsOrigin | None]:
    """Return ``unwrap(received)`` and the topic it came through (raw delivery off), if any.

    Raises:
        MalformedMessageError: the attributes melange relies on have the wrong type.
    """
    body = received.body
    # Only a body with a "Message" key is an SNS notification or escaped content: skip the
    # parse for the rest (a key spelled with \u escapes is parsed, to be sure).
    parsed = _json_object(body) if '"Message"' in body or "\\u" in body else None
    if parsed is not None and _is_sns_notification(parsed):
        attributes = _sns_attributes(parsed.get("MessageAttributes"), received.body)
        fallback_id = str(parsed.get("MessageId") or received.broker_message_id)
        message = _text(parsed["Message"])
        if MESSAGE_ID in attributes and may_have_message_key(message):
            message = _unescaped(message, _json_object(message))
        subject = parsed.get("Subject")
        origin = SnsOrigin(_text(parsed["TopicArn"]), subject if isinstance(subject, str) else None)
        return _envelope(message, attributes, fallback_id, received.body), origin
    # Only melange escapes: a foreign body (no attribute of melange's) is its own content.
    content = _unescaped(body, parsed) if _written_by_melange(received.attributes) else body
    envelope = _envelope(content, received.attributes, received.broker_message_id, received.body)
    return envelope, None


def _written_by_melange(attributes: Mapping[str, AttributeValue]) -> bool:
    """Return whether a message's attributes include one of melange's (melange 7's included).

    melange 8 sends ``manifest``, ``serializer_id`` and ``message_id``; melange 7 the first
    two. A message with none of them was written by another producer (a Node.js service,
    an AWS service such as S3 or EventBridge): a *foreign* message.
    """
    return not RESERVED_ATTRIBUTES.isdisjoint(attributes)


def _unescaped(text: str, parsed: JsonDict | None) -> str:
    """Return the content of ``{"Message": content}`` (``parsed`` from ``text``), else ``text``."""
    if parsed is not None and set(parsed) == {"Message"}:
        return _text(parsed["Message"])
    return text


def _json_object(body: str) -> JsonDict | None:
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    except RecursionError:
        # Envelopes are shallow: text too deep to parse here is content, never an envelope.
        return None
    return parsed if isinstance(parsed, dict) else None


def _is_sns_notification(parsed: JsonDict) -> bool:
    return parsed.get("Type") == "Notification" and "TopicArn" in parsed and "Message" in parsed


def _text(value: object) -> str:
    # Other producers may put a JSON value rather than a string under "Message".
    return value if isinstance(value, str) else json.dumps(value)


def _sns_attributes(raw: object, body: str) -> dict[str, AttributeValue]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise MalformedMessageError(
            f"SNS notification has MessageAttributes of type {type(raw).__name__}, "
            "expected an object",
            body=body,
        )
    result: dict[str, AttributeValue] = {}
    for name, item in raw.items():
        if not isinstance(item, dict):
            raise MalformedMessageError(
                f"SNS attribute {name!r} is of type {type(item).__name__}, expected an object "
                "with Type and Value",
                body=body,
            )
        data_type, text = str(item.get("Type", "String")), str(item.get("Value", ""))
        if data_type.startswith("Binary"):
            try:
                result[name] = base64.b64decode(text, validate=True)
            except binascii.Error:
                raise MalformedMessageError(
                    f"SNS attribute {name!r} has a Binary value that is not base64",
                    body=body,
                ) from None
        else:
            result[name] = typed_value(data_type, text)
    return result


def _envelope(
    content: str, attributes: Mapping[str, AttributeValue], fallback_id: str, body: str
) -> Envelope:
    manifest = attributes.get(MANIFEST)
    serializer_id = attributes.get(SERIALIZER_ID)
    message_id = attributes.get(MESSAGE_ID, fallback_id)
    if manifest is not None and not isinstance(manifest, str):
        raise MalformedMessageError(
            f"attribute 'manifest' is {manifest!r}, expected a String", body=body
        )
    if serializer_id is not None and (
        isinstance(serializer_id, bool) or not isinstance(serializer_id, int)
    ):
        raise MalformedMessageError(
            f"attribute 'serializer_id' is {serializer_id!r}, expected an integer Number",
            body=body,
        )
    user = {k: v for k, v in attributes.items() if k not in RESERVED_ATTRIBUTES}
    return Envelope(
        content=content,
        manifest=manifest,
        serializer_id=serializer_id,
        message_id=str(message_id),
        attributes=user,
    )
