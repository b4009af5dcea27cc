"""Unit tests for melange.wire: envelopes to what SQS/SNS carry and back, all pure.

boto3's request shapes are tested in test_sqs_requests.py; here they only carry attributes
the way a received message has them.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from melange import limits, wire
from melange.backends.sqs.requests import from_boto_attributes, to_boto_attributes
from melange.exceptions import (
    ConfigurationError,
    MalformedMessageError,
    MessageAttributeError,
    MessageTooLargeError,
)
from melange.messages import AttributeValue, Envelope, ReceivedMessage, SendOptions

RECORDED = Path(__file__).parent / "data" / "recorded_messages.json"
MESSAGE_ID = "7f0c2a34-2f6e-4e0b-9d7a-0b1f2c3d4e5f"
#: The envelope the recording script sent (see "_comment" in the recorded file).
SENT = Envelope(
    content='{"order_id": 42, "items": ["apple", "pear"], "note": "caf\\u00e9"}',
    manifest="json",
    serializer_id=1,
    message_id=MESSAGE_ID,
    attributes={"tenant": "acme", "priority": 3, "weight": 2.5, "signature": b"\x00\x01\xfe\xff"},
)
SENT_RAW = attrs.evolve(
    SENT,
    message_id="0b9e8d7c-6a5b-4c3d-8e2f-1a0b9c8d7e6f",
    attributes={"tenant": "acme", "priority": 3, "weight": 2.5},
)

# Text SQS/SNS can carry as UTF-8 (no lone surrogates).
# Only XML 1.0 characters travel on SQS/SNS: no surrogates, no C0 controls but tab/LF/CR.
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
user_attributes = st.dictionaries(
    st.text("abcdefghijklmnopqrstuvwxyz_.-", min_size=1, max_size=20).filter(
        lambda name: name not in wire.RESERVED_ATTRIBUTES
    ),
    attribute_values,
    max_size=7,
)
envelopes = st.builds(
    Envelope,
    content=texts,
    manifest=st.none() | texts,
    serializer_id=st.none() | st.integers(min_value=0, max_value=2**31),
    message_id=st.uuids().map(str),
    attributes=user_attributes,
)


def _envelope(content: str = "{}", **attributes: AttributeValue) -> Envelope:
    return Envelope(content, "json", 1, message_id=MESSAGE_ID, attributes=attributes)


def _received(body: str, attributes: dict[str, AttributeValue] | None = None) -> ReceivedMessage:
    return ReceivedMessage("orders", "receipt-1", "broker-id-1", body, attributes or {})


def _load_recorded(origin: str) -> ReceivedMessage:
    recorded = json.loads(RECORDED.read_text())[origin]
    raw = {
        name: {k: base64.b64decode(v) if k == "BinaryValue" else v for k, v in item.items()}
        for name, item in recorded["message_attributes"].items()
    }
    fields = {f: recorded[f] for f in ("queue_name", "receipt_handle", "broker_message_id", "body")}
    return ReceivedMessage(**fields, attributes=from_boto_attributes(raw))


# --- attributes and sizes ----------------------------------------------------------------


def test_envelope_attributes_add_melange_attributes_to_the_users() -> None:
    """An envelope travels with message_id, manifest, serializer_id and the user's attributes."""
    attributes = wire.envelope_attributes(_envelope(tenant="acme", n=2))

    expected = {"message_id": MESSAGE_ID, "manifest": "json", "serializer_id": 1}
    assert attributes == {**expected, "tenant": "acme", "n": 2}
    foreign = Envelope("x", None, None, message_id="m")
    assert wire.envelope_attributes(foreign) == {"message_id": "m"}


@pytest.mark.parametrize("name", sorted(wire.RESERVED_ATTRIBUTES))
def test_reserved_attribute_names_are_refused(name: str) -> None:
    """A user attribute with one of melange's names raises MessageAttributeError naming it."""
    with pytest.raises(MessageAttributeError, match=f"'{name}'") as info:
        wire.envelope_attributes(_envelope(**{name: "mine"}))
    assert info.value.name == name


