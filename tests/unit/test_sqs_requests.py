"""The SQS backend's request shaping, as pure functions: boto3's shapes in and out, no I/O."""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from melange import wire
from melange.backends.sqs import requests as sqs_requests
from melange.backends.sqs.requests import (
    POLICY_SID,
    from_boto_attributes,
    plan_batches,
    publish_params,
    queue_attributes,
    queue_policy_allowing,
    received_message,
    redrive_policy_of,
    send_batches,
    subscription_attributes,
    to_boto_attributes,
)
from melange.exceptions import (
    BackendError,
    BatchEntryFailure,
    ConfigurationError,
    QueueNotFoundError,
)
from melange.messages import (
    AttributeValue,
    BatchResult,
    Destination,
    Envelope,
    OutgoingMessage,
    RedrivePolicy,
    SendOptions,
)
from melange.topology.specs import QueueSpec, SubscriptionSpec

MESSAGE_ID = "7f0c2a34-2f6e-4e0b-9d7a-0b1f2c3d4e5f"
QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:billing"
TOPIC_A = "arn:aws:sns:us-east-1:123456789012:a"
TOPIC_B = "arn:aws:sns:us-east-1:123456789012:b"

texts = st.text(
    st.characters(
        exclude_categories=["Cs"],
        exclude_characters=[chr(c) for c in range(32) if c not in (9, 10, 13)]
        + ["\ufffe", "\uffff"],
    )
)
attribute_values = (
    texts.filter(bool)
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.binary(min_size=1)
)


def _envelope(content: str = "{}", **attributes: AttributeValue) -> Envelope:
    return Envelope(content, "json", 1, message_id=MESSAGE_ID, attributes=attributes)


def _messages(count: int) -> list[OutgoingMessage]:
    return [OutgoingMessage(Envelope(str(n), "json", 1, message_id=f"m{n}")) for n in range(count)]


# --- attributes and parameters ------------------------------------------------------------


def test_attributes_take_the_message_attributes_shape() -> None:
    """Attributes become String, Number and Binary MessageAttributes as SQS and SNS expect."""
    assert to_boto_attributes({"s": "x", "i": 3, "f": 2.5, "b": b"\x01"}) == {
        "s": {"DataType": "String", "StringValue": "x"},
        "i": {"DataType": "Number", "StringValue": "3"},
        "f": {"DataType": "Number", "StringValue": "2.5"},
        "b": {"DataType": "Binary", "BinaryValue": b"\x01"},
    }


@given(st.dictionaries(texts, attribute_values))
def test_attributes_round_trip(attributes: dict[str, AttributeValue]) -> None:
    """from_boto_attributes gives back the values and types to_boto_attributes was given."""
    back = from_boto_attributes(to_boto_attributes(attributes))

    assert back == attributes
    assert {k: type(v) for k, v in back.items()} == {k: type(v) for k, v in attributes.items()}


def test_send_message_params_for_a_standard_queue() -> None:
    """A standard queue gets the JSON body, the attributes and the delay, no FIFO params."""
    envelope = _envelope('{"a": 1}', tenant="acme")
    message = OutgoingMessage(envelope, SendOptions(delay_seconds=30))

    params, size = publish_params(Destination.queue("orders"), message)

    assert params == {
        "MessageBody": '{"Message": "{\\"a\\": 1}"}',
        "MessageAttributes": to_boto_attributes(wire.envelope_attributes(envelope)),
        "DelaySeconds": 30,
    }
    assert size == wire.message_size(params["MessageBody"], wire.envelope_attributes(envelope))


def test_publish_params_for_a_standard_topic() -> None:
    """A standard topic gets the content itself as Message, the attributes and the subject."""
    envelope = _envelope('{"a": 1}', n=3)
    message = OutgoingMessage(envelope, SendOptions(subject="Hi"))

    params, size = publish_params(Destination.topic("events"), message)

    assert params == {
        "Message": '{"a": 1}',
        "MessageAttributes": to_boto_attributes(wire.envelope_attributes(envelope)),
        "Subject": "Hi",
    }
    assert size == wire.message_size('{"a": 1}', wire.envelope_attributes(envelope))


@pytest.mark.parametrize(
    ("options", "dedup_id"),
    [(SendOptions(message_group_id="g1"), MESSAGE_ID), (SendOptions("g1", "d1"), "d1")],
    ids=["message-id", "explicit"],
)
def test_fifo_params(options: SendOptions, dedup_id: str) -> None:
    """FIFO queues and topics get the group and the deduplication id, the message id by default."""
    message = OutgoingMessage(_envelope(), options)
    fifo = {"MessageGroupId": "g1", "MessageDeduplicationId": dedup_id}

    queue_params, _ = publish_params(Destination.queue("orders.fifo"), message)
    topic_params, _ = publish_params(Destination.topic("events.fifo"), message)

    assert {k: queue_params[k] for k in fifo} == fifo
    assert {k: topic_params[k] for k in fifo} == fifo


