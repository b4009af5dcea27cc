"""Serializers and the registry that picks one per message type.

``PydanticSerializer`` (the ``pydantic`` extra) is loaded on first use, so importing
melange never imports its module; pydantic itself is imported only when one is made.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from melange.serializers.base import Serializer
from melange.serializers.json import JsonSerializer
from melange.serializers.pickle import PickleSerializer
from melange.serializers.registry import Serialized, SerializerRegistry
from melange.serializers.typed_json import TypedJsonSerializer

if TYPE_CHECKING:
    from melange.serializers.pydantic import PydanticSerializer as PydanticSerializer

__all__ = [
    "JsonSerializer",
    "PickleSerializer",
    "PydanticSerializer",
    "Serialized",
    "Serializer",
    "SerializerRegistry",
    "TypedJsonSerializer",
]

_LAZY = {"PydanticSerializer": "melange.serializers.pydantic"}


# Type checkers see the names above and nothing else: a misspelled name is an error
# for them, not an ``Any`` from ``__getattr__``.
if not TYPE_CHECKING:

    def __getattr__(name: str) -> Any:
        if name in _LAZY:
            return getattr(importlib.import_module(_LAZY[name]), name)
        raise AttributeError(f"module 'melange.serializers' has no attribute {name!r}")