@pytest.mark.parametrize(
    "value", [True, False, None, ["a"], {"a": 1}, float("nan"), float("inf"), -float("inf")]
)
def test_unsupported_attribute_values_are_refused(value: Any) -> None:
    """Booleans, None, containers and non-finite numbers raise MessageAttributeError."""
    with pytest.raises(MessageAttributeError, match="'flag'") as info:
        wire.envelope_attributes(_envelope(flag=value))
    assert info.value.name == "flag"


def test_at_most_ten_attributes_travel() -> None:
    """Seven user attributes fit beside melange's three; an eighth is refused."""
    seven = {f"a{i}": i for i in range(7)}
    assert len(wire.envelope_attributes(_envelope(**seven))) == 10

    with pytest.raises(MessageAttributeError, match="11 attributes"):
        wire.envelope_attributes(_envelope(**seven, a7=7))


def test_message_size_counts_body_names_types_and_values() -> None:
    """The size is the UTF-8 body plus each attribute's name, data type and encoded value."""
    attributes: dict[str, AttributeValue] = {"s": "xy", "n": 12, "f": 2.5, "b": b"\x00\x01\x02"}

    size = wire.message_size("caf\u00e9", attributes)

    assert size == 5 + (1 + 6 + 2) + (1 + 6 + 2) + (1 + 6 + 3) + (1 + 6 + 3)


def test_check_size_raises_over_the_limit_only() -> None:
    """check_size passes a size at the limit and raises with size and limit one byte over."""
    wire.check_size("orders", 100, 100)

    with pytest.raises(MessageTooLargeError, match="'orders'") as info:
        wire.check_size("orders", 101, 100)
    assert (info.value.destination, info.value.size, info.value.limit) == ("orders", 101, 100)


@pytest.mark.parametrize(
    ("payload", "body", "limit"),
    [
        (wire.queue_payload, wire.queue_body, 1_048_576),
        (wire.topic_payload, lambda content: content, 262_144),
    ],
    ids=["queue", "topic"],
)
def test_payload_size_limits(payload: Any, body: Any, limit: int) -> None:
    """A message exactly at the SQS/SNS limit passes and one byte more is refused."""
    overhead = wire.message_size(body(""), wire.envelope_attributes(_envelope("", k="v")))
    at_limit = _envelope("x" * (limit - overhead), k="v")

    result = payload("orders", at_limit)

    assert result.size == limit
    assert result.body == body(at_limit.content)
    assert result.attributes == wire.envelope_attributes(at_limit)
    with pytest.raises(MessageTooLargeError) as info:
        payload("orders", _envelope("x" * (limit - overhead + 1), k="v"))
    assert (info.value.size, info.value.limit) == (limit + 1, limit)


# --- argument checks ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("check", "match"),
    [
        (lambda: limits.check_queue_options("q.fifo", SendOptions()), "'q.fifo'.*message_group_id"),
        (
            lambda: limits.check_queue_options("q.fifo", SendOptions("g", delay_seconds=1)),
            "'q.fifo'",
        ),
        (
            lambda: limits.check_queue_options("q", SendOptions(delay_seconds=901)),
            "delay_seconds=901",
        ),
        (
            lambda: limits.check_queue_options("q", SendOptions(delay_seconds=-1)),
            "delay_seconds=-1",
        ),
        (lambda: limits.check_queue_options("q", SendOptions(subject="Hi")), "subject='Hi'"),
        (lambda: limits.check_topic_options("t.fifo", SendOptions()), "'t.fifo'.*message_group_id"),
        (lambda: limits.check_topic_options("t", SendOptions(delay_seconds=5)), "delay_seconds=5"),
        (lambda: limits.check_receive_args("q", 0, 0, None), "max_messages=0"),
        (lambda: limits.check_receive_args("q", 11, 0, None), "max_messages=11"),
        (lambda: limits.check_receive_args("q", 1, 21, None), "wait_time_seconds=21"),
        (lambda: limits.check_receive_args("q", 1, -1, None), "wait_time_seconds=-1"),
        (lambda: limits.check_receive_args("q", 1, 0, 43_201), "timeout 43201"),
        (lambda: limits.check_visibility_timeout("q", -1), "timeout -1"),
    ],
)
def test_checks_name_the_offending_value(check: Any, match: str) -> None:
    """Each argument check raises ConfigurationError whose message names the offending value."""
    with pytest.raises(ConfigurationError, match=match):
        check()


