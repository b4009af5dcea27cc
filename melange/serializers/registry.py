"""The serializer registry: which serializer writes a type, and which reads an identifier."""

from __future__ import annotations

import typing
from collections.abc import Mapping
from typing import Any

import attrs

from melange.exceptions import (
    Problem,
    SerializationError,
    SerializerConfigurationError,
    SerializerNotFoundError,
)
from melange.messages import Envelope
from melange.serializers.base import Serializer

__all__ = ["Serialized", "SerializerRegistry"]

_KNOWN_KEYS = frozenset({"serializers", "serializer_bindings", "default"})


@attrs.frozen
class Serialized:
    """An object's serialized content and what is needed to read it back."""

    content: str
    manifest: str
    serializer_id: int


class SerializerRegistry:
    """Chooses a serializer per message type and per received ``serializer_id``.

    Args:
        config: a mapping with ``serializers`` (name to serializer class or instance),
            ``serializer_bindings`` (class to serializer name; the most specific class in
            a message type's MRO wins) and optionally ``default`` (a serializer name).
            Without ``default``, a single configured serializer is the default.

    Raises:
        SerializerConfigurationError: unknown keys, duplicate identifiers, or a binding
            or default naming a serializer that is not configured.
    """

    def __init__(self, config: Mapping[str, Any]) -> None:
        unknown = set(config) - _KNOWN_KEYS
        if unknown:
            raise SerializerConfigurationError(
                f"unknown serializer registry keys {sorted(unknown)!r}; "
                f"expected some of {sorted(_KNOWN_KEYS)!r}",
                problems=[
                    Problem(
                        str(key), config[key], f"one of the keys {', '.join(sorted(_KNOWN_KEYS))}"
                    )
                    for key in sorted(unknown)
                ],
            )
        self._by_name = {
            name: _instance(name, s) for name, s in dict(config.get("serializers", {})).items()
        }
        self._by_id = _index_by_identifier(self._by_name)
        self._bindings = _resolve_bindings(config.get("serializer_bindings", {}), self._by_name)
        self._default = self._choose_default(config.get("default"))
        # Bindings never change after construction, so each type's choice is cached.
        self._chosen: dict[type, Serializer] = {}
        for cls, serializer in self._bindings.items():
            # Typed serializers rebuild only classes they know: a binding teaches them.
            _register_with(serializer, cls)

    def _choose_default(self, name: str | None) -> Serializer | None:
        if name is None:
            only = list(self._by_name.values())
            return only[0] if len(only) == 1 else None
        if name not in self._by_name:
            raise SerializerConfigurationError(
                f"default serializer {name!r} is not configured; "
                f"choose one of {sorted(self._by_name)!r}",
                problems=[Problem("default", name, f"one of {', '.join(sorted(self._by_name))}")],
            )
        return self._by_name[name]

    @property
    def serializers(self) -> Mapping[str, Serializer]:
        """The configured serializers by name."""
        return dict(self._by_name)

    def serializer_for(self, message_type: type) -> Serializer:
        """Return the serializer bound to the most specific class in ``message_type``'s MRO.

        Raises:
            SerializerNotFoundError: no class in the MRO is bound and there is no default.
        """
        chosen = self._chosen.get(message_type)
        if chosen is None:
            chosen = self._choose(message_type)
            self._chosen[message_type] = chosen
        return chosen

    def bound_serializer(self, message_type: type) -> Serializer | None:
        """Return the serializer bound to the most specific class in the MRO, if any is."""
        for cls in getattr(message_type, "__mro__", (message_type,)):
            if cls in self._bindings:
                return self._bindings[cls]
        return None

    @property
    def default(self) -> Serializer | None:
        """The serializer of unbound types and of messages without a ``serializer_id``."""
        return self._default

    def register(self, message_type: type) -> tuple[Serializer, ...]:
        """Teach the serializers that rebuild only the classes they know ``message_type``.

        A dispatcher calls this for every class its consumers' handlers name, so that a
        worker reads the messages its handlers take without binding their classes. A
        class bound (itself or a base) is registered with the serializer it is bound to;
        any other with every serializer here that has a ``register`` method and takes it
        (``TypedJsonSerializer`` an attrs class or dataclass, ``PydanticSerializer`` a
        model). Each message names the serializer that wrote it (``serializer_id``), and
        these name a class by ``module:QualifiedName`` both ways, so a message of the class
        is read back whichever of them its publisher used.

        Returns:
            The serializers that read messages of ``message_type`` now: the one it is
            bound to, or those that took it; none when no serializer here rebuilds it.

        Raises:
            SerializationError: the serializer it is bound to cannot handle it.
        """
        bound = self.bound_serializer(message_type)
        if bound is not None:
            _register_with(bound, message_type)
            return (bound,)
        taken: list[Serializer] = []
        for serializer in self._by_name.values():
            try:
                if _register_with(serializer, message_type):
                    taken.append(serializer)
            except SerializationError:
                continue  # not a class this serializer handles
        return tuple(taken)

    def _choose(self, message_type: type) -> Serializer:
        chosen = self.bound_serializer(message_type)
        if chosen is None:
            chosen = self._default
        if chosen is not None:
            return chosen
        bound = tuple(self._bindings)
        raise SerializerNotFoundError(
            f"no serializer is bound to {message_type.__qualname__!r} or its bases and no "
            f"default is configured (bound classes: {[c.__qualname__ for c in bound]!r}); "
            "add it to serializer_bindings or set 'default'",
            message_type=message_type,
            bound_types=bound,
        )

    def serializer_by_id(self, serializer_id: int) -> Serializer:
        """Return the serializer with this identifier.

        Raises:
            SerializerNotFoundError: none is configured with it.
        """
        try:
            return self._by_id[serializer_id]
        except KeyError:
            raise SerializerNotFoundError(
                f"no serializer has identifier {serializer_id!r}; configured identifiers: "
                f"{sorted(self._by_id)!r}; register the serializer the producer used",
                serializer_id=serializer_id,
                bound_types=tuple(self._bindings),
            ) from None

    def serialize(self, data: Any) -> Serialized:
        """Serialize ``data`` with the serializer chosen for its type."""
        serializer = self.serializer_for(type(data))
        return Serialized(
            content=serializer.serialize(data),
            manifest=serializer.manifest(data),
            serializer_id=serializer.identifier,
        )

    def deserialize(self, content: str, *, serializer_id: int | None, manifest: str | None) -> Any:
        """Rebuild an object from content written by the serializer ``serializer_id``.

        Messages without a ``serializer_id`` (older producers) are read by the default
        serializer.

        Raises:
            SerializerNotFoundError: the identifier is unknown, or absent with no default.
            DeserializationError: the serializer cannot read the content.
        """
        if serializer_id is not None:
            return self.serializer_by_id(serializer_id).deserialize(content, manifest)
        if self._default is None:
            raise SerializerNotFoundError(
                f"message with manifest {manifest!r} carries no serializer_id and no default "
                "serializer is configured; set 'default' in the registry configuration",
                bound_types=tuple(self._bindings),
            )
        return self._default.deserialize(content, manifest)

    def deserialize_envelope(self, envelope: Envelope) -> Any:
        """Rebuild the object inside a received envelope (see ``deserialize``)."""
        return self.deserialize(
            envelope.content, serializer_id=envelope.serializer_id, manifest=envelope.manifest
        )


