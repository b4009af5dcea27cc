"""Every object melange publishes is read back equal, whatever the route and the serializer.

The three routes are a direct queue publish, a topic publish delivered as an SNS
notification (raw delivery off) and a topic publish delivered raw (raw delivery on), all
on ``InMemoryBackend``, which builds notifications with ``wire.sns_notification_body``
exactly as SNS does. Contents are chosen to look like melange's and SNS's own envelopes.
"""

from __future__ import annotations

import json
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from melange import QueuePublisher, TopicPublisher, wire
from melange.backends import InMemoryBackend
from melange.messages import Envelope, ReceivedMessage
from melange.serializers import (
    JsonSerializer,
    PickleSerializer,
    Serializer,
    SerializerRegistry,
    TypedJsonSerializer,
)

ROUTES = ("direct", "sns-envelope", "sns-raw")
TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:events"
#: The keys of melange's queue body and of an SNS notification.
ENVELOPE_KEYS = ["Message", "Type", "TopicArn", "MessageAttributes", "MessageId", "Subject"]
#: Values that make a dict look like an envelope: notification parts and JSON texts.
ADVERSARIAL_TEXTS = [
    "Notification",
    TOPIC_ARN,
    "{}",
    '{"Message": "hello"}',
    '{"a": 1}',
    '{"Type": "Notification", "TopicArn": "arn", "Message": "{}"}',
    '{"manifest": {"Type": "String", "Value": "json"}}',
    "[1, 2]",
    "5",
    "null",
    '"quoted"',
]

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
    | st.sampled_from(ADVERSARIAL_TEXTS)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(ENVELOPE_KEYS) | st.text(), children, max_size=5)
        | st.fixed_dictionaries(
            {"Type": st.just("Notification"), "TopicArn": st.just(TOPIC_ARN)},
            optional={"Message": children.map(json.dumps) | children, "MessageId": st.text()},
        )
    ),
    max_leaves=12,
)


@attrs.frozen
class Notice:
    """An attrs message whose fields are called like an SNS notification's."""

    Message: str
    Type: str = "Notification"
    TopicArn: str = TOPIC_ARN


#: A fixed set of contents that today's readers mistake for envelopes.
ADVERSARIAL_OBJECTS: list[Any] = [
    {"Message": "hello"},
    {"Message": '{"a": 1}'},
    {"Type": "Notification", "TopicArn": TOPIC_ARN, "Message": "{}"},
    {"Type": "Notification", "TopicArn": TOPIC_ARN, "Message": "x", "MessageAttributes": {}},
    {"Message": {"Message": "nested"}},
    {"Message": None, "Subject": "s"},
    {"a": 1},
    [{"Message": "in a list"}],
    '{"Message": "a JSON text as a string"}',
    5,
    None,
]


def _routes_backend() -> InMemoryBackend:
    backend = InMemoryBackend()
    backend.declare_queue("direct")
    backend.declare_queue("sns-envelope", topics=["events"])
    backend.declare_queue("sns-raw", topics=["events"], raw_message_delivery=True)
    return backend


def _read_back(registry: SerializerRegistry, data: Any) -> dict[str, tuple[Any, str]]:
    """Publish ``data`` on every route; return each route's object and melange message id."""
    backend = _routes_backend()
    queue_id = QueuePublisher(registry, backend).publish("direct", data)
    topic_id = TopicPublisher(registry, backend).publish("events", data)
    result = {}
    for route in ROUTES:
        (received,) = backend.receive(route, max_messages=10)
        envelope = wire.unwrap(received)
        result[route] = (registry.deserialize_envelope(envelope), envelope.message_id)
    assert result["direct"][1] == queue_id
    assert result["sns-envelope"][1] == result["sns-raw"][1] == topic_id
    return result


def _registry(serializer: Serializer) -> SerializerRegistry:
    return SerializerRegistry({"serializers": {"only": serializer}})


def _travels(registry: SerializerRegistry, data: Any) -> bool:
    """Return whether SQS/SNS accept the serialized ``data`` (only XML 1.0 characters)."""
    content = registry.serialize(data).content
    return wire.printable(content) == content


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(json_values)
def test_json_values_read_back_equal_on_every_route(value: Any) -> None:
    """Any JSON value published with JsonSerializer is read back equal on all three routes."""
    registry = _registry(JsonSerializer())
    assume(_travels(registry, value))

    read = _read_back(registry, value)

    assert {route: obj for route, (obj, _) in read.items()} == dict.fromkeys(ROUTES, value)


@given(json_values, st.booleans(), st.sampled_from(['"Message"', '"M\\u0065ssage"']))
def test_any_json_text_survives_both_topic_routes(
    value: Any, ascii_only: bool, message_key: str
) -> None:
    """JSON text of any value, keys spelled with escapes or not, is read back as sent."""
    content = json.dumps(value, ensure_ascii=ascii_only).replace('"Message"', message_key)
    assume(wire.printable(content) == content)
    envelope = Envelope(content, "json", 1, message_id="m-1")
    payload = wire.topic_payload("events", envelope)
    notification = wire.sns_notification_body(
        topic_arn=TOPIC_ARN,
        sns_message_id="s-1",
        message=payload.body,
        attributes=payload.attributes,
    )

    raw = ReceivedMessage("q", "r-1", "b-1", payload.body, payload.attributes)
    assert wire.unwrap(raw) == envelope
    assert wire.unwrap(ReceivedMessage("q", "r-2", "b-2", notification)) == envelope


@pytest.mark.parametrize("value", ADVERSARIAL_OBJECTS, ids=range(len(ADVERSARIAL_OBJECTS)))
def test_adversarial_json_reads_back_equal_on_every_route(value: Any) -> None:
    """Envelope-shaped JSON contents are read back equal on all three routes."""
    read = _read_back(_registry(JsonSerializer()), value)

    assert {route: obj for route, (obj, _) in read.items()} == dict.fromkeys(ROUTES, value)


@given(st.builds(Notice, Message=st.text() | st.sampled_from(ADVERSARIAL_TEXTS)))
def test_typed_json_with_a_message_field_reads_back_equal(notice: Notice) -> None:
    """An attrs object with fields Message, Type and TopicArn is read back equal everywhere."""
    registry = _registry(TypedJsonSerializer([Notice]))
    assume(_travels(registry, notice))

    read = _read_back(registry, notice)

    assert {route: obj for route, (obj, _) in read.items()} == dict.fromkeys(ROUTES, notice)


@pytest.mark.parametrize(
    "value", [*ADVERSARIAL_OBJECTS, Notice("hello")], ids=range(len(ADVERSARIAL_OBJECTS) + 1)
)
def test_pickle_reads_back_equal_on_every_route(value: Any) -> None:
    """Pickled objects (base64, never escaped) are read back equal on all three routes."""
    read = _read_back(_registry(PickleSerializer(allow_unpickling=True)), value)

    assert {route: obj for route, (obj, _) in read.items()} == dict.fromkeys(ROUTES, value)
