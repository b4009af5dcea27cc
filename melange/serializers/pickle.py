"""Pickle, base64-encoded: any picklable object, for Python-only systems.

Unpickling runs code chosen by whoever wrote the payload. A queue's content is untrusted
input, so ``PickleSerializer`` refuses to unpickle unless the application constructs it
with ``allow_unpickling=True``.
"""

from __future__ import annotations

import base64
import pickle
from typing import Any, ClassVar

from melange.exceptions import DeserializationError, PickleNotAllowedError, SerializationError
from melange.serializers.base import Serializer

__all__ = ["PickleSerializer"]


class PickleSerializer(Serializer):
    """Serializes any picklable object as base64 text (the format of melange 7).

    Args:
        allow_unpickling: unpickle received content. Only turn this on when every
            producer that can write to your queues is trusted.
    """

    identifier: ClassVar[int] = 2

    def __init__(self, *, allow_unpickling: bool = False) -> None:
        self.allow_unpickling = allow_unpickling

    def manifest(self, data: Any) -> str:
        """Return the object's qualified class name (informational only)."""
        return type(data).__qualname__

    def serialize(self, data: Any) -> str:
        """Return ``data`` pickled and base64-encoded."""
        try:
            return base64.b64encode(pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL)).decode()
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            # pickle's messages name what it refused (a function, a lock, a local class),
            # which is code, not data; the object itself is never shown.
            raise SerializationError(
                f"PickleSerializer cannot pickle {type(data).__qualname__}: {exc}; make the "
                "type picklable or bind it to another serializer"
            ) from exc

    def deserialize(self, data: str, manifest: str | None = None) -> Any:
        """Return the unpickled object, if the application allowed unpickling."""
        if not self.allow_unpickling:
            raise PickleNotAllowedError(
                f"refusing to unpickle a message with manifest {manifest!r}: unpickling "
                "untrusted input runs arbitrary code; construct "
                "PickleSerializer(allow_unpickling=True) only if every producer is trusted",
                manifest=manifest,
            )
        try:
            raw = base64.b64decode(data.encode(), validate=False)
            return pickle.loads(raw)
        except Exception as exc:  # a corrupt pickle can fail in any way; all mean unreadable
            # Only the error's type: its text can quote the content (a load key, a value
            # an unpickled class's __setstate__ refused).
            kind = type(exc)
            raise DeserializationError(
                f"content with manifest {manifest!r} is not a valid base64 pickle "
                f"({kind.__module__}.{kind.__qualname__}); it is corrupt or was not written "
                "by PickleSerializer",
                manifest=manifest,
            ) from None
