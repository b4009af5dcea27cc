"""The SQS backends by where they connect: AWS itself, or a local emulator by endpoint."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import boto3

from melange.backends.sqs.backend import SqsBackend
from melange.backends.sqs.clients import (
    PUBLISH_CONNECT_TIMEOUT,
    PUBLISH_MAX_ATTEMPTS,
    PUBLISH_READ_TIMEOUT,
    RECEIVE_CONNECT_TIMEOUT,
    RECEIVE_READ_TIMEOUT,
)
from melange.exceptions import ConfigurationError, Problem

__all__ = [
    "LOCAL_CREDENTIALS",
    "AWSBackend",
    "LocalSQSBackend",
    "local_endpoint_url",
    "local_endpoints",
]

#: What emulators are signed with: they accept any credentials, and fixed ones keep real
#: AWS keys out of local traffic.
LOCAL_CREDENTIALS = ("melange-local", "melange-local")


class AWSBackend(SqsBackend):
    """SQS and SNS on AWS, with credentials from the standard AWS chain.

    Args:
        region_name: the AWS region; defaults to ``AWS_REGION`` / the profile's region.
        account_id: the account of the topics, sparing one STS request (see ``SqsBackend``).
        max_pool_connections: see ``SqsBackend``.
        publish_connect_timeout: see ``SqsBackend``.
        publish_read_timeout: see ``SqsBackend``.
        publish_max_attempts: see ``SqsBackend``.
        receive_connect_timeout: see ``SqsBackend``.
        receive_read_timeout: see ``SqsBackend``.
        direct_requests: see ``SqsBackend``.
        **session_options: passed to ``boto3.Session`` (``profile_name``,
            ``aws_access_key_id``, ...). Leave them out to use the environment, the shared
            config files, or an instance/task role.
    """

    def __init__(
        self,
        region_name: str | None = None,
        *,
        account_id: str | None = None,
        max_pool_connections: int = 50,
        publish_connect_timeout: float = PUBLISH_CONNECT_TIMEOUT,
        publish_read_timeout: float = PUBLISH_READ_TIMEOUT,
        publish_max_attempts: int = PUBLISH_MAX_ATTEMPTS,
        receive_connect_timeout: float = RECEIVE_CONNECT_TIMEOUT,
        receive_read_timeout: float = RECEIVE_READ_TIMEOUT,
        direct_requests: bool = True,
        **session_options: Any,
    ) -> None:
        super().__init__(
            session=boto3.Session(**session_options),
            region_name=region_name,
            account_id=account_id,
            max_pool_connections=max_pool_connections,
            publish_connect_timeout=publish_connect_timeout,
            publish_read_timeout=publish_read_timeout,
            publish_max_attempts=publish_max_attempts,
            receive_connect_timeout=receive_connect_timeout,
            receive_read_timeout=receive_read_timeout,
            direct_requests=direct_requests,
        )


def local_endpoint_url(host: str, port: int | None) -> str:
    """Return ``scheme://host:port`` for a host given with or without a scheme.

    A port written in ``host`` wins over ``port``; the scheme defaults to ``http``.
    """
    parts = urlsplit(host if "://" in host else f"http://{host}")
    if not parts.hostname:
        raise ConfigurationError(
            f"host {host!r} has no host name; pass e.g. 'localhost' or 'http://localhost'",
            problems=[Problem("host", host, "a host name or URL, e.g. 'http://localhost'")],
        )
    chosen = parts.port or port
    hostname = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{hostname}:{chosen}" if chosen else f"{parts.scheme}://{hostname}"


def local_endpoints(
    host: str, port: int, sns_host: str | None, sns_port: int | None, options: dict[str, Any]
) -> dict[str, Any]:
    """Return an emulator's SQS, SNS and STS endpoints as backend options, with ``options``.

    SNS is at ``sns_host``/``sns_port`` when given, else beside SQS; STS, asked once for
    the account that topic ARNs are built with, at SNS's unless ``options`` names one.
    """
    sns_endpoint_url = local_endpoint_url(sns_host or host, sns_port or port)
    return {
        **options,
        "endpoint_url": local_endpoint_url(host, port),
        "sns_endpoint_url": sns_endpoint_url,
        "sts_endpoint_url": options.get("sts_endpoint_url", sns_endpoint_url),
    }


class LocalSQSBackend(SqsBackend):
    """SQS/SNS on a local emulator: ElasticMQ, LocalStack or moto.

    Args:
        host: the emulator's host, with or without a scheme (``localhost``,
            ``http://localhost``).
        port: its port (ElasticMQ's default is 9324).
        sns_host: SNS's host, when SNS is served elsewhere; defaults to ``host``.
        sns_port: SNS's port; defaults to ``port``.
        region_name: the region to sign requests for.
        **options: further ``SqsBackend`` options (``publish_connect_timeout``,
            ``publish_read_timeout``, ``receive_read_timeout``, ``account_id``, pool size,
            ``direct_requests``).
            STS, asked once for the account that topic ARNs are built with, is asked at
            the SNS endpoint: moto and LocalStack serve it there.
    """

    def __init__(
        self,
        host: str = "localhost",
        port: int = 9324,
        sns_host: str | None = None,
        sns_port: int | None = None,
        *,
        region_name: str = "us-east-1",
        **options: Any,
    ) -> None:
        key, secret = LOCAL_CREDENTIALS
        session = boto3.Session(
            aws_access_key_id=key, aws_secret_access_key=secret, region_name=region_name
        )
        super().__init__(
            session=session,
            region_name=region_name,
            **local_endpoints(host, port, sns_host, sns_port, options),
        )
