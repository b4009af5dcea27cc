"""The backend ``MELANGE_BACKEND`` names, built from settings and resolved by name.

``backend_from_settings(load_settings())`` gives the backend an application runs on,
prefixed when ``MELANGE_PREFIX`` is set. The SQS backends are imported only when chosen,
so an application on the in-memory backend never imports boto3.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from melange.backends.memory.backend import InMemoryBackend
from melange.backends.prefixed import PrefixedBackend
from melange.exceptions import ConfigurationError, Problem

if TYPE_CHECKING:
    from melange.backends.protocol import MessagingBackend
    from melange.settings import MelangeSettings

__all__ = ["BACKENDS", "backend_from_settings", "backend_named"]


def _memory(settings: MelangeSettings) -> MessagingBackend:
    return InMemoryBackend()


def _local(settings: MelangeSettings) -> MessagingBackend:
    from melange.backends.aws import LocalSQSBackend  # boto3: only when chosen
    from melange.settings import endpoint_missing  # loaded already: settings are its values

    if settings.endpoint_url is None:
        raise endpoint_missing()
    return LocalSQSBackend(
        host=settings.endpoint_url,
        sns_host=settings.sns_endpoint_url,
        region_name=settings.region or "us-east-1",
        **_request_options(settings),
    )


def _aws(settings: MelangeSettings) -> MessagingBackend:
    from melange.backends.aws import AWSBackend  # boto3: only when chosen
    from melange.backends.sqs.backend import SqsBackend

    if settings.endpoint_url:  # AWS through explicit endpoints, e.g. VPC interface endpoints
        return SqsBackend(
            region_name=settings.region,
            endpoint_url=settings.endpoint_url,
            sns_endpoint_url=settings.sns_endpoint_url,
            **_request_options(settings),
        )
    return AWSBackend(region_name=settings.region, **_request_options(settings))


def _request_options(settings: MelangeSettings) -> dict[str, Any]:
    """Return the ``SqsBackend`` options the settings give, the same for every SQS backend."""
    return {
        "publish_connect_timeout": settings.publish_connect_timeout,
        "publish_read_timeout": settings.publish_read_timeout,
        "direct_requests": settings.sqs_direct_requests,
    }


#: Each ``MELANGE_BACKEND`` value and what builds its backend from the settings.
BACKENDS: dict[str, Callable[[MelangeSettings], MessagingBackend]] = {
    "aws": _aws,
    "local": _local,
    "memory": _memory,
}


def backend_named(name: str) -> Callable[[MelangeSettings], MessagingBackend]:
    """Return what builds backend ``name`` (a ``MELANGE_BACKEND`` value).

    Raises:
        ConfigurationError: no backend has that name; the message suggests the closest.
    """
    try:
        return BACKENDS[name]
    except KeyError:
        close = difflib.get_close_matches(str(name), BACKENDS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ConfigurationError(
            f"MELANGE_BACKEND={name!r} names no backend; choose one of {sorted(BACKENDS)!r}{hint}",
            problems=[Problem("MELANGE_BACKEND", name, f"one of {', '.join(sorted(BACKENDS))}")],
        ) from None


def backend_from_settings(
    settings: MelangeSettings, *, backend: MessagingBackend | None = None
) -> MessagingBackend:
    """Build the backend ``MELANGE_BACKEND`` names, prefixed if ``MELANGE_PREFIX`` is set.

    Args:
        settings: the application's settings.
        backend: use this backend instead of the one the settings name (tests); it is
            prefixed all the same.

    Raises:
        ConfigurationError: an unknown backend name, or settings it cannot be built with.
    """
    if backend is None:
        backend = backend_named(settings.backend)(settings)
    if settings.prefix:
        return PrefixedBackend(backend, settings.prefix)
    return backend
