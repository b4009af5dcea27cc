"""A mixed melange 7.x / 8 fleet: the opt-in publishing guard, and 8 reading 7.x messages.

melange 7.x code is never run or copied here: what 7.2 writes is built by hand from its
documented layout (docs/wire-format.md), and what it reads is stated there.
"""

from __future__ import annotations

import base64
import json
import pickle
from typing import Any, ClassVar

import attrs
import pinject
import pytest

from bindings import MelangeBindingSpec, new_object_graph
from melange import Consumer, MessageDispatcher, QueuePublisher, TopicPublisher, wire
from melange.backends import InMemoryBackend
from melange.exceptions import NotReadableByMelange7Error, SerializationError
from melange.serializers import (
    JsonSerializer,
    PickleSerializer,
    Serializer,
    SerializerRegistry,
    TypedJsonSerializer,
)
from melange.settings import load_settings


@attrs.frozen
class OrderPlaced:
    """An event bound to typed JSON (serializer id 3)."""

    order_id: int


class UpperSerializer(Serializer):
    """An application serializer with its own identifier."""

    identifier: ClassVar[int] = 100

    def serialize(self, data: Any) -> str:
        """Return the text upper-cased."""
        return str(data).upper()

    def deserialize(self, data: str, manifest: str | None = None) -> Any:
        """Return the text lower-cased."""
        return data.lower()


class Tag(str):
    """A str subclass the registry binds to UpperSerializer."""


@pytest.fixture(name="registry")
def fixture_registry() -> SerializerRegistry:
    """Give json (default), pickle, typed_json and an application serializer."""
    return SerializerRegistry(
        {
            "serializers": {
                "json": JsonSerializer,
                "pickle": PickleSerializer(allow_unpickling=True),
                "typed_json": TypedJsonSerializer,
                "upper": UpperSerializer,
            },
            "serializer_bindings": {OrderPlaced: "typed_json", Tag: "upper", set: "pickle"},
            "default": "json",
        }
    )


@pytest.fixture(name="backend")
def fixture_backend() -> InMemoryBackend:
    """Give a backend with queue 'q' subscribed to topic 't'."""
    backend = InMemoryBackend()
    backend.declare_queue("q", topics=["t"])
    return backend


def _publishers(
    registry: SerializerRegistry, backend: InMemoryBackend
) -> list[tuple[QueuePublisher | TopicPublisher, str]]:
    return [
        (QueuePublisher(registry, backend, readable_by_melange7=True), "q"),
        (TopicPublisher(registry, backend, readable_by_melange7=True), "t"),
    ]


@pytest.mark.parametrize(
    ("data", "serializer_id"), [(OrderPlaced(42), 3), (Tag("x"), 100)], ids=["typed", "app"]
)
def test_serializers_melange7_lacks_are_refused(
    registry: SerializerRegistry, backend: InMemoryBackend, data: Any, serializer_id: int
) -> None:
    """With readable_by_melange7, serializer ids other than 1 and 2 are refused before sending."""
    for publisher, destination in _publishers(registry, backend):
        with pytest.raises(NotReadableByMelange7Error, match=f"serializer_id {serializer_id}"):
            publisher.publish(destination, data)
        with pytest.raises(NotReadableByMelange7Error) as info:
            publisher.publish_many(destination, [{"fine": 1}, data])
        assert (info.value.destination, info.value.serializer_id) == (destination, serializer_id)
        assert info.value.manifest == registry.serialize(data).manifest
        assert "bind the type to 'json' or 'pickle'" in str(info.value)
        assert isinstance(info.value, SerializationError)
    assert backend.message_count("q") == 0


@pytest.mark.parametrize(
    "data",
    [{"Message": "hello"}, {"Type": "Notification", "TopicArn": "arn", "Message": "{}"}],
    ids=["message-key", "notification-shaped"],
)
def test_topic_content_melange7_would_misread_is_refused(
    registry: SerializerRegistry, backend: InMemoryBackend, data: Any
) -> None:
    """A JSON object with a "Message" key is refused for a topic but sent to a queue."""
    topic = TopicPublisher(registry, backend, readable_by_melange7=True)
    queue = QueuePublisher(registry, backend, readable_by_melange7=True)

    with pytest.raises(NotReadableByMelange7Error, match="'Message' key") as info:
        topic.publish("t", data)
    with pytest.raises(NotReadableByMelange7Error):
        topic.publish_many("t", [{"fine": 1}, data])
    assert backend.message_count("q") == 0
    assert info.value.serializer_id == 1

    queue.publish("q", data)
    assert backend.message_count("q") == 1


@pytest.mark.parametrize(
    "data",
    [{"a": 1}, [1, "Message"], "text", 5, None, {"Message", "a set, pickled"}],
    ids=["object", "list", "string", "number", "null", "pickle"],
)
def test_what_melange7_reads_still_passes(
    registry: SerializerRegistry, backend: InMemoryBackend, data: Any
) -> None:
    """JSON without a "Message" key and pickle are published to queues and topics alike."""
    for publisher, destination in _publishers(registry, backend):
        publisher.publish(destination, data)
        publisher.publish_many(destination, [data, data])

    assert backend.message_count("q") == 6


