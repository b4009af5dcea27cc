"""The SQS backend's boto3 clients, each with a bounded network time.

Every request but the long-poll receive (publish, send, acknowledge, change visibility,
declarations, look-ups) goes through clients with short timeouts and botocore's
``standard`` retry mode; the receive has a client of its own whose read timeout
exceeds the 20 s long poll and which never retries (the dispatcher backs off between
receives itself). Hooks on the SQS client's ``before-send`` event (request counters,
stubs) see the receive client's requests too. Which client gets which timeouts,
attempts and endpoint is ``options.client_specs``' decision, the asyncio clients' too.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import boto3
import botocore.exceptions
from botocore import xform_name
from botocore.hooks import first_non_none_response

from melange.backends.sqs.calls import SqsCall
from melange.backends.sqs.direct import BotocoreSqs, DirectSqs, SqsCaller
from melange.backends.sqs.options import (
    DEFAULT_ENDPOINTS,
    DEFAULT_LIMITS,
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUTS,
    ClientSpec,
    ConnectionLimits,
    Endpoints,
    RetryBudget,
    Timeouts,
    client_specs,
)
from melange.exceptions import ConfigurationError, Problem

if TYPE_CHECKING:
    from botocore.hooks import BaseEventHooks
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient

__all__ = [
    "SqsClients",
    "no_region",
    "partition_of",
    "session_facts",
]


class SqsClients:
    """The SQS, SQS long-poll, SNS and (lazily) STS clients of one sync backend.

    ``answer`` makes the request an ``SqsCall`` describes: the sync backend's driver.

    Args:
        session: the boto3 session the clients come from.
        endpoints: the region, account and each service's URL (see ``Endpoints``).
        timeouts: see ``Timeouts``.
        retries: see ``RetryBudget``.
        limits: see ``ConnectionLimits``.
        direct_requests: send the hot SQS requests directly (``sqs_direct``).

    Attributes:
        send_sqs: sends an SQS request with the short requests' timeouts and attempts.
        send_receive: sends a long-poll ReceiveMessage, once.

    Raises:
        ConfigurationError: no region, in ``endpoints`` or the session.
    """

    def __init__(
        self,
        session: boto3.Session,
        *,
        endpoints: Endpoints = DEFAULT_ENDPOINTS,
        timeouts: Timeouts = DEFAULT_TIMEOUTS,
        retries: RetryBudget = DEFAULT_RETRIES,
        limits: ConnectionLimits = DEFAULT_LIMITS,
        direct_requests: bool = True,
    ) -> None:
        specs = client_specs(endpoints, timeouts, retries, limits)
        self._session = session
        self._sts_spec = specs["sts"]
        self._sts: Any = None
        self._lock = threading.Lock()
        self._last = threading.local()
        try:
            self.sqs: SQSClient = self._client(session, specs["sqs"], endpoints.region)
            self.sqs_receive: SQSClient = self._client(
                session, specs["sqs-long-poll"], endpoints.region
            )
            self.sns: SNSClient = self._client(session, specs["sns"], endpoints.region)
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
                self.sqs,
                credentials,
                attempts=specs["sqs"].attempts,
                remember_status=self._note,
            )
            self.send_receive = DirectSqs(
                self.sqs_receive,
                credentials,
                attempts=specs["sqs-long-poll"].attempts,
                remember_status=self._note,
            )

    @staticmethod
    def _client(session: boto3.Session, spec: ClientSpec, region: str | None) -> Any:
        return session.client(
            spec.service,  # type: ignore[call-overload]
            region_name=region,
            endpoint_url=spec.endpoint_url,
            config=spec.config,
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
                self._sts = self._client(self._session, self._sts_spec, self.region)
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


def no_region() -> ConfigurationError:
    """Return the error for a session and arguments that name no region."""
    return ConfigurationError(
        "no AWS region is configured; pass region_name=... (or Endpoints(region=...)) or set "
        "AWS_REGION (or AWS_DEFAULT_REGION)",
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