def _register_with(serializer: Serializer, message_type: type) -> bool:
    """Register ``message_type`` with ``serializer`` if it has ``register``; return whether."""
    register = getattr(serializer, "register", None)
    if not callable(register):
        return False
    register(message_type)
    return True


def _instance(name: str, serializer: Serializer | type[Serializer]) -> Serializer:
    if isinstance(serializer, type) and issubclass(serializer, Serializer):
        return serializer()
    if isinstance(serializer, Serializer):
        return serializer
    raise SerializerConfigurationError(
        f"serializer {name!r} is {serializer!r}; expected a Serializer subclass or instance",
        problems=[
            Problem(f"serializers[{name!r}]", serializer, "a Serializer subclass or instance")
        ],
    )


def _index_by_identifier(by_name: Mapping[str, Serializer]) -> dict[int, Serializer]:
    by_id: dict[int, Serializer] = {}
    names: dict[int, str] = {}
    for name, serializer in by_name.items():
        identifier = getattr(serializer, "identifier", None)
        if not isinstance(identifier, int) or isinstance(identifier, bool):
            raise SerializerConfigurationError(
                f"serializer {name!r} has identifier {identifier!r}; "
                "give its class an integer 'identifier' unique in the registry",
                problems=[
                    Problem(
                        f"{type(serializer).__qualname__}.identifier",
                        identifier,
                        "an integer unique in the registry",
                    )
                ],
            )
        if identifier in by_id:
            raise SerializerConfigurationError(
                f"serializers {names[identifier]!r} and {name!r} share identifier "
                f"{identifier}; identifiers travel with every message and must be unique",
                problems=[
                    Problem(
                        f"{type(serializer).__qualname__}.identifier",
                        identifier,
                        f"an identifier serializer {names[identifier]!r} does not use",
                    )
                ],
            )
        by_id[identifier], names[identifier] = serializer, name
    return by_id


def _resolve_bindings(
    bindings: Mapping[Any, str], by_name: Mapping[str, Serializer]
) -> dict[type, Serializer]:
    resolved: dict[type, Serializer] = {}
    for bound, name in bindings.items():
        # typing aliases such as typing.Dict (melange 7's defaults used them) bind their origin.
        cls = typing.get_origin(bound) or bound
        if name not in by_name:
            raise SerializerConfigurationError(
                f"{getattr(cls, '__qualname__', cls)!r} is bound to serializer {name!r}, "
                f"which is not configured; configured serializers: {sorted(by_name)!r}",
                problems=[
                    Problem(
                        f"serializer_bindings[{getattr(cls, '__qualname__', cls)}]",
                        name,
                        f"one of {', '.join(sorted(by_name))}",
                    )
                ],
            )
        resolved[cls] = by_name[name]
    return resolved
