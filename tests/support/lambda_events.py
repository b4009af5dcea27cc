"""Lambda events built from messages really received, as Lambda builds them, and AWS's samples.

``sqs_event`` (``melange.aws_lambda``) builds an SQS event from the messages an SQS
``ReceiveMessage`` returned; ``sqs_messages`` gives messages the in-memory backend
received that shape, for the unit tests. ``sns_event`` wraps an SNS notification as a
queue without raw delivery received it (SNS's own JSON) into the event SNS invokes a
subscribed function with. ``DOCUMENTED_*`` are the sample events of the AWS Lambda
Developer Guide ("Using Lambda with Amazon SQS", standard and FIFO queue; "Using Lambda
with Amazon SNS"), as published.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from melange import wire
from melange.aws_lambda import sqs_event
from melange.messages import ReceivedMessage

__all__ = [
    "DOCUMENTED_FIFO_EVENT",
    "DOCUMENTED_SNS_EVENT",
    "DOCUMENTED_SQS_EVENT",
    "sns_event",
    "sqs_event_of",
    "sqs_messages",
]


def sqs_messages(messages: Sequence[ReceivedMessage]) -> list[dict[str, Any]]:
    """Return received messages as boto3's ``ReceiveMessage`` gives them (every attribute)."""
    shaped = []
    for message in messages:
        attributes: dict[str, Any] = {}
        for name, value in message.attributes.items():
            data_type, encoded = wire.encode_value(value)
            key = "BinaryValue" if data_type == "Binary" else "StringValue"
            attributes[name] = {
                key: encoded if data_type == "Binary" else encoded.decode(),
                "DataType": data_type,
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
        shaped.append(
            {
                "MessageId": message.broker_message_id,
                "ReceiptHandle": message.receipt_handle,
                "MD5OfBody": hashlib.md5(message.body.encode(), usedforsecurity=False).hexdigest(),
                "Body": message.body,
                "Attributes": system,
                "MessageAttributes": attributes,
            }
        )
    return shaped


def sqs_event_of(messages: Sequence[ReceivedMessage], *, arn: str) -> dict[str, Any]:
    """Return the event a mapping on queue ``arn`` would invoke a function with."""
    return sqs_event(sqs_messages(messages), queue_arn=arn)


def sns_event(
    notification: Mapping[str, Any] | str, *, subscription_arn: str | None = None
) -> dict[str, Any]:
    """Return the event SNS invokes a subscribed function with, for one notification.

    ``notification`` is SNS's JSON as a queue subscribed without raw delivery holds it;
    Lambda's record spells two of its keys differently (``SigningCertUrl``,
    ``UnsubscribeUrl``) and always has ``Subject``.
    """
    sns = dict(json.loads(notification) if isinstance(notification, str) else notification)
    for queue_key, lambda_key in (
        ("SigningCertURL", "SigningCertUrl"),
        ("UnsubscribeURL", "UnsubscribeUrl"),
    ):
        if queue_key in sns:
            sns[lambda_key] = sns.pop(queue_key)
    sns.setdefault("Subject", None)
    arn = subscription_arn or f"{sns['TopicArn']}:21be56ed-a058-49f5-8c98-aedd2564c486"
    record = {"EventVersion": "1.0", "EventSubscriptionArn": arn, "EventSource": "aws:sns"}
    return {"Records": [{**record, "Sns": sns}]}


#: "Example Amazon SQS message event (standard queue)", from the Lambda Developer Guide.
DOCUMENTED_SQS_EVENT: dict[str, Any] = {
    "Records": [
        {
            "messageId": "059f36b4-87a3-44ab-83d2-661975830a7d",
            "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a...",
            "body": "test",
            "attributes": {
                "ApproximateReceiveCount": "1",
                "SentTimestamp": "1545082649183",
                "SenderId": "AIDAIENQZJOLO23YVJ4VO",
                "ApproximateFirstReceiveTimestamp": "1545082649185",
            },
            "messageAttributes": {},
            "md5OfBody": "098f6bcd4621d373cade4e832627b4f6",
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-2:123456789012:my-queue",
            "awsRegion": "us-east-2",
        },
        {
            "messageId": "2e1424d4-f796-459a-8184-9c92662be6da",
            "receiptHandle": "AQEBzWwaftRI0KuVm4tP+/7q1rGgNqicHq...",
            "body": "test",
            "attributes": {
                "ApproximateReceiveCount": "1",
                "SentTimestamp": "1545082650636",
                "SenderId": "AIDAIENQZJOLO23YVJ4VO",
                "ApproximateFirstReceiveTimestamp": "1545082650649",
            },
            "messageAttributes": {},
            "md5OfBody": "098f6bcd4621d373cade4e832627b4f6",
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-2:123456789012:my-queue",
            "awsRegion": "us-east-2",
        },
    ]
}

#: "Example Amazon SQS message event (FIFO queue)", from the Lambda Developer Guide.
DOCUMENTED_FIFO_EVENT: dict[str, Any] = {
    "Records": [
        {
            "messageId": "11d6ee51-4cc7-4302-9e22-7cd8afdaadf5",
            "receiptHandle": "AQEBBX8nesZEXmkhsmZeyIE8iQAMig7qw...",
            "body": "Test message.",
            "attributes": {
                "ApproximateReceiveCount": "1",
                "SentTimestamp": "1573251510774",
                "SequenceNumber": "18849496460467696128",
                "MessageGroupId": "1",
                "SenderId": "AIDAIO23YVJENQZJOL4VO",
                "MessageDeduplicationId": "1",
                "ApproximateFirstReceiveTimestamp": "1573251510774",
            },
            "messageAttributes": {},
            "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-2:123456789012:fifo.fifo",
            "awsRegion": "us-east-2",
        }
    ]
}

#: "Example Amazon SNS message event", from the Lambda Developer Guide.
DOCUMENTED_SNS_EVENT: dict[str, Any] = {
    "Records": [
        {
            "EventVersion": "1.0",
            "EventSubscriptionArn": (
                "arn:aws:sns:us-east-2:123456789012:sns-lambda:21be56ed-a058-49f5-8c98-aedd2564c486"
            ),
            "EventSource": "aws:sns",
            "Sns": {
                "SignatureVersion": "1",
                "Timestamp": "2019-01-02T12:45:07.000Z",
                "Signature": "tcc6faL2yUC6dgZdmrwh1Y4cGa/ebXEkAi6RibDsvpi+tE/1+82j...65r==",
                "SigningCertUrl": (
                    "https://sns.us-east-2.amazonaws.com/"
                    "SimpleNotificationService-ac565b8b1a6c5d002d285f9598aa1d9b.pem"
                ),
                "MessageId": "95df01b4-ee98-5cb9-9903-4c221d41eb5e",
                "Message": "Hello from SNS!",
                "MessageAttributes": {
                    "Test": {"Type": "String", "Value": "TestString"},
                    "TestBinary": {"Type": "Binary", "Value": "TestBinary"},
                },
                "Type": "Notification",
                "UnsubscribeUrl": (
                    "https://sns.us-east-2.amazonaws.com/?Action=Unsubscribe&amp;SubscriptionArn="
                    "arn:aws:sns:us-east-2:123456789012:test-lambda:"
                    "21be56ed-a058-49f5-8c98-aedd2564c486"
                ),
                "TopicArn": "arn:aws:sns:us-east-2:123456789012:sns-lambda",
                "Subject": "TestInvoke",
            },
        }
    ]
}
