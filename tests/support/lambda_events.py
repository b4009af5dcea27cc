"""Lambda events built from messages really received from a queue, as the mapping builds them."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

from melange import wire
from melange.messages import ReceivedMessage


def sqs_event(
    messages: Sequence[ReceivedMessage], *, arn: str, region: str = "us-east-1"
) -> dict[str, Any]:
    """Return the event an SQS event source mapping invokes a function with for ``messages``."""
    records = []
    for message in messages:
        attributes: dict[str, Any] = {}
        for name, value in message.attributes.items():
            data_type, encoded = wire.encode_value(value)
            if data_type == "Binary":
                attributes[name] = {
                    "binaryValue": base64.b64encode(encoded).decode(),
                    "dataType": data_type,
                    "stringListValues": [],
                    "binaryListValues": [],
                }
            else:
                attributes[name] = {
                    "stringValue": encoded.decode(),
                    "dataType": data_type,
                    "stringListValues": [],
                    "binaryListValues": [],
                }
        system = {
            "ApproximateReceiveCount": str(message.receive_count),
            "SenderId": "AIDAIENQZJOLO23YVJ4VO",
            "ApproximateFirstReceiveTimestamp": "1545082649185",
        }
        if message.sent_at is not None:
            system["SentTimestamp"] = str(int(message.sent_at.timestamp() * 1000))
        if message.message_group_id is not None:
            system["MessageGroupId"] = message.message_group_id
        records.append(
            {
                "messageId": message.broker_message_id,
                "receiptHandle": message.receipt_handle,
                "body": message.body,
                "attributes": system,
                "messageAttributes": attributes,
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": arn,
                "awsRegion": region,
            }
        )
    return {"Records": records}
