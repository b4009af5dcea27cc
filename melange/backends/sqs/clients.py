"""The SQS backend's boto3 clients, each with a bounded network time.

Every request but the long-poll receive (publish, send, acknowledge, change visibility,
declarations, look-ups) goes through clients with short timeouts and botocore's
``standard`` retry mode; the receive has a client of its own whose read timeout
exceeds the 20 s long poll and which never retries (the dispatcher backs off between
receives itself). Hooks on the SQS client's ``before-send`` event (request counters,
stubs) see the receive client's requests too.

botocore's ``retries={"max_attempts": n}`` counts *retries* (n + 1 attempts; botocore's
``Config`` documents it), so these clients set ``total_max_attempts``, which counts the
first attempt too.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import boto3
import botocore.exceptions
from botocore import xform_name
from botocore.config import Config
from botocore.hooks import first_non_none_response

from melange import limits
from melange.backends.sqs.calls import SqsCall
from melange.backends.sqs.direct import BotocoreSqs, DirectSqs, SqsCaller
from melange.exceptions import ConfigurationError, Problem

if TYPE_CHECKING:
    from botocore.hooks import BaseEventHooks
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient

__all__ = [
    "PUBLISH_CONNECT_TIMEOUT",
    "PUBLISH_MAX_ATTEMPTS",
    "PUBLISH_READ_TIMEOUT",
    "RECEIVE_CONNECT_TIMEOUT",
    "RECEIVE_READ_TIMEOUT",
    "SqsClients",
    "check_timeouts",
    "client_config",
    "no_region",
    "partition_of",
    "session_facts",
    "worst_case_seconds",
]

#: Seconds to open a connection for a short request (anything but the long-poll receive).
PUBLISH_CONNECT_TIMEOUT = 2.0
#: Seconds to wait for a short request's answer; SQS and SNS answer in milliseconds.
PUBLISH_READ_TIMEOUT = 5.0
#: Attempts per short request, the first included (one retry).
PUBLISH_MAX_ATTEMPTS = 2
#: Seconds to open a connection for a long-poll receive.
RECEIVE_CONNECT_TIMEOUT = 2.0
#: Seconds to wait for a receive's answer: the longest long poll plus a margin.
RECEIVE_READ_TIMEOUT = limits.MAX_WAIT_TIME_SECONDS + 5.0
#: botocore's ``standard`` mode pauses at most ``min(2 ** (n - 1), 20)`` s before retry n
#: (1 s, then 2 s, ...); recent versions pause 50 ms for errors that are not throttling.
_LONGEST_BACKOFF = 20.0


def worst_case_seconds(connect_timeout: float, read_timeout: float, attempts: int) -> float:
    """Return the longest a request can take when the endpoint connects slowly or goes silent.

    Each attempt may spend ``connect_timeout`` connecting and ``read_timeout`` waiting
    for an answer, and botocore pauses before each retry. With the defaults for short
    requests (2 s, 5 s, 2 attempts): 2 x (2 + 5) + 1 = 15 s; a receive (2 s, 25 s, one
    attempt): 27 s. The read timeout bounds each wait for data, so a server that keeps
    trickling bytes is not bounded by it; one that goes silent is.
    """
    pauses = sum(min(2.0 ** (n - 1), _LONGEST_BACKOFF) for n in range(1, attempts))
    return attempts * (connect_timeout + read_timeout) + pauses


class SqsClients:
    """The SQS, SQS long-poll, SNS and (lazily) STS clients of one sync backend.

    ``answer`` makes the request an ``SqsCall`` describes: the sync backend's driver.

    Args:
        session: the boto3 session the clients come from.
        region_name: the region, overriding the session's.
        endpoint_url: SQS's endpoint (and SNS's, unless ``sns_endpoint_url`` is given).
        sns_endpoint_url: SNS's endpoint.
        sts_endpoint_url: STS's endpoint (AWS's own when omitted), asked for the account.
        max_pool_connections: HTTP connections per client.
        publish_connect_timeout: see ``SqsBackend``.
        publish_read_timeout: see ``SqsBackend``.
        publish_max_attempts: see ``SqsBackend``.
        receive_connect_timeout: see ``SqsBackend``.
        receive_read_timeout: see ``SqsBackend``.
        direct_requests: send the hot SQS requests directly (``sqs_direct``).

    Attributes:
        send_sqs: sends an SQS request with the short requests' timeouts and attempts.
        send_receive: sends a long-poll ReceiveMessage, once.

    Raises:
        ConfigurationError: a timeout or attempt count out of range, or no region.
    """

    def __init__(
        self,
        session: boto3.Session,
        *,
        region_name: str | None,
        endpoint_url: str | None,
        sns_endpoint_url: str | None,
        sts_endpoint_url: str | None,
        max_pool_connections: int,
        publish_connect_timeout: float,
        publish_read_timeout: float,
        publish_max_attempts: int,
        receive_connect_timeout: float,
        receive_read_timeout: float,
        direct_requests: bool = True,
    ) -> None:
        check_timeouts(
            publish_connect_timeout,
            publish_read_timeout,
            publish_max_attempts,
            receive_connect_timeout,
            receive_read_timeout,
        )
        short = client_config(
            publish_connect_timeout,
            publish_read_timeout,
            publish_max_attempts,
            max_pool_connections,
        )
        long_poll = client_config(
            receive_connect_timeout, receive_read_timeout, 1, max_pool_connections
        )
        self._session = session
        self._config = short
        self._sts_endpoint_url = sts_endpoint_url
        self._sts: Any = None
        self._lock = threading.Lock()
        self._last = threading.local()
        try:
            self.sqs: SQSClient = session.client(
                "sqs", region_name=region_name, endpoint_url=endpoint_url, config=short
            )
            self.sqs_receive: SQSClient = session.client(
                "sqs", region_name=region_name, endpoint_url=endpoint_url, config=long_poll
            )
            self.sns: SNSClient = session.client(
                "sns",
                region_name=region_name,
                endpoint_url=sns_endpoint_url or endpoint_url,
                config=short,
            )
        except botocore.exceptions.NoRegionError:
            raise no_region() from None
        self.region: str = self.sqs.meta.region_name
        # One hook point for every SQS request: what counts or stubs requests on
        # ``sqs_client`` sees the long-poll receives as well.
        self.sqs_receive.meta.events.register("before-send", _forward_to(self.sqs.meta.events))
        for client in (self.sqs, self.sqs_receive, self.sns):
            client.meta.events.register("before-parse", self._remember_status)
        self.send_sqs: SqsCaller = BotocoreSqs(self.sqs)
        self.send_receive: SqsCaller = BotocoreSqs(self.sqs_receive)
        if direct_requests:
            credentials = session.get_credentials()
            self.send_sqs = DirectSqs(
                self.sqs, credentials, attempts=publish_max_attempts, remember_status=self._note
            )
            self.send_receive = DirectSqs(
                self.sqs_receive, credentials, attempts=1, remember_status=self._note
            )

    def answer(self, call: SqsCall) -> Mapping[str, Any]:
        """Make the request ``call`` describes and return boto3's answer (botocore's errors)."""
        if call.service == "sqs":
            send = self.send_receive if call.long_poll else self.send_sqs
            return send(call.operation, dict(call.params))
        if call.service == "session":
            return session_facts(self._session, self.region, self._session.get_credentials())
        client = self.sns if call.service == "sns" else self.sts()
        response: Mapping[str, Any] = getattr(client, xform_name(call.operation))(**call.params)
        return response

    def sts(self) -> Any:
        """Return the STS client (made on first use: only topic resolution needs it)."""
        with self._lock:
            if self._sts is None:
                self._sts = self._session.client(
                    "sts",
                    region_name=self.region,
                    endpoint_url=self._sts_endpoint_url,
                    config=self._config,
                )
                self._sts.meta.events.register("before-parse", self._remember_status)
            return self._sts

    def last_status(self) -> int | None:
        """Return the HTTP status of this thread's last answer (for unparsable answers)."""
        status = getattr(self._last, "status", None)
        return int(status) if status is not None else None

    def close(self) -> None:
        """Close every client's connection pool."""
        self.sqs.close()
        self.sqs_receive.close()
        self.sns.close()
        with self._lock:
            if self._sts is not None:
                self._sts.close()

    def _remember_status(self, response_dict: dict[str, Any], **_: Any) -> None:
        self._last.status = response_dict.get("status_code")

    def _note(self, status: int) -> None:
        self._last.status = status


