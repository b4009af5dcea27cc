"""The SQS backends by where they connect: AWS itself, or a local emulator by endpoint."""

from __future__ import annotations

import inspect
from typing import Any

import boto3

from melange.backends.sqs.backend import SqsBackend
from melange.backends.sqs.options import (
    DEFAULT_ENDPOINTS,
    DEFAULT_LIMITS,
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUTS,
    ConnectionLimits,
    Endpoints,
    RetryBudget,
    Timeouts,
)

__all__ = ["LOCAL_CREDENTIALS", "AWSBackend", "LocalSQSBackend"]

#: What emulators are signed with: they accept any credentials, and fixed ones keep real
#: AWS keys out of local traffic.
LOCAL_CREDENTIALS = ("melange-local", "melange-local")


class AWSBackend(SqsBackend):
    """SQS and SNS on AWS, with credentials from the standard AWS chain.

    Args:
        region_name: the AWS region; defaults to ``AWS_REGION`` / the profile's region.
            The same as ``Endpoints(region=...)``; give it in one place.
        endpoints: see ``SqsBackend``: the topics' account, or explicit endpoints (VPC
            interface endpoints).
        timeouts: see ``SqsBackend``.
        retries: see ``SqsBackend``.
        limits: see ``SqsBackend``.
        direct_requests: see ``SqsBackend``.
        **session_options: passed to ``boto3.Session`` (``profile_name``,
            ``aws_access_key_id``, ...). Leave them out to use the environment, the shared
            config files, or an instance/task role.

    Raises:
        ConfigurationError: no region, or ``region_name`` and ``endpoints`` name two.
        TypeError: a keyword ``boto3.Session`` does not take.
    """

    def __init__(
        self,
        region_name: str | None = None,
        *,
        endpoints: Endpoints = DEFAULT_ENDPOINTS,
        timeouts: Timeouts = DEFAULT_TIMEOUTS,
        retries: RetryBudget = DEFAULT_RETRIES,
        limits: ConnectionLimits = DEFAULT_LIMITS,
        direct_requests: bool = True,
        **session_options: Any,
    ) -> None:
        _check_session_options(session_options)
        super().__init__(
            session=boto3.Session(**session_options),
            endpoints=endpoints.in_region(region_name),
            timeouts=timeouts,
            retries=retries,
            limits=limits,
            direct_requests=direct_requests,
        )


def _check_session_options(options: dict[str, Any]) -> None:
    """Refuse keywords ``boto3.Session`` does not take, pointing to the option values.

    Without this, a timeout given as a keyword would fail inside boto3 with an error that
    does not say where timeouts go.
    """
    accepted = inspect.signature(boto3.Session).parameters
    unknown = sorted(name for name in options if name not in accepted)
    if unknown:
        raise TypeError(
            f"AWSBackend() got {', '.join(unknown)}, which boto3.Session does not take; "
            "options are values: endpoints=Endpoints(...), timeouts=Timeouts(...), "
            "retries=RetryBudget(...), limits=ConnectionLimits(...) (melange.backends)"
        )


class LocalSQSBackend(SqsBackend):
    """SQS/SNS on a local emulator: ElasticMQ, LocalStack or moto.

    Args:
        host: the emulator's host, with or without a scheme (``localhost``,
            ``http://localhost``).
        port: its port (ElasticMQ's default is 9324).
        sns_host: SNS's host, when SNS is served elsewhere; defaults to ``host``.
        sns_port: SNS's port; defaults to ``port``.
        region_name: the region to sign requests for.
        account_id: the emulator's account (moto's ``123456789012``, LocalStack's and
            ElasticMQ's ``000000000000``), sparing one STS request; STS, asked for it
            otherwise, is asked at the SNS endpoint: moto and LocalStack serve it there.
        timeouts: see ``SqsBackend``.
        retries: see ``SqsBackend``.
        limits: see ``SqsBackend``.
        direct_requests: see ``SqsBackend``.

    Raises:
        ConfigurationError: a host without a host name, or an option out of range.
    """

    def __init__(
        self,
        host: str = "localhost",
        port: int = 9324,
        sns_host: str | None = None,
        sns_port: int | None = None,
        *,
        region_name: str = "us-east-1",
        account_id: str | None = None,
        timeouts: Timeouts = DEFAULT_TIMEOUTS,
        retries: RetryBudget = DEFAULT_RETRIES,
        limits: ConnectionLimits = DEFAULT_LIMITS,
        direct_requests: bool = True,
    ) -> None:
        key, secret = LOCAL_CREDENTIALS
        session = boto3.Session(
            aws_access_key_id=key, aws_secret_access_key=secret, region_name=region_name
        )
        endpoints = Endpoints.local(
            host, port, sns_host, sns_port, region=region_name, account_id=account_id
        )
        super().__init__(
            session=session,
            endpoints=endpoints,
            timeouts=timeouts,
            retries=retries,
            limits=limits,
            direct_requests=direct_requests,
        )
