"""The large-payload stores ``MELANGE_LARGE_PAYLOAD_*`` and ``MELANGE_BACKEND`` describe.

Without ``MELANGE_LARGE_PAYLOAD_BUCKET`` there is none. On the ``memory`` backend the
store is an ``InMemoryPayloadStore``; on ``local`` and ``aws``, an ``S3PayloadStore``
(``AsyncS3PayloadStore`` for asyncio) reaching S3 where the backend reaches SQS: an
emulator's endpoint with the emulator's credentials, or AWS's own S3 in the settings'
region with the standard credential chain, and the same timeouts. ``PayloadStores``
holds an application's two, made on first use, so both halves of one application on
the in-memory backend share the objects as they share the queues. boto3 and aiobotocore
are imported only when chosen.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from melange.payloads.memory import AsyncInMemoryPayloadStore, InMemoryPayloadStore
from melange.settings import large_payloads_from_settings

if TYPE_CHECKING:
    from melange.backends.sqs.options import Endpoints
    from melange.payloads.store import AsyncPayloadStore, LargePayloads, PayloadStore
    from melange.settings import MelangeSettings

__all__ = ["PayloadStores", "async_payload_store_from_settings", "payload_store_from_settings"]

#: The port ``LocalSQSBackend`` reaches an endpoint without one at; S3 is beside it.
_LOCAL_PORT = 9324
_LOCAL_REGION = "us-east-1"


def _endpoints(settings: MelangeSettings) -> Endpoints:
    """Return where S3 is: beside the emulator's SQS (``local``), or AWS's own in the region."""
    from melange.backends.sqs.options import Endpoints  # botocore: only when chosen

    if settings.backend == "local":
        from melange.settings import endpoint_missing

        if settings.endpoint_url is None:
            raise endpoint_missing()
        return Endpoints.local(
            settings.endpoint_url, _LOCAL_PORT, region=settings.region or _LOCAL_REGION
        )
    # MELANGE_ENDPOINT_URL on aws is SQS's (a VPC interface endpoint), never S3's.
    return Endpoints(region=settings.region)


def payload_store_from_settings(
    settings: MelangeSettings, *, memory: InMemoryPayloadStore | None = None
) -> PayloadStore | None:
    """Return the store the settings describe; ``None`` without a bucket.

    Args:
        settings: the application's settings.
        memory: on the ``memory`` backend, the store to return (a new one when omitted).

    Raises:
        ConfigurationError: settings the store cannot be built with (no region).
    """
    payloads = large_payloads_from_settings(settings)
    if payloads is None:
        return None
    if settings.backend == "memory":
        return memory or InMemoryPayloadStore(payloads)
    return _s3_store(settings, payloads)


def _s3_store(settings: MelangeSettings, payloads: LargePayloads) -> PayloadStore:
    import boto3  # only when chosen

    from melange.backends.aws import LOCAL_CREDENTIALS
    from melange.backends.factory import timeouts_from_settings
    from melange.payloads.s3 import S3PayloadStore

    endpoints = _endpoints(settings)
    session = boto3.Session()
    if settings.backend == "local":  # emulators accept any; keep real keys out of them
        key, secret = LOCAL_CREDENTIALS
        session = boto3.Session(aws_access_key_id=key, aws_secret_access_key=secret)
    return S3PayloadStore(
        payloads, session=session, endpoints=endpoints, timeouts=timeouts_from_settings(settings)
    )


def async_payload_store_from_settings(
    settings: MelangeSettings, *, memory: InMemoryPayloadStore | None = None
) -> AsyncPayloadStore | None:
    """Return the asyncio store the settings describe; ``None`` without a bucket.

    Args:
        settings: the application's settings.
        memory: on the ``memory`` backend, the sync store whose objects to share (a new
            one when omitted).

    Raises:
        ConfigurationError: settings the store cannot be built with (no region).
    """
    payloads = large_payloads_from_settings(settings)
    if payloads is None:
        return None
    if settings.backend == "memory":
        return AsyncInMemoryPayloadStore(memory or InMemoryPayloadStore(payloads))
    from aiobotocore.session import AioSession  # only when chosen

    from melange.backends.aws import LOCAL_CREDENTIALS
    from melange.backends.factory import timeouts_from_settings
    from melange.payloads.s3 import AsyncS3PayloadStore

    session = AioSession()
    if settings.backend == "local":
        session.set_credentials(*LOCAL_CREDENTIALS)
    return AsyncS3PayloadStore(
        payloads,
        session=session,
        endpoints=_endpoints(settings),
        timeouts=timeouts_from_settings(settings),
    )


class PayloadStores:
    """An application's large-payload stores, the threaded and the asyncio one, from settings.

    Each is made when first asked for; both are ``None`` without a bucket. On the
    ``memory`` backend the asyncio store shares the threaded one's objects.

    Args:
        settings: the application's settings.
    """

    def __init__(self, settings: MelangeSettings) -> None:
        self.settings = settings
        self.large_payloads = large_payloads_from_settings(settings)
        self._lock = threading.Lock()
        self._sync: PayloadStore | None = None
        self._async: AsyncPayloadStore | None = None

    def store(self) -> PayloadStore | None:
        """Return the store for threads (``None`` without a bucket)."""
        if self.large_payloads is None:
            return None
        with self._lock:
            if self._sync is None:
                self._sync = payload_store_from_settings(self.settings)
            return self._sync

    def async_store(self) -> AsyncPayloadStore | None:
        """Return the store for asyncio (``None`` without a bucket)."""
        if self.large_payloads is None:
            return None
        memory = self.store() if self.settings.backend == "memory" else None
        with self._lock:
            if self._async is None:
                self._async = async_payload_store_from_settings(
                    self.settings,
                    memory=memory if isinstance(memory, InMemoryPayloadStore) else None,
                )
            return self._async