def test_the_guard_is_off_by_default(
    registry: SerializerRegistry, backend: InMemoryBackend
) -> None:
    """Without readable_by_melange7, typed JSON and escaped content are published."""
    QueuePublisher(registry, backend).publish("q", OrderPlaced(1))
    TopicPublisher(registry, backend).publish("t", {"Message": "hello"})

    assert backend.message_count("q") == 2


class AppBindingSpec(pinject.BindingSpec):
    """Binds OrderPlaced to typed JSON."""

    def provide_melange_serializer_bindings(self) -> dict[type, str]:
        """Bind the application's event to typed JSON."""
        return {OrderPlaced: "typed_json"}


class Publishers:
    """Asks pinject for both publishers."""

    def __init__(self, queue_publisher: Any, topic_publisher: Any) -> None:
        self.queue_publisher = queue_publisher
        self.topic_publisher = topic_publisher


@pytest.mark.parametrize(("text", "expected"), [("true", True), ("false", False), ("", False)])
def test_the_setting_reaches_both_publishers(text: str, expected: bool) -> None:
    """MELANGE_READABLE_BY_MELANGE7 turns the guard on for the graph's two publishers."""
    environ = {"MELANGE_READABLE_BY_MELANGE7": text} if text else {}
    graph = new_object_graph(
        binding_specs=[AppBindingSpec()],
        classes=[Publishers],
        melange=MelangeBindingSpec(environ=environ),
    )

    publishers = graph.provide(Publishers)

    assert load_settings(environ=environ).readable_by_melange7 is expected
    assert publishers.queue_publisher.readable_by_melange7 is expected
    assert publishers.topic_publisher.readable_by_melange7 is expected


# --- melange 8 reads what melange 7.2 writes ---------------------------------------------


def _handled(registry: SerializerRegistry, backend: InMemoryBackend) -> list[Any]:
    handled: list[Any] = []
    MessageDispatcher(
        registry, backend, consumers=[Consumer(handled.append, name="recorder")]
    ).process_available("q")
    return handled


def _melange7_attributes(serializer_id: int, manifest: str) -> dict[str, str | int]:
    # melange 7.2 sends manifest (String) and serializer_id (Number), and no message_id.
    return {"manifest": manifest, "serializer_id": serializer_id}


def _melange7_pickle(obj: Any) -> str:
    # melange 7.2's pickle content: base64 with a newline every 76 characters.
    return base64.encodebytes(pickle.dumps(obj)).decode()


@pytest.mark.parametrize(
    ("content", "serializer_id", "manifest", "expected"),
    [
        (json.dumps({"Message": "x", "caf\u00e9": 1}), 1, "json", {"Message": "x", "caf\u00e9": 1}),
        (_melange7_pickle({"big": "x" * 500}), 2, "dict", {"big": "x" * 500}),
    ],
    ids=["json", "pickle"],
)
def test_melange7_queue_messages_are_read(
    registry: SerializerRegistry,
    backend: InMemoryBackend,
    content: str,
    serializer_id: int,
    manifest: str,
    expected: Any,
) -> None:
    """A 7.2 queue body {"Message": content} (ASCII JSON, no message_id) is read and handled."""
    body = json.dumps({"Message": content})
    backend.send_raw("q", body, _melange7_attributes(serializer_id, manifest))

    (received,) = backend.receive("q")
    assert wire.unwrap(received).message_id == received.broker_message_id
    backend.change_visibility("q", [received.receipt_handle], 0)
    assert _handled(registry, backend) == [expected]


@pytest.mark.parametrize(
    ("content", "serializer_id", "manifest", "expected"),
    [
        ('{"Message": "x"}', 1, "json", {"Message": "x"}),
        ('{"Message": "{\\"a\\": 1}"}', 1, "json", {"Message": '{"a": 1}'}),
        ("[1, 2]", 1, "json", [1, 2]),
        (_melange7_pickle({"Message"}), 2, "set", {"Message"}),
    ],
    ids=["message-key", "message-key-json-text", "list", "pickle"],
)
def test_melange7_topic_notifications_are_read(
    registry: SerializerRegistry,
    backend: InMemoryBackend,
    content: str,
    serializer_id: int,
    manifest: str,
    expected: Any,
) -> None:
    """A 7.2 topic publish, delivered as a notification, is read as it was, never unwrapped."""
    body = wire.sns_notification_body(
        topic_arn="arn:aws:sns:us-east-1:123456789012:t",
        sns_message_id="sns-id-1",
        message=content,
        attributes=_melange7_attributes(serializer_id, manifest),
    )
    backend.send_raw("q", body, {})

    (received,) = backend.receive("q")
    assert wire.unwrap(received).message_id == "sns-id-1"
    backend.change_visibility("q", [received.receipt_handle], 0)
    assert _handled(registry, backend) == [expected]
