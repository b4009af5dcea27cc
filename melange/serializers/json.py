"""Plain JSON: dicts, lists, strings, numbers, booleans and None."""

from __future__ import annotations

import json
from typing import Any, ClassVar

from melange.exceptions import DeserializationError, SerializationError
from melange.serializers.base import Serializer

__all__ = ["JsonSerializer"]


class JsonSerializer(Serializer):
    """Serializes JSON-compatible values (``dict``, ``list``, ``str``, numbers, ``None``)."""

    identifier: ClassVar[int] = 1

    def manifest(self, data: Any) -> str:
        """Return ``"json"``: the content says everything about its type."""
        return "json"

    def serialize(self, data: Any) -> str:
        """Return ``data`` as compact JSON text."""
        try:
            return json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise SerializationError(
                f"JsonSerializer cannot serialize {type(data).__qualname__} value {data!r}: "
                f"{exc}; bind the type to a serializer that handles it (e.g. TypedJsonSerializer)"
            ) from exc

    def deserialize(self, data: str, manifest: str | None = None) -> Any:
        """Return the value encoded in the JSON text ``data``."""
        try:
            return json.loads(data)
        except ValueError as exc:
            raise DeserializationError(
                f"content {_preview(data)!r} is not valid JSON ({exc}); "
                "it was not written by JsonSerializer",
                manifest=manifest,
            ) from None


def _preview(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit] + "..."
