"""JSON for pydantic v2 models (the ``pydantic`` extra), built on pydantic-core.

The manifest is ``module:QualifiedName``, as for ``TypedJsonSerializer``. Only models the
serializer knows are rebuilt: those passed to it, registered with it, or serialized by it
in this process. A manifest never makes melange import a module, so a message cannot
choose what code is loaded. pydantic itself is imported when a serializer is made, so
``import melange`` never imports it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, get_args

from melange.exceptions import (
    DeserializationError,
    Problem,
    SerializationError,
    SerializerConfigurationError,
)
from melange.serializers.base import Serializer
from melange.serializers.typed_json import type_manifest

if TYPE_CHECKING:
    from pydantic import BaseModel
    from pydantic.fields import FieldInfo
    from pydantic_core import PydanticSerializationError

__all__ = ["PydanticSerializer", "validated"]

#: How many of a ValidationError's problems a DeserializationError lists.
_MOST_PROBLEMS = 10

#: Built-in error types whose ``msg`` quotes nothing of the content although their
#: context has an ``error`` text: the JSON parser reports only a position.
_QUIET_CONTEXT_ERRORS = frozenset({"json_invalid"})

# What PydanticSerializationError's text says that is code, not data: field names and
# expected types. Its text also quotes the offending value, so only these parts are kept.
_FIELD_NAME = re.compile(r"field_name='(\w+)'")
_EXPECTED_TYPE = re.compile(r"Expected `([\w.\[\], |]+)`")
_UNKNOWN_TYPE = re.compile(r"unknown type: <class '([\w.<>]+)'>")


class PydanticSerializer(Serializer):
    """Serializes pydantic v2 models to JSON and rebuilds the same model class.

    Nested models, lists of models, datetimes (their UTC offset kept, as a fixed offset),
    enums, UUIDs, Decimals (as exact strings), optional fields and aliases round-trip:
    content is written by alias (``model_dump_json(by_alias=True, round_trip=True)``) and
    read by ``model_validate_json``, both in pydantic-core. Errors name the model and the
    field (``$.lines[0].quantity``), never a value: values may be personal data, and
    errors end up in logs.

    Each model's own configuration decides how it reads: ``extra`` is not overridden, so
    the model validates a message as it validates an HTTP body. With pydantic's default,
    ``extra="ignore"``, a consumer still on an older model reads messages from a producer
    that has added a field (a rolling deploy); ``extra="allow"`` round-trips the extra
    fields; ``extra="forbid"`` refuses them. A model whose field is written under a name
    its validation does not read (``serialization_alias`` alone) is refused when it is
    registered, since that field would come back missing or as its default.

    Args:
        types: pydantic model classes this serializer may rebuild from received messages.

    Raises:
        SerializerConfigurationError: pydantic 2 is not installed.
        SerializationError: a class in ``types`` is not a pydantic model, or has a field
            that would not read back.
    """

    identifier: ClassVar[int] = 4

    def __init__(self, types: Iterable[type] = ()) -> None:
        pydantic, pydantic_core = _import_pydantic()
        self._base_model: type[BaseModel] = pydantic.BaseModel
        self._dump_error: type[PydanticSerializationError] = (
            pydantic_core.PydanticSerializationError
        )
        self._types: dict[str, type[BaseModel]] = {}
        self.register(*types)

    def register(self, *types: type) -> None:
        """Allow these pydantic model classes to be rebuilt from messages.

        Raises:
            SerializationError: a class is not a pydantic model, or it or a model it
                nests writes a field under a name its validation does not read.
        """
        for cls in types:
            if not (isinstance(cls, type) and issubclass(cls, self._base_model)):
                raise SerializationError(
                    f"PydanticSerializer cannot handle {cls!r}: it is not a pydantic "
                    "BaseModel subclass; bind it to TypedJsonSerializer or JsonSerializer"
                )
            # Such a field would come back missing, or silently as its default.
            unreadable = unreadable_fields(cls, self._base_model)
            if unreadable:
                raise SerializationError(
                    f"PydanticSerializer cannot round-trip {cls.__qualname__}: "
                    f"{'; '.join(unreadable)}; give the field alias= (both ways) or make "
                    "its validation_alias accept its serialization_alias"
                )
            self._types[type_manifest(cls)] = cls

    @property
    def known_types(self) -> tuple[type, ...]:
        """The model classes this serializer can rebuild."""
        return tuple(self._types.values())

    def manifest(self, data: Any) -> str:
        """Return ``module:QualifiedName`` of the model's class."""
        return type_manifest(type(data))

    def serialize(self, data: Any) -> str:
        """Return the model ``data`` as JSON text, remembering its class for deserialization.

        Raises:
            SerializationError: ``data`` is not a pydantic model, or holds a value its
                field's type cannot write (named by field and type, not by value).
        """
        cls = type(data)
        if type_manifest(cls) not in self._types:
            self.register(cls)
        try:
            # warnings="error": a value that does not fit its field (assigned after
            # validation) would be written anyway with a warning quoting it, and then
            # fail on the consumer; refusing it here names the producer's bug instead.
            return str(data.model_dump_json(by_alias=True, round_trip=True, warnings="error"))
        except self._dump_error as exc:
            # pydantic's text quotes the offending value, so it is neither shown nor chained.
            raise SerializationError(
                f"PydanticSerializer cannot serialize {cls.__qualname__}: "
                f"{_dump_problem(str(exc))}; fix the value or give the field a serializer"
            ) from None

    def deserialize(self, data: str, manifest: str | None = None) -> Any:
        """Return an instance of the model class ``manifest`` names, validated from ``data``.

        Raises:
            DeserializationError: the manifest names no known model, or ``data`` does not
                validate as that model (each problem named by field, not by value).
        """
        cls = self._types.get(manifest or "")
        if cls is None:
            raise DeserializationError(
                f"unknown manifest {manifest!r}; PydanticSerializer knows "
                f"{sorted(self._types)!r}: pass the model in PydanticSerializer(types=[...]) "
                "or register it with PydanticSerializer.register",
                manifest=manifest,
            )
        return validated(cls, data, manifest)


