"""Unit tests for SerializerRegistry: configuration, type bindings and identifiers."""

from __future__ import annotations

import collections
import typing
from typing import Any

import attrs
import pytest

from melange.exceptions import (
    ConfigurationError,
    Problem,
    SerializationError,
    SerializerConfigurationError,
    SerializerNotFoundError,
)
from melange.messages import Envelope
from melange.serializers import (
    JsonSerializer,
    PickleSerializer,
    Serialized,
    SerializerRegistry,
    TypedJsonSerializer,
)


class Base:
    pass


class Child(Base):
    pass


class GrandChild(Child):
    def __eq__(self, other: object) -> bool:
        return type(other) is GrandChild

    __hash__ = object.__hash__


class Unrelated:
    pass


@attrs.frozen
class OrderPlaced:
    order_id: int


@pytest.fixture(name="registry")
def fixture_registry() -> SerializerRegistry:
    """A registry with JSON, allowed pickle and typed JSON, JSON as the default."""
    return SerializerRegistry(
        {
            "serializers": {
                "json": JsonSerializer,
                "pickle": PickleSerializer(allow_unpickling=True),
                "typed": TypedJsonSerializer,
            },
            "serializer_bindings": {
                Base: "json",
                Child: "pickle",
                OrderPlaced: "typed",
                typing.Dict: "json",  # noqa: UP006 -- melange 7 configurations bind typing aliases
            },
            "default": "json",
        }
    )


@pytest.fixture(name="registry_without_default")
def fixture_registry_without_default() -> SerializerRegistry:
    """A registry with two serializers, dict bound to JSON and no default."""
    return SerializerRegistry(
        {
            "serializers": {"json": JsonSerializer, "pickle": PickleSerializer},
            "serializer_bindings": {dict: "json"},
        }
    )


def test_serializers_accept_classes_and_instances(registry: SerializerRegistry) -> None:
    """Configured classes are instantiated and configured instances are used as they are."""
    serializers = registry.serializers

    assert set(serializers) == {"json", "pickle", "typed"}
    assert isinstance(serializers["json"], JsonSerializer)
    assert isinstance(serializers["typed"], TypedJsonSerializer)
    pickle_serializer = serializers["pickle"]
    assert isinstance(pickle_serializer, PickleSerializer)
    assert pickle_serializer.allow_unpickling


def test_single_serializer_is_the_default() -> None:
    """With one configured serializer and no 'default', that serializer is the default."""
    registry = SerializerRegistry({"serializers": {"json": JsonSerializer}})

    assert isinstance(registry.serializer_for(Unrelated), JsonSerializer)
    assert registry.deserialize("[1]", serializer_id=None, manifest=None) == [1]


def test_most_specific_class_in_the_mro_wins(registry: SerializerRegistry) -> None:
    """A subclass gets the serializer bound to its nearest bound ancestor."""
    assert isinstance(registry.serializer_for(Base), JsonSerializer)
    assert isinstance(registry.serializer_for(Child), PickleSerializer)
    assert isinstance(registry.serializer_for(GrandChild), PickleSerializer)


def test_unbound_type_gets_the_default(registry: SerializerRegistry) -> None:
    """A type with no bound class in its MRO gets the default serializer."""
    assert registry.serializer_for(Unrelated) is registry.serializers["json"]


def test_typing_dict_binding_binds_dict(registry_without_default: SerializerRegistry) -> None:
    """A typing.Dict binding applies to dict and its subclasses."""
    registry = SerializerRegistry(
        {
            "serializers": {"json": JsonSerializer, "pickle": PickleSerializer},
            "serializer_bindings": {typing.Dict: "pickle"},  # noqa: UP006 -- the point of the test
        }
    )

    assert isinstance(registry.serializer_for(dict), PickleSerializer)
    assert isinstance(registry.serializer_for(collections.OrderedDict), PickleSerializer)
    assert isinstance(registry_without_default.serializer_for(dict), JsonSerializer)


def test_typed_json_learns_the_classes_bound_to_it(registry: SerializerRegistry) -> None:
    """Classes bound to a TypedJsonSerializer are registered with it for deserialization."""
    typed = registry.serializers["typed"]

    assert isinstance(typed, TypedJsonSerializer)
    assert OrderPlaced in typed.known_types


def test_duplicate_identifiers_are_refused() -> None:
    """Two serializers with the same identifier raise SerializerConfigurationError naming both."""
    config = {"serializers": {"json": JsonSerializer, "also-json": JsonSerializer()}}

    with pytest.raises(SerializerConfigurationError, match="'json' and 'also-json'") as info:
        SerializerRegistry(config)
    assert isinstance(info.value, SerializationError)
    assert isinstance(info.value, ConfigurationError)
    assert [(p.setting, p.value) for p in info.value.problems] == [("JsonSerializer.identifier", 1)]