def test_checks_accept_the_boundaries() -> None:
    """The argument checks accept the extremes of every range SQS and SNS allow."""
    for delay in (0, 900):
        limits.check_queue_options("q", SendOptions(delay_seconds=delay))
    limits.check_queue_options("q.fifo", SendOptions(message_group_id="g"))
    limits.check_topic_options("t", SendOptions(subject="Hi"))
    limits.check_topic_options("t.fifo", SendOptions(message_group_id="g"))
    for max_messages, wait, visibility in ((1, 0, 0), (10, 20, 43_200), (5, 10, None)):
        limits.check_receive_args("q", max_messages, wait, visibility)


# --- unwrap ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("origin", "sent"),
    [("direct", SENT), ("sns_envelope", SENT), ("sns_raw", SENT_RAW)],
)
def test_unwrap_recorded_messages(origin: str, sent: Envelope) -> None:
    """A direct publish, an SNS envelope and an SNS raw delivery unwrap to the envelope sent."""
    assert wire.unwrap(_load_recorded(origin)) == sent


def test_unwrap_documented_sns_envelope() -> None:
    """An SNS notification in the format AWS documents unwraps with typed attributes."""
    body = {
        "Type": "Notification",
        "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
        "TopicArn": "arn:aws:sns:us-west-2:123456789012:MyTopic",
        "Subject": "My First Message",
        "Message": '{"hello": "world"}',
        "Timestamp": "2012-05-02T00:54:06.655Z",
        "SignatureVersion": "1",
        "Signature": "EXAMPLEw6JRN...",
        "SigningCertURL": "https://sns.us-west-2.amazonaws.com/SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem",
        "UnsubscribeURL": "https://sns.us-west-2.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=arn:aws:sns:us-west-2:123456789012:MyTopic:c9135db0-26c4-47ec-8998-413945fb5a96",
        "MessageAttributes": {
            "message_id": {"Type": "String", "Value": MESSAGE_ID},
            "manifest": {"Type": "String", "Value": "json"},
            "serializer_id": {"Type": "Number", "Value": "1"},
            "store": {"Type": "String", "Value": "example_corp"},
            "price": {"Type": "Number", "Value": "210.75"},
            "picture": {"Type": "Binary", "Value": base64.b64encode(b"\x89PNG").decode()},
        },
    }

    envelope = wire.unwrap(_received(json.dumps(body)))

    attributes = {"store": "example_corp", "price": 210.75, "picture": b"\x89PNG"}
    assert envelope == Envelope('{"hello": "world"}', "json", 1, MESSAGE_ID, attributes)


def test_unwrap_falls_back_to_the_sns_message_id() -> None:
    """An SNS notification without melange's message_id gets the SNS MessageId."""
    recorded = _load_recorded("sns_envelope")
    body = json.loads(recorded.body)
    del body["MessageAttributes"]["message_id"]

    envelope = wire.unwrap(_received(json.dumps(body)))

    assert envelope == attrs.evolve(SENT, message_id=body["MessageId"])


def test_unwrap_falls_back_to_the_broker_message_id() -> None:
    """A direct message without melange's message_id (melange 7) gets the broker's id."""
    recorded = _load_recorded("direct")
    attributes = {k: v for k, v in recorded.attributes.items() if k != "message_id"}

    envelope = wire.unwrap(_received(recorded.body, attributes))

    assert envelope == attrs.evolve(SENT, message_id="broker-id-1")