def client_config(
    connect_timeout: float, read_timeout: float, attempts: int, max_pool_connections: int
) -> Config:
    """Return the botocore configuration of a client (boto3's and aiobotocore's alike).

    botocore's ``standard`` retry mode, with ``total_max_attempts`` counting the first
    attempt too.
    """
    return Config(
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"mode": "standard", "total_max_attempts": attempts},
        max_pool_connections=max_pool_connections,
    )


def no_region() -> ConfigurationError:
    """Return the error for a session and arguments that name no region."""
    return ConfigurationError(
        "no AWS region is configured; pass region_name=... or set AWS_REGION "
        "(or AWS_DEFAULT_REGION)",
        problems=[Problem("AWS_REGION", None, "an AWS region, e.g. 'eu-west-1'")],
    )


def session_facts(session: Any, region: str, credentials: Any) -> dict[str, Any]:
    """Answer ``sqs_calls.SESSION_FACTS`` from a (boto3, botocore or aiobotocore) session.

    The account is the one the credentials name (``AWS_ACCOUNT_ID``, SSO, roles), if any.
    """
    account = getattr(credentials, "account_id", None) if credentials else None
    return {
        "Region": region,
        "Partition": partition_of(session, region),
        "Account": str(account) if account else None,
    }


def partition_of(session: Any, region: str) -> str:
    """Return the ARN partition of ``region`` by a boto3 or botocore session's endpoint data.

    Regions the endpoint data does not know (an emulator's made-up region) are in ``aws``.
    """
    try:
        return str(session.get_partition_for_region(region))
    except botocore.exceptions.BotoCoreError:
        return "aws"


