"""Message types that supply their own message attributes (``melange_attributes``)."""

from __future__ import annotations

from collections.abc import Mapping

import attrs
import pytest

from melange import QueuePublisher, TopicPublisher, wire
from melange.backends import InMemoryBackend
from melange.exceptions import MessageAttributeError
from melange.messages import AttributeValue, Envelope, SendOptions
from melange.publishing.core import build_message
from melange.serializers import SerializerRegistry, TypedJsonSerializer


@attrs.frozen
class OrderPlaced:
    """An event whose region and amount travel as message attributes too."""

    order_id: int
    region: str
    amount: int = 10
    coupon: str | None = None

    def melange_attributes(self) -> Mapping[str, AttributeValue | None]:
        """Expose what subscribers filter on."""
        return {"region": self.region, "amount": self.amount, "coupon": self.coupon}


@attrs.frozen
class Reserved:
    """A message type that (wrongly) supplies one of melange's own attribute names."""

    order_id: int

    def melange_attributes(self) -> Mapping[str, AttributeValue]:
        """Supply a reserved name."""
        return {"message_id": "mine"}


@attrs.frozen
class Flagged:
    """A message type whose attribute value has a type SQS cannot carry."""

    urgent: bool

    def melange_attributes(self) -> Mapping[str, object]:
        """Supply a bool, which is not a message attribute type."""
        return {"urgent": self.urgent}


@attrs.frozen
class NotAMapping:
    """A message type whose melange_attributes returns a list."""

    order_id: int

    def melange_attributes(self) -> list[str]:
        """Return the wrong shape."""
        return ["region"]


@pytest.fixture(name="registry")
def fixture_registry() -> SerializerRegistry:
    """Give a registry with typed JSON for every type."""
    return SerializerRegistry(
        {"serializers": {"typed_json": TypedJsonSerializer}, "default": "typed_json"}
    )


@pytest.fixture(name="backend")
def fixture_backend() -> InMemoryBackend:
    """Give a backend with topic order-events, filtered by region into two queues."""
    backend = InMemoryBackend()
    backend.declare_queue("eu-orders", topics=["order-events"], filter_policy={"region": ["eu"]})
    backend.declare_queue("us-orders", topics=["order-events"], filter_policy={"region": ["us"]})
    return backend


def received(backend: InMemoryBackend, queue: str) -> list[Envelope]:
    """Receive, acknowledge and unwrap what ``queue`` holds now."""
    messages = backend.receive(queue, max_messages=10)
    backend.acknowledge(queue, [m.receipt_handle for m in messages])
    return [wire.unwrap(m) for m in messages]


def test_a_typed_message_reaches_only_the_queue_whose_filter_policy_its_attribute_passes(
    registry: SerializerRegistry, backend: InMemoryBackend
) -> None:
    """publish(topic, order) with no attributes= delivers by the order's own region."""
    publisher = TopicPublisher(registry, backend)

    publisher.publish("order-events", OrderPlaced(1, "eu"))
    publisher.publish_many("order-events", [OrderPlaced(2, "us"), OrderPlaced(3, "eu")])

    eu, us = received(backend, "eu-orders"), received(backend, "us-orders")
    assert sorted(registry.deserialize_envelope(e).order_id for e in eu) == [1, 3]
    assert [registry.deserialize_envelope(e).order_id for e in us] == [2]
    assert {e.attributes["region"] for e in eu} == {"eu"}
    assert eu[0].attributes["amount"] == 10


def test_the_queue_publisher_sends_the_types_attributes_too(
    registry: SerializerRegistry, backend: InMemoryBackend
) -> None:
    """A direct queue publish carries the message's own attributes, a None one left out."""
    backend.declare_queue("orders")

    QueuePublisher(registry, backend).publish("orders", OrderPlaced(1, "eu", amount=5))

    [envelope] = received(backend, "orders")
    assert {k: envelope.attributes[k] for k in ("region", "amount")} == {
        "region": "eu",
        "amount": 5,
    }
    assert "coupon" not in envelope.attributes


def test_explicit_attributes_win_per_name(
    registry: SerializerRegistry, backend: InMemoryBackend
) -> None:
    """attributes={"region": "us"} overrides the type's region and keeps its other attributes."""
    publisher = TopicPublisher(registry, backend)

    publisher.publish("order-events", OrderPlaced(1, "eu"), attributes={"region": "us"})

    assert received(backend, "eu-orders") == []
    [envelope] = received(backend, "us-orders")
    assert envelope.attributes["region"] == "us"
    assert envelope.attributes["amount"] == 10


@pytest.mark.parametrize(
    ("message", "attribute"), [(Reserved(1), "message_id"), (Flagged(True), "urgent")]
)
def test_an_attribute_that_cannot_travel_is_refused_naming_the_type(
    registry: SerializerRegistry, backend: InMemoryBackend, message: object, attribute: str
) -> None:
    """A reserved name or a bool from melange_attributes is refused, naming the type."""
    with pytest.raises(MessageAttributeError) as caught:
        TopicPublisher(registry, backend).publish("order-events", message)

    assert type(message).__qualname__ in str(caught.value)
    assert caught.value.message_type is type(message)
    assert caught.value.name == attribute
    assert backend.message_count("eu-orders") == backend.message_count("us-orders") == 0


def test_too_many_attributes_name_the_type_that_supplied_them(
    registry: SerializerRegistry,
) -> None:
    """Six explicit, two of the type's and melange's three exceed SQS's ten: names the type."""
    explicit = {f"a{i}": i for i in range(6)}

    with pytest.raises(MessageAttributeError) as caught:
        build_message(registry, OrderPlaced(1, "eu"), SendOptions(), explicit)

    assert "OrderPlaced.melange_attributes()" in str(caught.value)
    assert caught.value.message_type is OrderPlaced


@attrs.frozen
class AsProperty:
    """A message type that made melange_attributes a property rather than a method."""

    region: str

    @property
    def melange_attributes(self) -> dict[str, str]:
        """Look like the method, without being one."""
        return {"region": self.region}


@pytest.mark.parametrize(
    ("message", "gave"), [(NotAMapping(1), "list"), (AsProperty("eu"), "property")]
)
def test_a_melange_attributes_that_is_no_method_giving_a_mapping_is_refused(
    registry: SerializerRegistry, message: object, gave: str
) -> None:
    """A method returning a list, or a property, is a MessageAttributeError naming the type."""
    expected = rf"{type(message).__qualname__}\.melange_attributes gave {gave}"
    with pytest.raises(MessageAttributeError, match=expected) as caught:
        build_message(registry, message, SendOptions())

    assert caught.value.message_type is type(message)
