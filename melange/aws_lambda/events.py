"""AWS Lambda events read into melange's values: pure functions, no I/O.

An SQS event source mapping invokes a function with ``{"Records": [...]}``, each record
a message it received: ``messageId``, ``receiptHandle``, ``body``, ``attributes`` (the
system attributes, every value a string: ``ApproximateReceiveCount``, ``SentTimestamp``,
on FIFO queues ``MessageGroupId``...), ``messageAttributes`` (``{name: {"dataType",
"stringValue" | "binaryValue" (base64)}}``), ``eventSource`` ``"aws:sqs"`` and
``eventSourceARN``. An SNS subscription invokes it with one record whose ``Sns`` holds
``Message``, ``MessageAttributes`` (``{name: {"Type", "Value"}}``), ``Subject``,
``TopicArn`` and ``MessageId``.

``read_event`` turns either into a ``LambdaBatch`` of ``ReceivedMessage`` values, which
the dispatcher handles as it handles what it receives itself: an SNS record becomes the
notification body a queue subscribed without raw delivery would hold, so the same reader
gives the handler the SNS subject and topic. ``sqs_event`` goes the other way, as the
event source mapping does: from the messages an SQS ``ReceiveMessage`` returned to the
event the function is invoked with (``python -m melange lambda-local`` uses it).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

import attrs

from melange.exceptions import LambdaEventError
from melange.limits import is_fifo
from melange.messages import AttributeValue, ReceivedMessage
from melange.wire import typed_value

__all__ = ["LambdaBatch", "read_event", "sqs_event"]


@attrs.frozen
class LambdaBatch:
    """The records of one invocation, read.

    Attributes:
        source: ``"sqs"`` (an event source mapping) or ``"sns"`` (a topic subscription).
        arn: the queue's ARN (``eventSourceARN``) or the topic's (``TopicArn``).
        messages: the records as received messages; ``queue_name`` is the broker's name
            of the queue (SQS) or ``""`` (SNS), ``receipt_handle`` the record's.
    """

    source: Literal["sqs", "sns"]
    arn: str
    messages: tuple[ReceivedMessage, ...]

    @property
    def name(self) -> str:
        """The queue's or topic's name as the broker knows it (the ARN's last part)."""
        return self.arn.rpartition(":")[2]

    @property
    def in_order(self) -> bool:
        """Whether the records must be handled in order (a FIFO queue)."""
        return self.source == "sqs" and is_fifo(self.name)


def read_event(event: object) -> LambdaBatch:
    """Return the records of an SQS or SNS Lambda event.

    Raises:
        LambdaEventError: not an SQS or SNS event, records from two sources, or a record
            without a field every record of its kind has.
    """
    records = event.get("Records") if isinstance(event, Mapping) else None
    if not isinstance(records, Sequence) or isinstance(records, str) or not records:
        keys = sorted(event) if isinstance(event, Mapping) else type(event).__name__
        raise LambdaEventError(
            f"the Lambda event is not an SQS or SNS event (it has {keys!r}, not a "
            "non-empty 'Records' list); invoke this handler from an SQS event source "
            "mapping or an SNS subscription, or use `python -m melange lambda-local`",
            problem="not an SQS or SNS event",
        )
    first = records[0]
    source = _source(first, 0)
    arns = {_arn(record, index, source) for index, record in enumerate(records)}
    if len(arns) > 1:
        raise LambdaEventError(
            f"the Lambda event holds records from {len(arns)} sources ({sorted(arns)!r}); "
            "an event source mapping delivers one queue's records, so give each queue a "
            "mapping of its own",
            problem="records from several sources",
        )
    [arn] = arns
    read = _sqs_message if source == "sqs" else _sns_message
    return LambdaBatch(source, arn, tuple(read(r, i) for i, r in enumerate(records)))


def _source(record: object, index: int) -> Literal["sqs", "sns"]:
    if isinstance(record, Mapping):
        if record.get("eventSource") == "aws:sqs":
            return "sqs"
        if record.get("EventSource") == "aws:sns" or "Sns" in record:
            return "sns"
    raise LambdaEventError(
        f"record {index} of the Lambda event is neither an SQS record (eventSource "
        "'aws:sqs') nor an SNS one (EventSource 'aws:sns'); melange handles those two",
        problem="not an SQS or SNS record",
        record=index,
    )


def _arn(record: Any, index: int, source: str) -> str:
    if _source(record, index) != source:
        raise LambdaEventError(
            f"record {index} of the Lambda event is not from {source.upper()} as record 0 "
            "is; one event holds one source's records",
            problem="records from several sources",
            record=index,
        )
    value = record.get("eventSourceARN") if source == "sqs" else _field(record, "Sns", index)
    if source == "sns":
        value = _field(value, "TopicArn", index) if isinstance(value, Mapping) else None
    if not isinstance(value, str) or not value.startswith("arn:"):
        field = "eventSourceARN" if source == "sqs" else "Sns.TopicArn"
        raise LambdaEventError(
            f"record {index} of the Lambda event has no {field} ARN (got {value!r})",
            problem=f"no {field}",
            record=index,
        )
    return value


def _field(record: Mapping[str, Any], name: str, index: int) -> Any:
    if name not in record:
        raise LambdaEventError(
            f"record {index} of the Lambda event has no {name!r}, which every record has",
            problem=f"no {name}",
            record=index,
        )
    return record[name]


def _text(record: Mapping[str, Any], name: str, index: int) -> str:
    value = _field(record, name, index)
    if not isinstance(value, str):
        raise LambdaEventError(
            f"record {index} of the Lambda event has {name}={value!r}; expected a string",
            problem=f"{name} not a string",
            record=index,
        )
    return value


def _sqs_message(record: Mapping[str, Any], index: int) -> ReceivedMessage:
    system = record.get("attributes") or {}
    count = str(system.get("ApproximateReceiveCount", "1"))
    return ReceivedMessage(
        queue_name=_arn(record, index, "sqs").rpartition(":")[2],
        receipt_handle=_text(record, "receiptHandle", index),
        broker_message_id=_text(record, "messageId", index),
        body=_text(record, "body", index),
        # Lambda leaves messageAttributes out, or empty, when the message has none.
        attributes=_sqs_attributes(record.get("messageAttributes") or {}, index),
        receive_count=int(count) if count.isdigit() else 1,
        message_group_id=system.get("MessageGroupId"),
        sent_at=_sent_at(system.get("SentTimestamp")),
        trace_header=system.get("AWSTraceHeader"),
    )


def _sqs_attributes(raw: Mapping[str, Any], index: int) -> dict[str, AttributeValue]:
    result: dict[str, AttributeValue] = {}
    for name, item in raw.items():
        if not isinstance(item, Mapping):
            raise LambdaEventError(
                f"record {index}'s message attribute {name!r} is {item!r}; expected "
                '{"dataType": ..., "stringValue" or "binaryValue": ...}',
                problem="malformed message attribute",
                record=index,
            )
        data_type = str(item.get("dataType", "String"))
        if data_type.startswith("Binary"):
            result[name] = _binary(str(item.get("binaryValue", "")), name, index)
        else:
            result[name] = typed_value(data_type, str(item.get("stringValue", "")))
    return result


def _sns_message(record: Mapping[str, Any], index: int) -> ReceivedMessage:
    sns = _field(record, "Sns", index)
    message_id = _text(sns, "MessageId", index)
    notification: dict[str, Any] = {
        "Type": "Notification",
        "MessageId": message_id,
        "TopicArn": _text(sns, "TopicArn", index),
        "Message": _text(sns, "Message", index),
        "Timestamp": sns.get("Timestamp", ""),
        "MessageAttributes": sns.get("MessageAttributes") or {},
    }
    if isinstance(sns.get("Subject"), str):
        notification["Subject"] = sns["Subject"]
    return ReceivedMessage(
        queue_name="",
        receipt_handle=f"sns:{message_id}",
        broker_message_id=message_id,
        body=json.dumps(notification),
        sent_at=_sns_time(sns.get("Timestamp")),
    )


def _binary(text: str, name: str, index: int) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error:
        raise LambdaEventError(
            f"record {index}'s Binary message attribute {name!r} is not base64",
            problem="malformed message attribute",
            record=index,
        ) from None


def _sent_at(milliseconds: object) -> datetime | None:
    if not isinstance(milliseconds, str) or not milliseconds.isdigit():
        return None
    return datetime.fromtimestamp(int(milliseconds) / 1000, UTC)


def _sns_time(text: object) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def sqs_event(
    messages: Iterable[Mapping[str, Any]], *, queue_arn: str, region: str | None = None
) -> dict[str, Any]:
    """Return the event an SQS event source mapping invokes a function with for ``messages``.

    ``messages`` are the ``Messages`` of an SQS ``ReceiveMessage`` answer as boto3 returns
    them, received with every system and message attribute (``AttributeNames`` and
    ``MessageAttributeNames`` ``["All"]``), as the mapping receives them. Each becomes a
    record the way Lambda writes it: the keys in camel case, every system attribute a
    string, a Binary message attribute's value in base64 (boto3 gives bytes), empty
    ``stringListValues`` and ``binaryListValues``, ``eventSource`` ``"aws:sqs"``, the
    queue's ARN and region (by default the ARN's).
    """
    region = region or queue_arn.split(":")[3]
    records = []
    for message in messages:
        record: dict[str, Any] = {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": {k: str(v) for k, v in (message.get("Attributes") or {}).items()},
            "messageAttributes": {
                name: _record_attribute(value)
                for name, value in (message.get("MessageAttributes") or {}).items()
            },
            "md5OfBody": message["MD5OfBody"],
        }
        if message.get("MD5OfMessageAttributes"):
            record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
        record.update(eventSource="aws:sqs", eventSourceARN=queue_arn, awsRegion=region)
        records.append(record)
    return {"Records": records}


def _record_attribute(value: Mapping[str, Any]) -> dict[str, Any]:
    """Return an SQS message attribute as a Lambda record holds it."""
    result: dict[str, Any] = {}
    if "StringValue" in value:
        result["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        result["binaryValue"] = _base64(value["BinaryValue"])
    result["stringListValues"] = list(value.get("StringListValues") or [])
    result["binaryListValues"] = [_base64(v) for v in value.get("BinaryListValues") or []]
    result["dataType"] = value["DataType"]
    return result


def _base64(value: bytes | str) -> str:
    # boto3 decodes Binary values to bytes; a str is base64 already (SQS's JSON protocol).
    return base64.b64encode(value).decode() if isinstance(value, bytes) else value
