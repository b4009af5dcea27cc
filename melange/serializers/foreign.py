"""Foreign messages: JSON that no melange serializer wrote, read as the class a queue names.

A foreign message carries neither ``serializer_id`` nor ``manifest``: a Node.js service's
plain JSON, an S3 event notification, an EventBridge event. By default the registry's
default serializer reads it (``json``: a dict). A queue that names how to read its foreign
messages (``Subscription(..., foreign=S3EventNotification)``, or ``foreign=`` of a
dispatcher) has them parsed as JSON and then:

- an attrs class or dataclass: structured by the registry's ``TypedJsonSerializer`` (its
  cattrs converter, with the application's hooks);
- a pydantic model: validated by the model (``model_validate_json``);
- anything else callable (a function, a plain class): called with the parsed JSON value,
  and what it returns is the message.

``foreign_reader`` checks once, when a dispatcher is built, that the registry can do so.
"""

from __future__ import annotations

import json
import sys
import types
import typing
from collections.abc import Callable
from typing import Any

from melange.exceptions import DeserializationError, Problem, SerializerConfigurationError
from melange.serializers.base import Serializer
from melange.serializers.registry import SerializerRegistry
from melange.serializers.typed_json import is_record_type

__all__ = ["Foreign", "ForeignReader", "foreign_reader", "foreign_types", "is_message_class"]

#: How a queue reads its foreign messages: a class, or a function of the parsed JSON.
Foreign = Callable[[Any], object]
#: Reads a foreign message's content (its text) into the message handlers receive.
ForeignReader = Callable[[str], Any]


def is_pydantic_model(cls: object) -> bool:
    """Return whether ``cls`` is a pydantic model class (without importing pydantic)."""
    pydantic = sys.modules.get("pydantic")  # a model exists only once pydantic is imported
    return pydantic is not None and isinstance(cls, type) and issubclass(cls, pydantic.BaseModel)


def is_message_class(cls: object) -> bool:
    """Return whether ``cls`` is a class a typed serializer rebuilds: attrs, dataclass, pydantic."""
    return isinstance(cls, type) and (is_record_type(cls) or is_pydantic_model(cls))


def foreign_types(foreign: Foreign) -> tuple[type, ...] | None:
    """Return the classes foreign messages read by ``foreign`` may be; ``None``: unknown.

    A class gives itself; a function, the classes its return annotation names (``->
    Upload | TestEvent``); a function without one, or annotated ``Any`` or ``object``,
    ``None``.
    """
    if isinstance(foreign, type):
        return (foreign,)
    try:
        returned = typing.get_type_hints(foreign).get("return")
    except Exception:  # annotations that do not resolve say nothing usable
        return None
    if returned is None or returned is Any or returned is object:
        return None
    members = typing.get_args(returned) if _is_union(returned) else (returned,)
    return tuple(typing.get_origin(m) or m for m in members if isinstance(m, type))


def _is_union(annotation: object) -> bool:
    return isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union


def foreign_reader(foreign: Foreign | None, registry: SerializerRegistry) -> ForeignReader | None:
    """Return what reads a foreign message's content as ``foreign`` says (``None``: nothing).

    Raises:
        SerializerConfigurationError: ``foreign`` is an attrs class or dataclass that no
            serializer of the registry structures, or that several do and no binding
            chooses one.
    """
    if foreign is None:
        return None
    name = getattr(foreign, "__qualname__", repr(foreign))
    if is_pydantic_model(foreign):
        return _pydantic_reader(foreign)
    if isinstance(foreign, type) and is_record_type(foreign):
        serializer = _structuring_serializer(foreign, registry)
        structure: Callable[[Any, type], Any] = serializer.structure  # type: ignore[attr-defined]
        return lambda content: structure(_parsed(content, name), foreign)

    def call(content: str) -> Any:
        value = _parsed(content, name)
        try:
            return foreign(value)
        except Exception as exc:
            raise DeserializationError(
                f"foreign message could not be read by {name}: {type(exc).__name__}: {exc}"
            ) from exc

    return call


def _pydantic_reader(model: Any) -> ForeignReader:
    from melange.serializers.pydantic import validated

    return lambda content: validated(model, content)


def _parsed(content: str, name: str) -> Any:
    try:
        return json.loads(content)
    except ValueError as exc:
        # A JSONDecodeError says what was expected and where, without quoting the text.
        raise DeserializationError(
            f"foreign message of {len(content)} characters is not JSON ({exc}), so it cannot "
            f"be read as {name}"
        ) from None


def _structuring_serializer(cls: type, registry: SerializerRegistry) -> Serializer:
    """Return the registry's serializer that structures ``cls``: bound, default or the only one."""
    able = [s for s in registry.register(cls) if callable(getattr(s, "structure", None))]
    for preferred in (registry.bound_serializer(cls), registry.default):
        if preferred is not None and preferred in able:
            return preferred
    if len(able) == 1:
        return able[0]
    names = [name for name, s in registry.serializers.items() if s in able]
    if names:
        problem = (
            f"serializers {', '.join(map(repr, names))} can all structure it; bind "
            f"{cls.__qualname__} to the one to use in serializer_bindings"
        )
    else:
        problem = (
            "no serializer of the registry structures it; add TypedJsonSerializer (a graph "
            "has it as 'typed_json'), or bind the class to it in serializer_bindings"
        )
    raise SerializerConfigurationError(
        f"foreign messages are to be read as {cls.__qualname__}, but {problem}",
        problems=[Problem("foreign", cls.__qualname__, "a class one serializer structures")],
    )
