"""The asyncio SQS backend's aiobotocore clients: the same configuration as the sync ones.

One aiobotocore session and one client per service (SQS, SQS long poll, SNS, STS) per
backend, made on first use inside the running event loop and closed by ``close``. Their
botocore configuration comes from the same function as the sync clients'
(``sqs_clients.client_config``): the same timeouts, ``standard`` retries and attempt
counts. The hot SQS requests are sent directly (``sqs_direct``) unless
``direct_requests=False``. ``answer`` makes the request an ``SqsCall`` describes: with
``SqsDirectory.request`` around it, the asyncio backend's driver.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import Mapping
from typing import Any

from botocore import xform_name

from melange.backends.sqs.aio_direct import AsyncDirectSqs
from melange.backends.sqs.calls import SqsCall
from melange.backends.sqs.clients import (
    check_timeouts,
    client_config,
    no_region,
    session_facts,
)
from melange.backends.sqs.direct import DIRECT_OPERATIONS

__all__ = ["AsyncSqsClients"]

#: The HTTP status of the current task's last answer, named when an answer is unparsable.
_last_status: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "melange_sqs_last_status", default=None
)


class AsyncSqsClients:
    """The SQS, SQS long-poll, SNS and STS aiobotocore clients of one asyncio backend.

    Args:
        session: the aiobotocore session (``aiobotocore.session.AioSession``) the clients
            come from. Typed ``Any``: aiobotocore ships no type information.
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

    Raises:
        ConfigurationError: a timeout or attempt count out of range, or no region.
    """

    def __init__(
        self,
        session: Any,
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
        direct_requests: bool,
    ) -> None:
        check_timeouts(
            publish_connect_timeout,
            publish_read_timeout,
            publish_max_attempts,
            receive_connect_timeout,
            receive_read_timeout,
        )
        region = region_name or session.get_config_variable("region")
        if not region:
            raise no_region()
        short = client_config(
            publish_connect_timeout,
            publish_read_timeout,
            publish_max_attempts,
            max_pool_connections,
        )
        long_poll = client_config(
            receive_connect_timeout, receive_read_timeout, 1, max_pool_connections
        )
        self.region: str = region
        self._session = session
        # Each client by what it serves: service, endpoint and configuration.
        self._specs = {
            "sqs": ("sqs", endpoint_url, short),
            "sqs-long-poll": ("sqs", endpoint_url, long_poll),
            "sns": ("sns", sns_endpoint_url or endpoint_url, short),
            "sts": ("sts", sts_endpoint_url, short),
        }
        self._clients: dict[str, Any] = {}
        self._attempts = {"sqs": publish_max_attempts, "sqs-long-poll": 1}
        self._direct_requests = direct_requests
        self._direct: dict[str, AsyncDirectSqs] = {}
        self._exits = contextlib.AsyncExitStack()
        self._opening = asyncio.Lock()

    async def answer(self, call: SqsCall) -> Mapping[str, Any]:
        """Make the request ``call`` describes and return boto3's answer (botocore's errors)."""
        if call.service == "session":
            credentials = await self._session.get_credentials()
            return session_facts(self._session, self.region, credentials)
        name = "sqs-long-poll" if call.long_poll else call.service
        if self._direct_requests and call.service == "sqs" and call.operation in DIRECT_OPERATIONS:
            send = self._direct.get(name) or await self._direct_sender(name)
            return await send(call.operation, dict(call.params))
        client = await self.client(name)
        response: Mapping[str, Any] = await getattr(client, xform_name(call.operation))(
            **call.params
        )
        return response

    async def client(self, name: str) -> Any:
        """Return the client ``name`` (``sqs``, ``sqs-long-poll``, ``sns``, ``sts``), made once."""
        client: Any = self._clients.get(name)
        if client is None:
            async with self._opening:
                client = self._clients.get(name)
                if client is None:
                    service, endpoint_url, config = self._specs[name]
                    creating = self._session.create_client(
                        service, region_name=self.region, endpoint_url=endpoint_url, config=config
                    )
                    client = await self._exits.enter_async_context(creating)
                    client.meta.events.register("before-parse", _remember_status)
                    self._clients[name] = client
        return client

    async def _direct_sender(self, name: str) -> AsyncDirectSqs:
        client = await self.client(name)
        credentials = await self._session.get_credentials()
        send = AsyncDirectSqs(
            client, credentials, attempts=self._attempts[name], remember_status=_last_status.set
        )
        self._direct[name] = send
        return send

    @staticmethod
    def last_status() -> int | None:
        """Return the HTTP status of the current task's last answer (for unparsable answers)."""
        return _last_status.get()

    async def close(self) -> None:
        """Close every client made so far; the next request would make them again."""
        async with self._opening:
            self._clients.clear()
            self._direct.clear()
            await self._exits.aclose()


def _remember_status(response_dict: dict[str, Any], **_: Any) -> None:
    status = response_dict.get("status_code")
    _last_status.set(None if status is None else int(status))