@pytest.mark.parametrize(
    ("name", "value"),
    [("serializer_id", "one"), ("serializer_id", 1.5), ("serializer_id", b"\x01"), ("manifest", 3)],
)
def test_unwrap_refuses_mistyped_melange_attributes(name: str, value: AttributeValue) -> None:
    """A non-integer serializer_id or non-String manifest raises MalformedMessageError."""
    body = wire.queue_body("{}")

    with pytest.raises(MalformedMessageError, match=f"'{name}'") as info:
        wire.unwrap(_received(body, {name: value}))
    assert info.value.body == body


@pytest.mark.parametrize(
    "attributes",
    [["not", "an", "object"], {"blob": {"Type": "Binary", "Value": "not base64!"}}],
)
def test_unwrap_refuses_malformed_sns_attributes(attributes: Any) -> None:
    """SNS MessageAttributes that are not an object or carry bad base64 are refused."""
    body = json.dumps(
        {"Type": "Notification", "TopicArn": "arn", "Message": "x", "MessageAttributes": attributes}
    )

    with pytest.raises(MalformedMessageError):
        wire.unwrap(_received(body))


@pytest.mark.parametrize("body", ["plain text", "", "[1, 2]", '{"a": 1, "Message": "x"}', '"text"'])
def test_unwrap_reads_other_bodies_as_raw_content(body: str) -> None:
    """A body that is not melange's or SNS's JSON envelope is the content itself."""
    assert wire.unwrap(_received(body)) == Envelope(body, None, None, "broker-id-1")


def test_unwrap_serializes_a_non_string_message() -> None:
    """A JSON value other than a string under "Message" becomes its JSON text."""
    written = {"manifest": "json", "serializer_id": 1}  # a producer writing melange's format
    assert wire.unwrap(_received('{"Message": {"a": [1]}}', written)).content == '{"a": [1]}'


@pytest.mark.parametrize(
    "body", ['{"Message": "{\\"a\\":1}"}', '{"Message": "hello"}', '{"Message": {"a": [1]}}']
)
def test_a_foreign_body_whose_only_key_is_message_is_its_own_content(body: str) -> None:
    """Without melange's attributes, {"Message": ...} is another producer's JSON, not unwrapped."""
    envelope = wire.unwrap(_received(body, {"tenant": "acme"}))

    assert envelope == Envelope(body, None, None, "broker-id-1", {"tenant": "acme"})


def test_any_one_of_melange_attributes_and_only_those_mark_a_body_melange_wrote() -> None:
    """{"Message": content} is unwrapped with manifest, serializer_id or message_id, not without."""
    body = wire.queue_body('{"a":1}')
    written: list[dict[str, AttributeValue]] = [
        {"manifest": "json"},
        {"serializer_id": 1},
        {"message_id": "m-1"},
    ]

    assert [wire.unwrap(_received(body, attributes)).content for attributes in written] == [
        '{"a":1}'
    ] * 3
    assert wire.unwrap(_received(body, {"tenant": "acme"})).content == body


NOTIFICATION_SHAPED = json.dumps(
    {"Type": "Notification", "TopicArn": "arn:aws:sns:us-east-1:123456789012:t", "Message": "{}"}
)
#: Contents that a reader could take for melange's or SNS's envelope unless they are escaped.
NEEDS_ESCAPE = [
    '{"Message": "hello"}',
    '{"Message": "{\\"a\\": 1}"}',
    NOTIFICATION_SHAPED,
    ' \n\t{"Message": 1}',
    '{"\\u004dessage": "spelled with an escape"}',
    '{"Mess\\u0061ge": "partly spelled with an escape"}',
    '{"a": 1, "Message": null}',
    '{"Message": "first", "Message": "second"}',
    '{"Message": ' + "[" * 100_000 + "]" * 100_000 + "}",
]
#: Contents no reader can confuse with an envelope: they travel as they are.
TRAVELS_AS_IS = [
    '{"a": 1}',
    '{"a": {"Message": "nested"}}',
    '{"MessageId": "m", "Messages": []}',
    '"Message"',
    '["Message"]',
    "{Message: not json}",
    '{"caf\\u00e9": "na\\u00efve", "Messages": "\\u00e9"}',
    "plain text naming a Message",
    "gASVCgAAAAAAAACMBk1lc3NhZ2WULg==",
    "",
]


