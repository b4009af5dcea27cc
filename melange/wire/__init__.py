"""The wire format, as pure functions: envelopes to what SQS/SNS carry, and back.

A message sent to a queue has the body ``{"Message": <content>}`` (JSON) and the message
attributes ``manifest`` (String), ``serializer_id`` (Number) and ``message_id`` (String,
a UUID assigned by the publisher), plus the application's own attributes. A message
published to a topic has the content itself as its SNS ``Message`` and the same attributes,
unless the content is a JSON object with a ``"Message"`` key, which travels escaped
(``needs_escape``). ``unwrap`` reads all three shapes a queue can then hold: a direct
publish, an SNS notification envelope (raw delivery off) and an SNS raw delivery. See
the docs' wire-format page.

Writing is in ``melange.wire.write``, reading in ``melange.wire.read``; both give and take
melange values only (boto3's request shapes live in the SQS backend's ``sqs_requests``).
Nothing here does I/O.
"""

from __future__ import annotations

from melange.wire.read import typed_value, unwrap, unwrap_with_origin
from melange.wire.write import (
    MANIFEST,
    MESSAGE_ID,
    RESERVED_ATTRIBUTES,
    SERIALIZER_ID,
    Payload,
    check_characters,
    check_message_id,
    check_raw,
    check_size,
    deduplication_id,
    encode_value,
    envelope_attributes,
    message_size,
    needs_escape,
    number_text,
    outgoing_payload,
    printable,
    queue_body,
    queue_payload,
    sns_notification_body,
    stored_body,
    topic_message,
    topic_payload,
)

__all__ = [
    "MANIFEST",
    "MESSAGE_ID",
    "RESERVED_ATTRIBUTES",
    "SERIALIZER_ID",
    "Payload",
    "check_characters",
    "check_message_id",
    "check_raw",
    "check_size",
    "deduplication_id",
    "encode_value",
    "envelope_attributes",
    "message_size",
    "needs_escape",
    "number_text",
    "outgoing_payload",
    "printable",
    "queue_body",
    "queue_payload",
    "sns_notification_body",
    "stored_body",
    "topic_message",
    "topic_payload",
    "typed_value",
    "unwrap",
    "unwrap_with_origin",
]
