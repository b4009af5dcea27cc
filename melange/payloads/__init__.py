"""Large payloads through S3: the claim check in the format of AWS's extended clients.

A message too large for its queue or topic (or every message, with ``always``) is stored
as an S3 object and travels as a pointer; the dispatchers fetch it back before handling.
``LargePayloads`` is the configuration, ``PayloadStore`` / ``AsyncPayloadStore`` what
stores payloads: ``InMemoryPayloadStore`` here, ``S3PayloadStore`` on AWS and emulators.
The wire format is ``melange.wire.claim_check``'s.
"""

from __future__ import annotations

from melange.payloads.memory import AsyncInMemoryPayloadStore, InMemoryPayloadStore
from melange.payloads.store import AsyncPayloadStore, Encryption, LargePayloads, PayloadStore
from melange.wire.claim_check import PayloadPointer

__all__ = [
    "AsyncInMemoryPayloadStore",
    "AsyncPayloadStore",
    "Encryption",
    "InMemoryPayloadStore",
    "LargePayloads",
    "PayloadPointer",
    "PayloadStore",
]
