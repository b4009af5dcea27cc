"""Lambda events read into received messages, and built from received SQS messages."""

from __future__ import annotations

import base64
import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from melange import wire
from melange.aws_lambda import read_event, sqs_event
from melange.exceptions import LambdaEventError
from tests.support.lambda_events import (
    DOCUMENTED_FIFO_EVENT,
    DOCUMENTED_SNS_EVENT,
    DOCUMENTED_SQS_EVENT,
)

QUEUE_ARN = "arn:aws:sqs:eu-west-1:123456789012:orders"


def test_the_documented_sqs_event_reads_as_two_messages_of_my_queue() -> None:
    """AWS's sample standard-queue event: two records of 'my-queue', unordered."""
    batch = read_event(DOCUMENTED_SQS_EVENT)

    assert (batch.source, batch.arn, batch.name) == (
        "sqs",
        "arn:aws:sqs:us-east-2:123456789012:my-queue",
        "my-queue",
    )
    assert not batch.in_order
    first, second = batch.messages
    assert first.broker_message_id == "059f36b4-87a3-44ab-83d2-661975830a7d"
    assert first.receipt_handle == "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a..."
    assert (first.body, first.receive_count, first.attributes) == ("test", 1, {})
    assert first.sent_at == datetime(2018, 12, 17, 21, 37, 29, 183000, tzinfo=UTC)
    assert first.message_group_id is None
    assert second.broker_message_id == "2e1424d4-f796-459a-8184-9c92662be6da"


def test_the_documented_fifo_event_reads_in_order_with_its_group() -> None:
    """AWS's sample FIFO event: in order, with the record's MessageGroupId."""
    batch = read_event(DOCUMENTED_FIFO_EVENT)

    assert batch.in_order
    [message] = batch.messages
    assert message.message_group_id == "1"
    assert message.body == "Test message."


def test_the_documented_sns_event_reads_as_the_notification_a_queue_would_hold() -> None:
    """AWS's sample SNS event: the envelope, with subject, topic and attributes as SNS sent them."""
    batch = read_event(DOCUMENTED_SNS_EVENT)

    assert (batch.source, batch.name) == ("sns", "sns-lambda")
    [message] = batch.messages
    assert message.broker_message_id == "95df01b4-ee98-5cb9-9903-4c221d41eb5e"
    assert message.sent_at == datetime(2019, 1, 2, 12, 45, 7, tzinfo=UTC)
    notification = json.loads(message.body)
    assert notification["Type"] == "Notification"
    assert notification["Subject"] == "TestInvoke"
    assert notification["Message"] == "Hello from SNS!"
    assert notification["TopicArn"] == "arn:aws:sns:us-east-2:123456789012:sns-lambda"
    assert notification["MessageAttributes"]["Test"] == {"Type": "String", "Value": "TestString"}


def test_an_sns_notification_gives_the_reader_its_subject_and_topic() -> None:
    """Read as a queue's notification: the origin names the topic and the subject."""
    event = copy.deepcopy(DOCUMENTED_SNS_EVENT)
    del event["Records"][0]["Sns"]["MessageAttributes"]["TestBinary"]  # not base64 in the sample

    [message] = read_event(event).messages
    envelope, origin = wire.unwrap_with_origin(message)

    assert origin is not None
    assert origin.subject == "TestInvoke"
    assert origin.topic_arn == "arn:aws:sns:us-east-2:123456789012:sns-lambda"
    assert envelope.content == "Hello from SNS!"
    assert envelope.attributes == {"Test": "TestString"}


def test_missing_message_attributes_read_as_none() -> None:
    """A record without 'messageAttributes' (or with null) is read, with no attributes."""
    event = copy.deepcopy(DOCUMENTED_SQS_EVENT)
    del event["Records"][0]["messageAttributes"]
    event["Records"][1]["messageAttributes"] = None

    first, second = read_event(event).messages

    assert first.attributes == {} and second.attributes == {}


def test_the_xray_trace_header_is_kept() -> None:
    """With X-Ray on, the record's AWSTraceHeader travels with the message."""
    event = copy.deepcopy(DOCUMENTED_FIFO_EVENT)
    header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
    event["Records"][0]["attributes"]["AWSTraceHeader"] = header

    [message] = read_event(event).messages

    assert message.trace_header == header


