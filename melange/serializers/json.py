"""Plain JSON: dicts, lists, strings, numbers, booleans and None."""

from __future__ import annotations

import json
import math
from typing import Any, ClassVar

from melange.exceptions import DeserializationError, SerializationError
from melange.serializers.base import Serializer

__all__ = ["JsonSerializer", "unserializable_part"]

_SCALARS = (str, int, float, bool, type(None))


class JsonSerializer(Serializer):
    """Serializes JSON-compatible values (``dict``, ``list``, ``str``, numbers, ``None``).

    Errors name the offending type and where it is (``$.payment.card``), never a value:
    they end up in logs and dead-letter reasons, and values may be personal data.
    """

    identifier: ClassVar[int] = 1

    def manifest(self, data: Any) -> str:
        """Return ``"json"``: the content says everything about its type."""
        return "json"

    def serialize(self, data: Any) -> str:
        """Return ``data`` as compact JSON text."""
        try:
            return json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as exc:
            # json's own messages name a type at most, never a value, so chaining is safe.
            part = unserializable_part(data, allow_nan=False) or "a circular reference"
            raise SerializationError(
                f"JsonSerializer cannot serialize {type(data).__qualname__}: it holds {part}; "
                "bind the type to a serializer that handles it (e.g. TypedJsonSerializer)"
            ) from exc

    def deserialize(self, data: str, manifest: str | None = None) -> Any:
        """Return the value encoded in the JSON text ``data``."""
        try:
            return json.loads(data)
        except ValueError as exc:
            # A JSONDecodeError says what was expected and where, without quoting the text.
            raise DeserializationError(
                f"content of {len(data)} characters is not valid JSON ({exc}); "
                "it was not written by JsonSerializer",
                manifest=manifest,
            ) from None


def unserializable_part(value: Any, *, allow_nan: bool) -> str | None:
    """Describe the first part of ``value`` that ``json.dumps`` refuses, without its value.

    Returns e.g. ``"Card at $.payment.card"``, ``"a tuple key at $.totals"`` or
    ``"a non-finite float at $.ratio"``; ``None`` when every part is JSON (a circular
    reference is then the likely cause).
    """
    pending: list[tuple[str, Any]] = [("$", value)]
    seen: set[int] = set()  # containers already walked: shared ones and cycles
    while pending:
        path, item = pending.pop()
        if isinstance(item, float) and not allow_nan and not math.isfinite(item):
            return f"a non-finite float at {path}"
        if isinstance(item, _SCALARS):
            continue
        if not isinstance(item, dict | list | tuple):
            return f"{type(item).__qualname__} at {path}"
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, dict):
            bad_key = next((k for k in item if not isinstance(k, _SCALARS)), None)
            if bad_key is not None:
                return f"a {type(bad_key).__qualname__} key at {path}"
            children = [(_child_path(path, key), child) for key, child in item.items()]
        else:
            children = [(f"{path}[{index}]", child) for index, child in enumerate(item)]
        pending.extend(reversed(children))  # depth first, in json.dumps' order
    return None


def _child_path(path: str, key: object) -> str:
    # Keys name fields; written like cattrs' paths so both serializers read the same.
    if isinstance(key, str) and key.isidentifier():
        return f"{path}.{key}"
    return f"{path}[{key!r}]"
