"""The serializer interface every serializer implements."""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = ["Serializer"]


class Serializer:
    """Turns objects into text and back; subclass it to add a format.

    A serializer has a unique integer ``identifier`` that travels with each message as the
    ``serializer_id`` attribute, so the consumer picks the same serializer, and a
    ``manifest`` per object that tells it which type to rebuild.
    """

    identifier: ClassVar[int]

    def manifest(self, data: Any) -> str:
        """Return the text that tells ``deserialize`` what ``data`` is."""
        return f"{type(data).__module__}:{type(data).__qualname__}"

    def serialize(self, data: Any) -> str:
        """Return ``data`` as text.

        Raises:
            SerializationError: ``data`` is not something this serializer can write.
        """
        raise NotImplementedError

    def deserialize(self, data: str, manifest: str | None = None) -> Any:
        """Return the object ``data`` was made from.

        Raises:
            DeserializationError: ``data`` is not valid for this serializer or ``manifest``.
        """
        raise NotImplementedError