def test_binding_to_an_unknown_name_is_refused() -> None:
    """A binding to a serializer name that is not configured names that serializer."""
    config = {"serializers": {"json": JsonSerializer}, "serializer_bindings": {Base: "msgpack"}}

    with pytest.raises(SerializerConfigurationError, match="'msgpack'") as info:
        SerializerRegistry(config)
    assert info.value.problems == (Problem("serializer_bindings[Base]", "msgpack", "one of json"),)


def test_unknown_default_is_refused() -> None:
    """A default that names no configured serializer raises SerializerConfigurationError."""
    config = {"serializers": {"json": JsonSerializer}, "default": "pickle"}

    with pytest.raises(SerializerConfigurationError, match="'pickle'"):
        SerializerRegistry(config)


def test_unknown_config_key_is_refused() -> None:
    """A configuration key the registry does not know raises SerializerConfigurationError."""
    config = {"serializers": {"json": JsonSerializer}, "serializer_binding": {}}

    with pytest.raises(SerializerConfigurationError, match="'serializer_binding'"):
        SerializerRegistry(config)


@pytest.mark.parametrize("serializer", [dict, "json", JsonSerializer.serialize])
def test_non_serializer_is_refused(serializer: Any) -> None:
    """A configured value that is neither a Serializer class nor instance is refused."""
    with pytest.raises(SerializerConfigurationError, match="'broken'"):
        SerializerRegistry({"serializers": {"broken": serializer}})


def test_no_binding_and_no_default_names_the_type_and_bound_classes(
    registry_without_default: SerializerRegistry,
) -> None:
    """An unbound type with no default raises SerializerNotFoundError naming it and the bound."""
    with pytest.raises(SerializerNotFoundError) as info:
        registry_without_default.serializer_for(Unrelated)

    message = str(info.value)
    assert "'Unrelated'" in message
    assert "'dict'" in message
    assert info.value.message_type is Unrelated
    assert info.value.bound_types == (dict,)


def test_unknown_serializer_id_is_refused(registry: SerializerRegistry) -> None:
    """An identifier no configured serializer has raises SerializerNotFoundError naming it."""
    with pytest.raises(SerializerNotFoundError, match="identifier 99") as info:
        registry.serializer_by_id(99)
    assert info.value.serializer_id == 99


def test_serializer_by_id_finds_each_configured_serializer(registry: SerializerRegistry) -> None:
    """Each configured serializer is found by its identifier."""
    for serializer in registry.serializers.values():
        assert registry.serializer_by_id(serializer.identifier) is serializer


@pytest.mark.parametrize(
    ("value", "serializer_id"),
    [
        ({"a": [1, 2.5, None]}, JsonSerializer.identifier),
        (["unbound", 1], JsonSerializer.identifier),
        (GrandChild(), PickleSerializer.identifier),
        (OrderPlaced(order_id=7), TypedJsonSerializer.identifier),
    ],
    ids=["dict", "default", "pickle", "typed"],
)
def test_serialize_deserialize_round_trip(
    registry: SerializerRegistry, value: Any, serializer_id: int
) -> None:
    """Serializing through the registry and deserializing what it wrote gives the value back."""
    serialized = registry.serialize(value)

    assert isinstance(serialized, Serialized)
    assert serialized.serializer_id == serializer_id
    rebuilt = registry.deserialize(
        serialized.content, serializer_id=serialized.serializer_id, manifest=serialized.manifest
    )
    assert rebuilt == value


def test_deserialize_without_serializer_id_uses_the_default(registry: SerializerRegistry) -> None:
    """Content without a serializer_id (older producers) is read by the default serializer."""
    assert registry.deserialize('{"a": 1}', serializer_id=None, manifest=None) == {"a": 1}


def test_deserialize_without_serializer_id_or_default_is_refused(
    registry_without_default: SerializerRegistry,
) -> None:
    """Content without a serializer_id and no default raises SerializerNotFoundError."""
    with pytest.raises(SerializerNotFoundError, match="'legacy'"):
        registry_without_default.deserialize("{}", serializer_id=None, manifest="legacy")


def test_deserialize_with_unknown_serializer_id_is_refused(registry: SerializerRegistry) -> None:
    """Content with an identifier no serializer has raises SerializerNotFoundError."""
    with pytest.raises(SerializerNotFoundError, match="identifier 42"):
        registry.deserialize("{}", serializer_id=42, manifest=None)


def test_deserialize_envelope_reads_content_with_its_serializer(
    registry: SerializerRegistry,
) -> None:
    """An envelope's content is rebuilt by the serializer its serializer_id names."""
    serialized = registry.serialize(OrderPlaced(order_id=3))
    envelope = Envelope(serialized.content, serialized.manifest, serialized.serializer_id)

    assert registry.deserialize_envelope(envelope) == OrderPlaced(order_id=3)