@pytest.mark.parametrize("content", NEEDS_ESCAPE, ids=range(len(NEEDS_ESCAPE)))
def test_topic_content_with_a_message_key_travels_escaped(content: str) -> None:
    """A JSON object with a "Message" key (however spelled, however deep) is sent wrapped once."""
    payload = wire.topic_payload("events", _envelope(content))

    assert payload.body == wire.queue_body(content)
    assert payload.size == wire.message_size(payload.body, payload.attributes)
    assert wire.needs_escape(content)


@pytest.mark.parametrize("content", TRAVELS_AS_IS, ids=range(len(TRAVELS_AS_IS)))
def test_topic_content_without_a_message_key_travels_as_is(content: str) -> None:
    """Content that is not a JSON object with a "Message" key is the SNS Message itself."""
    assert wire.topic_payload("events", _envelope(content)).body == content
    assert not wire.needs_escape(content)


@pytest.mark.parametrize(
    "content", NEEDS_ESCAPE + TRAVELS_AS_IS, ids=range(len(NEEDS_ESCAPE + TRAVELS_AS_IS))
)
def test_raw_delivery_reads_back_any_topic_content(content: str) -> None:
    """A raw SNS delivery of whatever topic_payload sent unwraps to the content published."""
    payload = wire.topic_payload("events", _envelope(content))
    received = from_boto_attributes(to_boto_attributes(payload.attributes))

    assert wire.unwrap(_received(payload.body, received)) == _envelope(content)


@pytest.mark.parametrize(
    "content", NEEDS_ESCAPE + TRAVELS_AS_IS, ids=range(len(NEEDS_ESCAPE + TRAVELS_AS_IS))
)
def test_notification_reads_back_any_topic_content(content: str) -> None:
    """An SNS notification of whatever topic_payload sent unwraps to the content published."""
    payload = wire.topic_payload("events", _envelope(content))
    body = wire.sns_notification_body(
        topic_arn="arn:aws:sns:us-east-1:123456789012:events",
        sns_message_id="sns-1",
        message=payload.body,
        attributes=payload.attributes,
    )

    assert wire.unwrap(_received(body)) == _envelope(content)


def test_melange7_notification_is_never_unwrapped_twice() -> None:
    """A notification without melange's message_id (melange 7) keeps a {"Message": ...} content."""
    content = '{"Message": "hello"}'
    attributes: dict[str, AttributeValue] = {"manifest": "json", "serializer_id": 1}
    body = wire.sns_notification_body(
        topic_arn="arn:aws:sns:us-east-1:123456789012:events",
        sns_message_id="sns-1",
        message=content,
        attributes=attributes,
    )

    assert wire.unwrap(_received(body)) == Envelope(content, "json", 1, "sns-1")


@given(envelopes, st.none() | texts)
def test_sns_notification_body_round_trips_through_unwrap(
    envelope: Envelope, subject: str | None
) -> None:
    """Unwrapping a notification of a topic publish gives back the envelope, attributes typed."""
    payload = wire.topic_payload("orders", envelope)
    body = wire.sns_notification_body(
        topic_arn="arn:aws:sns:us-east-1:123456789012:orders",
        sns_message_id="sns-message-id",
        message=payload.body,
        attributes=payload.attributes,
        subject=subject,
        timestamp=datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=UTC),
    )

    assert wire.unwrap(_received(body)) == envelope
    assert json.loads(body)["Timestamp"] == "2024-05-01T12:30:15.123Z"


@given(envelopes)
def test_direct_publish_round_trips_through_unwrap(envelope: Envelope) -> None:
    """Unwrapping gives back the envelope of a direct publish sent through boto attributes."""
    payload = wire.queue_payload("orders", envelope)
    received = from_boto_attributes(to_boto_attributes(payload.attributes))

    assert wire.unwrap(_received(payload.body, received)) == envelope