@pytest.mark.parametrize(
    "event",
    [
        {},
        {"Records": []},
        {"Records": "not a list"},
        [],
        None,
        {"version": "0", "detail-type": "Scheduled Event", "source": "aws.events"},
        {"Records": [{"eventSource": "aws:s3", "s3": {}}]},
    ],
    ids=["empty", "no-records", "records-not-a-list", "a-list", "none", "eventbridge", "s3"],
)
def test_an_event_that_is_not_sqs_or_sns_is_refused(event: Any) -> None:
    """Not an SQS or SNS event: one error saying what the event has and where it belongs."""
    with pytest.raises(LambdaEventError) as raised:
        read_event(event)

    assert raised.value.problem in ("not an SQS or SNS event", "not an SQS or SNS record")


def test_records_from_two_queues_are_refused() -> None:
    """An event holding two queues' records: refused, naming both ARNs."""
    event = copy.deepcopy(DOCUMENTED_SQS_EVENT)
    event["Records"][1]["eventSourceARN"] = QUEUE_ARN

    with pytest.raises(LambdaEventError, match="2 sources") as raised:
        read_event(event)

    assert QUEUE_ARN in str(raised.value)
    assert raised.value.problem == "records from several sources"


def test_sqs_and_sns_records_in_one_event_are_refused() -> None:
    """An SQS record then an SNS one: refused at the SNS record."""
    event = {"Records": [*DOCUMENTED_SQS_EVENT["Records"], *DOCUMENTED_SNS_EVENT["Records"]]}

    with pytest.raises(LambdaEventError, match="is not from SQS") as raised:
        read_event(event)

    assert raised.value.record == 2


@pytest.mark.parametrize("field", ["receiptHandle", "messageId", "body"])
def test_a_record_without_a_field_every_record_has_is_refused(field: str) -> None:
    """A record missing one of SQS's fields: refused, naming it and the record."""
    event = copy.deepcopy(DOCUMENTED_SQS_EVENT)
    del event["Records"][1][field]

    with pytest.raises(LambdaEventError, match=field) as raised:
        read_event(event)

    assert raised.value.record == 1


def test_a_binary_attribute_that_is_not_base64_is_refused() -> None:
    """A Binary message attribute whose value is not base64: refused, naming it."""
    event = copy.deepcopy(DOCUMENTED_SQS_EVENT)
    event["Records"][0]["messageAttributes"] = {
        "blob": {"binaryValue": "not base64!", "dataType": "Binary"}
    }

    with pytest.raises(LambdaEventError, match="'blob' is not base64"):
        read_event(event)


def test_sqs_event_writes_records_as_lambda_does_and_reads_back() -> None:
    """Messages as boto3 receives them become Lambda's records, which read back the same."""
    received = [
        {
            "MessageId": "m-1",
            "ReceiptHandle": "handle-1",
            "MD5OfBody": "0cc175b9c0f1b6a831c399e269772661",
            "MD5OfMessageAttributes": "d41d8cd98f00b204e9800998ecf8427e",
            "Body": "a",
            "Attributes": {
                "ApproximateReceiveCount": "2",
                "SentTimestamp": "1545082649183",
                "MessageGroupId": "g",
            },
            "MessageAttributes": {
                "region": {"StringValue": "eu", "DataType": "String"},
                "count": {"StringValue": "3", "DataType": "Number"},
                "blob": {"BinaryValue": b"\x00\x01", "DataType": "Binary"},
            },
        }
    ]

    event = sqs_event(received, queue_arn=QUEUE_ARN)

    [record] = event["Records"]
    assert record == {
        "messageId": "m-1",
        "receiptHandle": "handle-1",
        "body": "a",
        "attributes": {
            "ApproximateReceiveCount": "2",
            "SentTimestamp": "1545082649183",
            "MessageGroupId": "g",
        },
        "messageAttributes": {
            "region": {
                "stringValue": "eu",
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": "String",
            },
            "count": {
                "stringValue": "3",
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": "Number",
            },
            "blob": {
                "binaryValue": base64.b64encode(b"\x00\x01").decode(),
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": "Binary",
            },
        },
        "md5OfBody": "0cc175b9c0f1b6a831c399e269772661",
        "md5OfMessageAttributes": "d41d8cd98f00b204e9800998ecf8427e",
        "eventSource": "aws:sqs",
        "eventSourceARN": QUEUE_ARN,
        "awsRegion": "eu-west-1",
    }
    [message] = read_event(event).messages
    assert message.attributes == {"region": "eu", "count": 3, "blob": b"\x00\x01"}
    assert (message.receive_count, message.message_group_id) == (2, "g")