def validated(model: type[BaseModel], data: str, manifest: str | None = None) -> BaseModel:
    """Return the JSON text ``data`` validated as ``model`` (``model_validate_json``).

    A foreign message read as a pydantic model (``foreign=`` of a ``Subscription``) is
    validated this way too, by the model's own configuration.

    Raises:
        DeserializationError: ``data`` does not validate; each problem named by field, not
            by value.
    """
    from pydantic import ValidationError

    try:
        return model.model_validate_json(data)
    except ValidationError as exc:
        # The chained error would quote the content (input_value=...), so it is dropped.
        errors = exc.errors(include_input=False, include_url=False)
        named = "" if manifest is None else f" (manifest {manifest!r})"
        raise DeserializationError(
            f"content does not validate as {model.__qualname__}{named}: "
            f"{validation_problems(errors)}",
            manifest=manifest,
        ) from None


def _import_pydantic() -> tuple[Any, Any]:
    """Return the pydantic and pydantic_core modules, or say how to install them."""
    # Imported here: pydantic costs tens of milliseconds, and only this serializer needs it.
    try:
        import pydantic
        import pydantic_core
    except ImportError:
        raise SerializerConfigurationError(
            "PydanticSerializer needs pydantic 2; install it with pip install 'melange[pydantic]'",
            problems=[Problem("melange[pydantic]", None, "pydantic 2 installed")],
        ) from None
    if not pydantic.VERSION.startswith("2."):
        raise SerializerConfigurationError(
            f"PydanticSerializer needs pydantic 2, found {pydantic.VERSION}; "
            "pip install 'melange[pydantic]'",
            problems=[Problem("melange[pydantic]", pydantic.VERSION, "pydantic 2 installed")],
        )
    return pydantic, pydantic_core


