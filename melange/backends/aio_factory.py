"""The asyncio backend ``MELANGE_BACKEND`` names, built from the same settings as the sync one.

``async_backend_from_settings(load_settings())`` gives the backend an asyncio application
runs on: ``memory`` an ``AsyncInMemoryBackend``, ``local`` and ``aws`` the asyncio SQS
backends, with exactly the option values ``backend_from_settings`` gives the sync ones
(the same ``timeouts_from_settings`` and ``endpoints_from_settings``). The SQS backends
are imported only when chosen, so an application on the in-memory backend never imports
aiobotocore.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from melange.backends.aio_prefixed import AsyncPrefixedBackend
from melange.backends.factory import (
    backend_named,
    endpoints_from_settings,
    timeouts_from_settings,
)
from melange.backends.memory.aio import AsyncInMemoryBackend

if TYPE_CHECKING:
    from melange.backends.aio_protocol import AsyncMessagingBackend
    from melange.backends.memory.backend import InMemoryBackend
    from melange.settings import MelangeSettings

__all__ = ["ASYNC_BACKENDS", "async_backend_from_settings"]


def _memory(settings: MelangeSettings, store: InMemoryBackend | None) -> AsyncMessagingBackend:
    return AsyncInMemoryBackend(store)


def _local(settings: MelangeSettings, store: InMemoryBackend | None) -> AsyncMessagingBackend:
    from melange.backends.sqs.aio import AsyncLocalSQSBackend  # aiobotocore: only when chosen
    from melange.settings import endpoint_missing  # loaded already: settings are its values

    if settings.endpoint_url is None:
        raise endpoint_missing()
    backend: AsyncMessagingBackend = AsyncLocalSQSBackend(
        host=settings.endpoint_url,
        sns_host=settings.sns_endpoint_url,
        region_name=settings.region or "us-east-1",
        timeouts=timeouts_from_settings(settings),
        direct_requests=settings.sqs_direct_requests,
    )
    return backend


def _aws(settings: MelangeSettings, store: InMemoryBackend | None) -> AsyncMessagingBackend:
    from melange.backends.sqs.aio import AsyncAWSBackend  # aiobotocore: only when chosen

    # Explicit endpoints reach AWS through e.g. VPC interface endpoints.
    backend: AsyncMessagingBackend = AsyncAWSBackend(
        endpoints=endpoints_from_settings(settings),
        timeouts=timeouts_from_settings(settings),
        direct_requests=settings.sqs_direct_requests,
    )
    return backend


#: Each ``MELANGE_BACKEND`` value and what builds its asyncio backend from the settings (and,
#: for ``memory``, the sync store to share).
ASYNC_BACKENDS: dict[
    str, Callable[[MelangeSettings, InMemoryBackend | None], AsyncMessagingBackend]
] = {"aws": _aws, "local": _local, "memory": _memory}


def async_backend_from_settings(
    settings: MelangeSettings, *, store: InMemoryBackend | None = None
) -> AsyncMessagingBackend:
    """Build the asyncio backend ``MELANGE_BACKEND`` names, as ``backend_from_settings`` does.

    Args:
        settings: the application's settings.
        store: for ``memory``, the sync ``InMemoryBackend`` whose queues to share (so sync
            and asyncio halves of one application see the same messages); a new store
            when omitted. Ignored by the SQS backends.

    Raises:
        ConfigurationError: an unknown backend name (with the closest one), or settings
            it cannot be built with. ``MELANGE_PREFIX`` wraps it in ``AsyncPrefixedBackend``.
    """
    backend_named(settings.backend)  # the sync table's name check and "did you mean"
    backend = ASYNC_BACKENDS[settings.backend](settings, store)
    return AsyncPrefixedBackend(backend, settings.prefix) if settings.prefix else backend
