"""Serializers and the registry that picks one per message type."""

from melange.serializers.base import Serializer
from melange.serializers.json import JsonSerializer
from melange.serializers.pickle import PickleSerializer
from melange.serializers.registry import Serialized, SerializerRegistry
from melange.serializers.typed_json import TypedJsonSerializer

__all__ = [
    "JsonSerializer",
    "PickleSerializer",
    "Serialized",
    "Serializer",
    "SerializerRegistry",
    "TypedJsonSerializer",
]
