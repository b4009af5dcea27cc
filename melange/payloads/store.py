"""Where large payloads go: the settings of the claim check, and the store protocols.

``LargePayloads`` says which bucket holds payloads, under which keys, encrypted how, and
when a message goes there although it fits. A ``PayloadStore`` (``AsyncPayloadStore`` for
asyncio) puts, gets and deletes payloads in it: ``melange.payloads.memory`` in this
process, ``melange.payloads.s3`` in S3. The publishers store what does not fit and send the
pointer (``melange.wire.claim_check``); the dispatchers fetch it back before handling.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, Protocol, runtime_checkable

import attrs

from melange.exceptions import ConfigurationError, Problem
from melange.wire.claim_check import PayloadPointer

__all__ = [
    "DEFAULT_EXPIRY_DAYS",
    "DEFAULT_KEY_PREFIX",
    "AsyncPayloadStore",
    "Encryption",
    "LargePayloads",
    "PayloadStore",
    "is_bucket_name",
]

#: Server-side encryption of stored payloads: S3-managed keys, or KMS.
Encryption = Literal["AES256", "aws:kms"]
#: Where payloads are stored in the bucket unless told otherwise.
DEFAULT_KEY_PREFIX = "melange-payloads/"
#: Days the lifecycle rule keeps a payload by default: longer than SQS keeps a message (14).
DEFAULT_EXPIRY_DAYS = 15


def _names(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(values)


_BUCKET_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789.-")


def is_bucket_name(value: object) -> bool:
    """Return whether ``value`` is an S3 bucket name.

    3-63 characters: lower-case letters, digits, dots and hyphens, starting and ending
    with a letter or digit (S3's general purpose bucket naming rules).
    """
    return (
        isinstance(value, str)
        and 3 <= len(value) <= 63
        and set(value) <= _BUCKET_CHARACTERS
        and value[0].isalnum()
        and value[-1].isalnum()
    )


def _check_bucket(instance: object, attribute: object, value: str) -> None:
    if not is_bucket_name(value):
        raise ConfigurationError(
            f"large payload bucket {value!r} is not an S3 bucket name: 3-63 lower-case "
            "letters, digits, dots and hyphens, starting with a letter or digit; set "
            "MELANGE_LARGE_PAYLOAD_BUCKET",
            problems=[Problem("MELANGE_LARGE_PAYLOAD_BUCKET", value, "an S3 bucket name")],
        )


def _check_encryption(instance: LargePayloads, attribute: object, value: str | None) -> None:
    if value not in (None, "AES256", "aws:kms"):
        raise ConfigurationError(
            f"large payload encryption {value!r} is not 'AES256' or 'aws:kms'; set "
            "MELANGE_LARGE_PAYLOAD_ENCRYPTION to one, or leave it empty for the bucket's default",
            problems=[
                Problem("MELANGE_LARGE_PAYLOAD_ENCRYPTION", value, "'AES256', 'aws:kms' or empty")
            ],
        )


def _check_expiry(instance: object, attribute: object, value: int) -> None:
    if value < 1:
        raise ConfigurationError(
            f"large payload expiry {value!r} days is below 1; objects must outlive their "
            "messages (SQS keeps one at most 14 days): set MELANGE_LARGE_PAYLOAD_EXPIRY_DAYS",
            problems=[Problem("MELANGE_LARGE_PAYLOAD_EXPIRY_DAYS", value, "an integer >= 1")],
        )


@attrs.frozen(kw_only=True)
class LargePayloads:
    """How messages too large for their queue or topic travel: through one S3 bucket.

    Attributes:
        bucket: the bucket payloads are stored in (``MELANGE_LARGE_PAYLOAD_BUCKET``).
        key_prefix: prepended to every key; a payload sent to ``orders`` is stored at
            ``<key_prefix>orders/<message id>``, so a lifecycle rule can target all of
            them, or one destination's.
        always: store every payload in S3, however small (AWS's ``alwaysThroughS3``).
        encryption: server-side encryption of the objects; ``None``: the bucket's default.
        kms_key_id: the KMS key for ``aws:kms`` (``None``: the AWS-managed key).
        expiry_days: the lifecycle rule ``declare`` sets: objects under ``key_prefix``
            expire after this many days (SQS keeps a message at most 14).
        read_buckets: other buckets whose pointers the dispatcher follows (another
            producer's); a pointer to any bucket not named is dead-lettered, so a crafted
            message cannot make a worker read arbitrary buckets.
    """

    bucket: str = attrs.field(validator=_check_bucket)
    key_prefix: str = DEFAULT_KEY_PREFIX
    always: bool = False
    encryption: Encryption | None = attrs.field(default=None, validator=_check_encryption)
    kms_key_id: str | None = None
    expiry_days: int = attrs.field(default=DEFAULT_EXPIRY_DAYS, validator=_check_expiry)
    read_buckets: tuple[str, ...] = attrs.field(default=(), converter=_names)

    def key(self, destination: str, message_id: str) -> str:
        """Return the key a payload sent to ``destination`` with ``message_id`` is stored at.

        The same message id gives the same key: a publish retried with ``message_id=``
        overwrites its own object rather than leaving a second one.
        """
        return f"{self.key_prefix}{destination}/{message_id}"

    def pointer(self, destination: str, message_id: str) -> PayloadPointer:
        """Return where a payload sent to ``destination`` with ``message_id`` is stored."""
        return PayloadPointer(self.bucket, self.key(destination, message_id))

    def reads(self, pointer: PayloadPointer) -> bool:
        """Return whether the dispatcher may follow ``pointer`` (its bucket is allowed)."""
        return pointer.bucket == self.bucket or pointer.bucket in self.read_buckets


@runtime_checkable
class PayloadStore(Protocol):
    """Stores, fetches and deletes large payloads (threads).

    Errors: ``PayloadNotFoundError`` for a missing object, ``BackendRefusedError`` when
    the store refuses for good (no such bucket, access denied), ``BackendUnavailableError``
    when it does not answer in time.
    """

    settings: LargePayloads

    def put(self, pointer: PayloadPointer, payload: str) -> None:
        """Store ``payload`` at ``pointer``, encrypted as the settings say."""

    def get(self, pointer: PayloadPointer) -> str:
        """Return the payload stored at ``pointer``."""

    def delete(self, pointer: PayloadPointer) -> None:
        """Delete the payload at ``pointer``; deleting a missing one is not an error."""


@runtime_checkable
class AsyncPayloadStore(Protocol):
    """``PayloadStore`` for asyncio: the same operations, awaited."""

    settings: LargePayloads

    async def put(self, pointer: PayloadPointer, payload: str) -> None:
        """Store ``payload`` at ``pointer``, encrypted as the settings say."""

    async def get(self, pointer: PayloadPointer) -> str:
        """Return the payload stored at ``pointer``."""

    async def delete(self, pointer: PayloadPointer) -> None:
        """Delete the payload at ``pointer``; deleting a missing one is not an error."""