def _forward_to(events: BaseEventHooks) -> Any:
    """Return a hook that re-emits an event on ``events``, answering with its first response."""

    def forward(event_name: str, **kwargs: Any) -> Any:
        return first_non_none_response(events.emit(event_name, **kwargs))

    return forward


def check_timeouts(
    publish_connect: float,
    publish_read: float,
    publish_attempts: int,
    receive_connect: float,
    receive_read: float,
) -> None:
    """Raise ``ConfigurationError`` for a timeout or attempt count no client can work with."""
    for name, value in (
        ("publish_connect_timeout", publish_connect),
        ("publish_read_timeout", publish_read),
        ("receive_connect_timeout", receive_connect),
    ):
        if not value > 0:
            raise ConfigurationError(
                f"{name}={value!r} must be a number of seconds above 0",
                problems=[Problem(name, value, "a number of seconds > 0")],
            )
    if publish_attempts < 1:
        raise ConfigurationError(
            f"publish_max_attempts={publish_attempts!r} must be at least 1 (the first attempt)",
            problems=[Problem("publish_max_attempts", publish_attempts, "an integer >= 1")],
        )
    if not receive_read > limits.MAX_WAIT_TIME_SECONDS:
        raise ConfigurationError(
            f"receive_read_timeout={receive_read!r} must exceed the "
            f"{limits.MAX_WAIT_TIME_SECONDS} s long-poll wait, or long polls would time out; "
            f"use {RECEIVE_READ_TIMEOUT}",
            problems=[
                Problem(
                    "receive_read_timeout",
                    receive_read,
                    f"a number of seconds > {limits.MAX_WAIT_TIME_SECONDS}",
                )
            ],
        )