def test_publish_params_check_the_options_for_the_destination() -> None:
    """A queue-only option on a topic is refused naming the topic, before any request."""
    message = OutgoingMessage(_envelope(), SendOptions(delay_seconds=5))

    with pytest.raises(ConfigurationError, match="topic 'events'"):
        publish_params(Destination.topic("events"), message)


# --- batches ------------------------------------------------------------------------------


def test_plan_batches_examples() -> None:
    """Batches hold at most ten entries and split where the next entry would pass the limit."""
    tens = [[*range(10)], [*range(10, 20)], [*range(20, 25)]]
    assert plan_batches([1] * 25, limit=100) == tens
    assert plan_batches([60, 50, 40, 100, 1], limit=100) == [[0], [1, 2], [3], [4]]
    assert plan_batches([50, 50], limit=100) == [[0, 1]]
    assert plan_batches([], limit=100) == []


@given(st.data())
def test_plan_batches_properties(data: st.DataObject) -> None:
    """Every index appears once in order; batches hold <= 10 entries and <= limit bytes."""
    limit = data.draw(st.integers(min_value=1, max_value=1000), label="limit")
    sizes = data.draw(st.lists(st.integers(min_value=0, max_value=limit), max_size=60))

    batches = plan_batches(sizes, limit=limit)

    assert [index for batch in batches for index in batch] == list(range(len(sizes)))
    for batch in batches:
        assert 1 <= len(batch) <= 10
        assert sum(sizes[i] for i in batch) <= limit
    for previous, following in itertools.pairwise(batches):
        # Greedy: a batch closes only when full or when the next entry would not fit.
        full = len(previous) == 10
        assert full or sum(sizes[i] for i in previous) + sizes[following[0]] > limit


def _prepared(count: int) -> list[tuple[dict[str, Any], int]]:
    return [({"MessageBody": str(n)}, 1) for n in range(count)]


def test_send_batches_reports_per_entry_outcomes_in_input_order() -> None:
    """Accepted ids and failed entries (code, reason, sender fault) come back in input order."""
    messages = _messages(12)
    requests: list[list[str]] = []

    def send(entries: list[dict[str, Any]]) -> Mapping[str, Any]:
        ids = [entry["Id"] for entry in entries]
        requests.append(ids)
        failed = [{"Id": "11", "Code": "Throttled", "Message": "slow", "SenderFault": False}]
        if "11" in ids:
            return {"Successful": [{"Id": "10"}], "Failed": failed}
        return {"Successful": [{"Id": i} for i in ids]}

    result = send_batches(messages, _prepared(12), 1000, send)

    assert requests == [[str(n) for n in range(10)], ["10", "11"]]
    assert result == BatchResult(
        successful=tuple(f"m{n}" for n in range(11)),
        failed=(BatchEntryFailure(11, "m11", "Throttled", "slow", False),),
    )


def test_a_failed_batch_request_fails_its_entries_with_the_errors_code() -> None:
    """A batch request raising BackendError fails each of its entries; other batches still go."""
    messages = _messages(15)

    def send(entries: list[dict[str, Any]]) -> Mapping[str, Any]:
        if entries[0]["Id"] == "10":
            raise BackendError("PublishBatch failed with InternalError", code="InternalError")
        return {"Successful": [{"Id": entry["Id"]} for entry in entries]}

    result = send_batches(messages, _prepared(15), 1000, send)

    assert result.successful == tuple(f"m{n}" for n in range(10))
    assert [(f.index, f.message_id, f.code) for f in result.failed] == [
        (n, f"m{n}", "InternalError") for n in range(10, 15)
    ]
    assert all("InternalError" in f.reason and not f.sender_fault for f in result.failed)


def test_a_missing_destination_before_anything_was_sent_is_raised() -> None:
    """QueueNotFoundError on the first batch is raised itself, as for a single message."""

    def send(entries: list[dict[str, Any]]) -> Mapping[str, Any]:
        raise QueueNotFoundError("billing", operation="SendMessageBatch")

    with pytest.raises(QueueNotFoundError):
        send_batches(_messages(3), _prepared(3), 1000, send)


def test_a_destination_vanishing_mid_batch_fails_the_rest() -> None:
    """A destination missing after a batch was accepted fails the later entries as NotFound."""
    calls = iter([True, False])

    def send(entries: list[dict[str, Any]]) -> Mapping[str, Any]:
        if next(calls):
            return {"Successful": [{"Id": entry["Id"]} for entry in entries]}
        raise QueueNotFoundError("billing", operation="SendMessageBatch")

    result = send_batches(_messages(12), _prepared(12), 1000, send)

    assert len(result.successful) == 10
    assert [(f.index, f.code) for f in result.failed] == [(10, "NotFound"), (11, "NotFound")]


def test_send_batches_builds_no_boto_response_of_its_own() -> None:
    """The module has no helper that fabricates a boto3-shaped failure response."""
    assert not hasattr(sqs_requests, "all_failed")


# --- queues, subscriptions, received messages ---------------------------------------------


