"""The backend ``MELANGE_BACKEND`` names, built from settings and resolved by name.

``backend_from_settings(load_settings())`` gives the backend an application runs on,
prefixed when ``MELANGE_PREFIX`` is set. The SQS backends are imported only when chosen,
so an application on the in-memory backend never imports boto3 (nor one on SQS the
in-memory backend). On AWS Lambda
(``AWS_LAMBDA_FUNCTION_NAME`` set) ``MELANGE_BACKEND=aws`` is a ``DeferredBackend``, built
at the first request: a cold start whose records all succeed never imports boto3.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import TYPE_CHECKING

from melange.exceptions import ConfigurationError, Problem

if TYPE_CHECKING:
    from melange.backends.protocol import MessagingBackend
    from melange.backends.sqs.options import Endpoints, Timeouts
    from melange.settings import MelangeSettings

__all__ = [
    "BACKENDS",
    "backend_from_settings",
    "backend_named",
    "endpoints_from_settings",
    "timeouts_from_settings",
]


def _memory(settings: MelangeSettings) -> MessagingBackend:
    from melange.backends.memory.backend import InMemoryBackend  # only when chosen

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
        timeouts=timeouts_from_settings(settings),
        direct_requests=settings.sqs_direct_requests,
    )


def _aws(settings: MelangeSettings) -> MessagingBackend:
    if settings.lambda_function:
        # A Lambda function's succeeded records need no request (the event source
        # mapping deletes them): its cold start does not load boto3 for the others.
        from melange.backends.deferred import DeferredBackend

        return DeferredBackend(lambda: _aws_now(settings), "MELANGE_BACKEND=aws")
    return _aws_now(settings)


def _aws_now(settings: MelangeSettings) -> MessagingBackend:
    from melange.backends.aws import AWSBackend  # boto3: only when chosen

    # Explicit endpoints reach AWS through e.g. VPC interface endpoints.
    return AWSBackend(
        endpoints=endpoints_from_settings(settings),
        timeouts=timeouts_from_settings(settings),
        direct_requests=settings.sqs_direct_requests,
    )


def timeouts_from_settings(settings: MelangeSettings) -> Timeouts:
    """Return the SQS backends' timeouts the settings give (the sync and asyncio ones')."""
    from melange.backends.sqs.options import Timeouts  # botocore: only when chosen

    return Timeouts(
        publish_connect=settings.publish_connect_timeout,
        publish_read=settings.publish_read_timeout,
    )


def endpoints_from_settings(settings: MelangeSettings) -> Endpoints:
    """Return where ``MELANGE_BACKEND=aws`` connects: the region and any explicit endpoints."""
    from melange.backends.sqs.options import Endpoints  # botocore: only when chosen

    return Endpoints(
        region=settings.region,
        sqs_url=settings.endpoint_url,
        sns_url=settings.sns_endpoint_url if settings.endpoint_url else None,
    )


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
        from melange.backends.prefixed import PrefixedBackend  # only with MELANGE_PREFIX

        return PrefixedBackend(backend, settings.prefix)
    return backend
