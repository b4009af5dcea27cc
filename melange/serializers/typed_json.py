"""Typed JSON for attrs classes and dataclasses, built on cattrs.

The manifest is ``module:QualifiedName``. Only classes the serializer knows are rebuilt:
those passed to it, bound to it in the registry, or serialized by it in this process.
A manifest never makes melange import a module, so a message cannot choose what code
is loaded.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, ClassVar

import attrs

from melange.exceptions import DeserializationError, SerializationError
from melange.serializers.base import Serializer
from melange.serializers.json import unserializable_part

if TYPE_CHECKING:
    import cattrs

__all__ = ["TypedJsonSerializer"]


def make_converter_for_messages() -> cattrs.Converter:
    """Return cattrs' JSON converter, taught UUIDs and Decimals (as exact strings)."""
    # Imported here: cattrs costs tens of milliseconds, and only typed JSON needs it.
    from cattrs.preconf.json import make_converter

    converter = make_converter()
    converter.register_unstructure_hook(uuid.UUID, str)
    converter.register_structure_hook(uuid.UUID, lambda value, _: uuid.UUID(str(value)))
    converter.register_unstructure_hook(Decimal, str)
    converter.register_structure_hook(Decimal, _structure_decimal)
    return converter


def _structure_decimal(value: object, _: type) -> Decimal:
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a decimal number") from None


def _validation_error() -> type[Exception]:
    from cattrs import BaseValidationError

    return BaseValidationError


def _structuring_problems(exc: BaseException) -> list[str]:
    """Return what cattrs found wrong, each as ``problem @ $.path``, without any value.

    cattrs' own formatter quotes some exceptions' text (``invalid type (...)``), which
    can hold the content; this one names only the expected type.
    """
    from cattrs.v import transform_error

    return transform_error(exc, format_exception=_describe_problem) or ["invalid content @ $"]


def _describe_problem(exc: BaseException, expected: type | None) -> str:
    if isinstance(exc, KeyError):
        return "required field missing"
    if isinstance(exc, ValueError | TypeError) and expected is not None:
        return f"invalid value for type, expected {getattr(expected, '__name__', expected)}"
    return f"invalid value ({type(exc).__name__})"


def is_record_type(cls: type) -> bool:
    """Return whether ``cls`` is an attrs class or a dataclass."""
    return attrs.has(cls) or dataclasses.is_dataclass(cls)


def type_manifest(cls: type) -> str:
    """Return the manifest naming ``cls``: ``module:QualifiedName``."""
    return f"{cls.__module__}:{cls.__qualname__}"


class TypedJsonSerializer(Serializer):
    """Serializes attrs classes and dataclasses to JSON and rebuilds the same type.

    Nested attrs/dataclass fields, datetimes (ISO 8601), enums, UUIDs, Decimals (as exact
    strings), sets and the other types of cattrs' JSON converter round-trip. Errors name
    the class and the field (``$.lines[0].quantity``), never a value: values may be
    personal data, and errors end up in logs.

    Args:
        types: classes this serializer may rebuild from received messages.
        converter: a cattrs converter with the application's own hooks; defaults to
            cattrs' preconfigured JSON converter.
    """

    identifier: ClassVar[int] = 3

    def __init__(
        self, types: Iterable[type] = (), *, converter: cattrs.Converter | None = None
    ) -> None:
        self._converter = converter or make_converter_for_messages()
        self._types: dict[str, type] = {}
        self.register(*types)

    def register(self, *types: type) -> None:
        """Allow these attrs classes or dataclasses to be rebuilt from messages."""
        for cls in types:
            if not is_record_type(cls):
                raise SerializationError(
                    f"TypedJsonSerializer cannot handle {cls!r}: it is neither an attrs "
                    "class nor a dataclass; decorate it or bind it to JsonSerializer"
                )
            self._types[type_manifest(cls)] = cls

    @property
    def known_types(self) -> tuple[type, ...]:
        """The classes this serializer can rebuild."""
        return tuple(self._types.values())

    def manifest(self, data: Any) -> str:
        """Return ``module:QualifiedName`` of the object's class."""
        return type_manifest(type(data))

    def serialize(self, data: Any) -> str:
        """Return ``data`` as JSON text, remembering its class for deserialization."""
        cls = type(data)
        if type_manifest(cls) not in self._types:
            self.register(cls)
        try:
            unstructured = self._converter.unstructure(data, cls)
        except (TypeError, ValueError) as exc:
            raise SerializationError(
                f"TypedJsonSerializer cannot unstructure {cls.__qualname__}: cattrs raised "
                f"{type(exc).__name__} (chained); check the unstructure hooks of its fields"
            ) from exc
        try:
            return json.dumps(unstructured, separators=(",", ":"))
        except (TypeError, ValueError) as exc:
            # json's own messages name a type at most, never a value, so chaining is safe.
            part = unserializable_part(unstructured, allow_nan=True) or "a circular reference"
            raise SerializationError(
                f"TypedJsonSerializer cannot serialize {cls.__qualname__}: it holds {part}; "
                "register a cattrs unstructure hook for that field's type"
            ) from exc

    def deserialize(self, data: str, manifest: str | None = None) -> Any:
        """Return an instance of the class ``manifest`` names, built from ``data``."""
        cls = self._types.get(manifest or "")
        if cls is None:
            raise DeserializationError(
                f"unknown manifest {manifest!r}; TypedJsonSerializer knows "
                f"{sorted(self._types)!r}: pass the class in TypedJsonSerializer(types=[...]) "
                "or bind it in serializer_bindings",
                manifest=manifest,
            )
        try:
            raw = json.loads(data)
        except ValueError as exc:
            # A JSONDecodeError says what was expected and where, without quoting the text.
            raise DeserializationError(
                f"content of {len(data)} characters for {cls.__qualname__} (manifest "
                f"{manifest!r}) is not valid JSON ({exc})",
                manifest=manifest,
            ) from None
        return self._structured(raw, cls, manifest)

    def structure(self, value: Any, cls: type) -> Any:
        """Return ``value``, JSON as ``json.loads`` gives it, as an instance of ``cls``.

        How a foreign message (another producer's JSON, an AWS service's event) becomes
        the attrs class or dataclass a queue reads it as, with this serializer's converter.

        Raises:
            DeserializationError: ``value`` does not fit ``cls``; the error names the class
                and the field (``$.Records[0].s3``), never a value.
        """
        return self._structured(value, cls, None)

    def _structured(self, raw: Any, cls: type, manifest: str | None) -> Any:
        try:
            return self._converter.structure(raw, cls)
        except (ValueError, TypeError, KeyError, _validation_error()) as exc:
            # The chained errors would quote the content (int('...')), so they are dropped.
            named = "" if manifest is None else f" (manifest {manifest!r})"
            raise DeserializationError(
                f"content does not structure into {cls.__qualname__}{named}: "
                f"{'; '.join(_structuring_problems(exc))}",
                manifest=manifest,
            ) from None