def unreadable_fields(model: type[BaseModel], base_model: type[BaseModel]) -> list[str]:
    """Name the fields of ``model`` and its nested models that validation would not read.

    Messages are written by alias and read by ``model_validate_json``, so a field written
    under a name its validation does not accept (``serialization_alias`` alone, say) would
    be lost. Models with their own ``model_serializer`` choose their keys: not checked.
    """
    found: list[str] = []
    pending, seen = [model], set()
    while pending:
        cls = pending.pop()
        if cls in seen or cls.__pydantic_decorators__.model_serializers:
            continue
        seen.add(cls)
        for name, field in cls.model_fields.items():
            pending.extend(_nested_models(field.annotation, base_model))
            written = field.serialization_alias or field.alias or name
            read = _names_read(name, field, cls.model_config)
            if read is not None and written not in read:
                found.append(
                    f"{cls.__qualname__}.{name} is written as {written!r} but read as "
                    f"{' or '.join(map(repr, sorted(read)))}"
                )
    return found


def _names_read(name: str, field: FieldInfo, config: Mapping[str, Any]) -> set[str] | None:
    """Return the keys validation accepts for a field; ``None`` for an ``AliasPath``."""
    by_alias = config.get("validate_by_alias", True)  # pydantic 2.11+
    by_name = not by_alias or config.get("populate_by_name") or config.get("validate_by_name")
    alias = field.validation_alias if field.validation_alias is not None else field.alias
    if alias is None:
        return {name}
    choices = getattr(alias, "choices", [alias])  # AliasChoices holds several
    if not all(isinstance(choice, str) for choice in choices):
        return None
    return ({*choices} if by_alias else set()) | ({name} if by_name else set())


def _nested_models(annotation: Any, base_model: type[BaseModel]) -> list[type[BaseModel]]:
    """Return the model classes inside a field's annotation (``list[Line] | None``...)."""
    if isinstance(annotation, type) and issubclass(annotation, base_model):
        return [annotation]
    return [m for arg in get_args(annotation) for m in _nested_models(arg, base_model)]


def validation_problems(errors: Sequence[Mapping[str, Any]]) -> str:
    """Describe a ValidationError's problems as ``msg (type) @ $.path``, without values.

    ``errors`` is ``ValidationError.errors(include_input=False, include_url=False)``. A
    problem keeps pydantic's message only when that message is built from the schema:
    a validator's own text (``value_error``), a custom error type's text, a union tag or
    a parser's remark (``found `x` at 0``) can quote the content, so they are left out.
    """
    shown = [_describe_error(error) for error in errors[:_MOST_PROBLEMS]]
    if len(errors) > _MOST_PROBLEMS:
        shown.append(f"and {len(errors) - _MOST_PROBLEMS} more")
    return "; ".join(shown) or "invalid content @ $"


def _describe_error(error: Mapping[str, Any]) -> str:
    kind = str(error.get("type", "unknown"))
    path = error_path(error.get("loc", ()))
    context = error.get("ctx") or {}
    quotes_content = "error" in context or "tag" in context or kind not in _builtin_errors()
    if quotes_content and kind not in _QUIET_CONTEXT_ERRORS:
        return f"invalid value ({kind}) @ {path}"
    return f"{error.get('msg', 'invalid value')} ({kind}) @ {path}"


def error_path(loc: Iterable[str | int]) -> str:
    """Return a pydantic ``loc`` as a path like cattrs' (``$.lines[0].sku``)."""
    path = "$"
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part.isidentifier():
            path += f".{part}"
        else:
            path += f"[{part!r}]"
    return path


@functools.cache
def _builtin_errors() -> frozenset[str]:
    """The error types pydantic-core itself raises (custom ones carry their own text)."""
    from pydantic_core.core_schema import ErrorType

    return frozenset(get_args(ErrorType))


def _dump_problem(text: str) -> str:
    """Name the fields and types PydanticSerializationError's ``text`` mentions, no values."""
    unknown = _UNKNOWN_TYPE.search(text)
    if unknown is not None:
        return f"it holds a {unknown.group(1).rsplit('.', 1)[-1]}, which pydantic cannot write"
    fields = sorted(set(_FIELD_NAME.findall(text)))
    expected = sorted(set(_EXPECTED_TYPE.findall(text)))
    if fields or expected:
        where = f"field {', '.join(fields)}" if fields else "a field"
        wanted = f" (expected {' or '.join(expected)})" if expected else ""
        return f"{where} holds a value that does not fit its type{wanted}"
    return "pydantic refused a value (PydanticSerializationError)"