def test_queue_attributes_state_only_what_the_spec_sets() -> None:
    """A spec's settings become SQS attributes; settings left None are not sent."""
    dlq_arn = "arn:aws:sqs:us-east-1:123456789012:billing-dlq"
    spec = QueueSpec(
        "billing.fifo",
        dead_letter_queue="billing-dlq.fifo",
        max_receive_count=3,
        visibility_timeout=60,
        content_based_deduplication=True,
    )

    attributes = queue_attributes(spec, dead_letter_arn=dlq_arn)

    assert attributes == {
        "VisibilityTimeout": "60",
        "ContentBasedDeduplication": "true",
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "3"}),
    }
    assert queue_attributes(QueueSpec("plain"), dead_letter_arn=None) == {}


def test_redrive_policy_is_read_back_by_queue_name() -> None:
    """A RedrivePolicy attribute gives the DLQ's name (the ARN's last part) and the count."""
    text = json.dumps({"deadLetterTargetArn": f"{QUEUE_ARN}-dlq", "maxReceiveCount": "4"})

    assert redrive_policy_of(text) == RedrivePolicy("billing-dlq", 4)
    assert redrive_policy_of(None) is None
    assert redrive_policy_of("{}") is None


def test_subscription_attributes() -> None:
    """Raw delivery is always stated; the filter policy only when there is one."""
    filtered = SubscriptionSpec("q", ("t",), filter_policy={"region": ["eu"]})

    assert subscription_attributes(filtered) == {
        "RawMessageDelivery": "false",
        "FilterPolicy": '{"region": ["eu"]}',
    }
    raw = SubscriptionSpec("q", ("t",), raw_message_delivery=True)
    assert subscription_attributes(raw) == {"RawMessageDelivery": "true"}


def test_queue_policy_keeps_other_statements_and_merges_topics() -> None:
    """One melange statement allows every topic so far; statements not melange's are kept."""
    other = {"Sid": "theirs", "Effect": "Deny", "Principal": "*", "Action": "sqs:*"}
    first = queue_policy_allowing(
        json.dumps({"Version": "2012-10-17", "Statement": [other]}), QUEUE_ARN, [TOPIC_B]
    )

    policy = json.loads(queue_policy_allowing(first, QUEUE_ARN, [TOPIC_A]))

    assert policy["Statement"][0] == other
    [ours] = [s for s in policy["Statement"] if s["Sid"] == POLICY_SID]
    assert ours["Resource"] == QUEUE_ARN
    assert ours["Condition"] == {"ArnEquals": {"aws:SourceArn": [TOPIC_A, TOPIC_B]}}
    assert len(policy["Statement"]) == 2


def test_received_message_reads_the_boto_entry() -> None:
    """A ReceiveMessage entry becomes a ReceivedMessage with typed attributes and its count."""
    raw = {
        "MessageId": "broker-1",
        "ReceiptHandle": "handle-1",
        "Body": "body",
        "Attributes": {"ApproximateReceiveCount": "3", "MessageGroupId": "g"},
        "MessageAttributes": {"n": {"DataType": "Number", "StringValue": "7"}},
    }

    received = received_message("billing", raw)

    assert (received.queue_name, received.receipt_handle, received.broker_message_id) == (
        "billing",
        "handle-1",
        "broker-1",
    )
    assert (received.body, dict(received.attributes)) == ("body", {"n": 7})
    assert (received.receive_count, received.message_group_id) == (3, "g")


def test_queue_attributes_state_the_retention_period() -> None:
    """A spec's ``retention_seconds`` is sent as SQS's MessageRetentionPeriod."""
    spec = QueueSpec("billing", retention_seconds=86_400)
    assert queue_attributes(spec, dead_letter_arn=None) == {"MessageRetentionPeriod": "86400"}


def test_a_bare_receive_entry_reads_with_defaults() -> None:
    """An entry with no body, attributes or counts reads empty, received once, sent time unknown."""
    received = received_message("billing", {"MessageId": "broker-1", "ReceiptHandle": "h"})
    assert (received.body, dict(received.attributes)) == ("", {})
    assert (received.receive_count, received.message_group_id, received.sent_at) == (1, None, None)


@pytest.mark.parametrize(
    ("timestamp", "sent_at"),
    [
        ("1700000000123", datetime(2023, 11, 14, 22, 13, 20, 123_000, tzinfo=UTC)),
        ("not-a-number", None),
        ("-5", None),
    ],
)
def test_the_sent_timestamp_is_read_as_utc_or_ignored(
    timestamp: str, sent_at: datetime | None
) -> None:
    """SQS's SentTimestamp (epoch milliseconds) becomes a UTC datetime; anything else, None."""
    raw = {"MessageId": "b", "ReceiptHandle": "h", "Attributes": {"SentTimestamp": timestamp}}
    assert received_message("billing", raw).sent_at == sent_at


@pytest.mark.parametrize(("count", "sizes"), [(0, []), (10, [10]), (25, [10, 10, 5])])
def test_chunks_are_ten_at_most_in_order(count: int, sizes: list[int]) -> None:
    """Handles are split ten per batch request, keeping their order."""
    items = [f"h{n}" for n in range(count)]
    batches = list(sqs_requests.chunks(items))
    assert [len(batch) for batch in batches] == sizes
    assert [item for batch in batches for item in batch] == items
