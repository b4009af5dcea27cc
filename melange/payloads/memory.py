"""Large payloads in this process's memory, as S3 keeps them: for the in-memory backend and tests.

``InMemoryPayloadStore`` behaves as S3 does for what melange relies on: an object is there
once ``put`` returns, a missing key is ``PayloadNotFoundError``, a bucket that does not
exist is refused for good (``BackendRefusedError``, as S3's ``NoSuchBucket``), deleting a
missing key is not an error, and each object keeps the encryption it was stored with.
``AsyncInMemoryPayloadStore`` is the same store for asyncio.
"""

from __future__ import annotations

import threading

import attrs

from melange.exceptions import BackendRefusedError, PayloadNotFoundError
from melange.payloads.bucket import BucketDeclared
from melange.payloads.store import Encryption, LargePayloads
from melange.topology.declared import Effect
from melange.wire.claim_check import PayloadPointer

__all__ = ["AsyncInMemoryPayloadStore", "InMemoryPayloadStore", "StoredObject"]


@attrs.frozen
class StoredObject:
    """An object as the store keeps it: its text and the encryption it was stored with."""

    payload: str
    encryption: Encryption | None
    kms_key_id: str | None


class InMemoryPayloadStore:
    """Payloads in memory, one dict per bucket; thread-safe.

    Args:
        settings: the bucket, keys and encryption; the settings' bucket (and its
            ``read_buckets``) exist from the start.
    """

    def __init__(self, settings: LargePayloads) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._buckets: dict[str, dict[str, StoredObject]] = {
            name: {} for name in (settings.bucket, *settings.read_buckets)
        }

    def put(self, pointer: PayloadPointer, payload: str) -> None:
        """Store ``payload`` at ``pointer``."""
        stored = StoredObject(payload, self.settings.encryption, self.settings.kms_key_id)
        with self._lock:
            self._bucket(pointer, "PutObject")[pointer.key] = stored

    def get(self, pointer: PayloadPointer) -> str:
        """Return the payload at ``pointer``."""
        with self._lock:
            found = self._bucket(pointer, "GetObject").get(pointer.key)
        if found is None:
            raise PayloadNotFoundError(pointer.bucket, pointer.key)
        return found.payload

    def delete(self, pointer: PayloadPointer) -> None:
        """Delete the payload at ``pointer``, if it is there."""
        with self._lock:
            self._bucket(pointer, "DeleteObject").pop(pointer.key, None)

    def declare(self) -> list[BucketDeclared]:
        """Make the settings' bucket exist again if it was removed; objects never expire here."""
        with self._lock:
            created = self.settings.bucket not in self._buckets
            self._buckets.setdefault(self.settings.bucket, {})
        effect = Effect.CREATED if created else Effect.AS_IS
        return [BucketDeclared(f"bucket {self.settings.bucket!r} (in memory)", effect)]

    def objects(self, bucket: str | None = None) -> dict[str, StoredObject]:
        """Return the objects of ``bucket`` (the settings' by default), by key: for tests."""
        with self._lock:
            return dict(self._buckets.get(bucket or self.settings.bucket, {}))

    def remove_bucket(self, bucket: str) -> None:
        """Make ``bucket`` not exist (tests of a deleted bucket)."""
        with self._lock:
            self._buckets.pop(bucket, None)

    def _bucket(self, pointer: PayloadPointer, operation: str) -> dict[str, StoredObject]:
        bucket = self._buckets.get(pointer.bucket)
        if bucket is None:
            raise BackendRefusedError(
                f"S3 bucket {pointer.bucket!r} does not exist; create it with "
                "`python -m melange declare TARGET` or correct MELANGE_LARGE_PAYLOAD_BUCKET",
                operation=operation,
                code="NoSuchBucket",
            )
        return bucket


class AsyncInMemoryPayloadStore:
    """``InMemoryPayloadStore`` for asyncio; calls never wait, so they run on the loop.

    Args:
        store: the sync store holding the objects (shared with the sync half); a new one
            for ``settings`` when omitted.
    """

    def __init__(
        self, store: InMemoryPayloadStore | None = None, *, settings: LargePayloads | None = None
    ) -> None:
        if store is None:
            if settings is None:
                raise TypeError("AsyncInMemoryPayloadStore needs a store or settings")
            store = InMemoryPayloadStore(settings)
        self.store = store
        self.settings = store.settings

    async def put(self, pointer: PayloadPointer, payload: str) -> None:
        """Store ``payload`` at ``pointer``."""
        self.store.put(pointer, payload)

    async def get(self, pointer: PayloadPointer) -> str:
        """Return the payload at ``pointer``."""
        return self.store.get(pointer)

    async def delete(self, pointer: PayloadPointer) -> None:
        """Delete the payload at ``pointer``, if it is there."""
        self.store.delete(pointer)
