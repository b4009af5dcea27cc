"""The asyncio SQS backend's aiobotocore clients: the same configuration as the sync ones.

One aiobotocore session and one client per service (SQS, SQS long poll, SNS, STS) per
backend, made on first use inside the running event loop and closed by ``close``. Their
botocore configuration, endpoints and attempt counts come from the same function as
the sync clients' (``options.client_specs``): the same timeouts and ``standard``
retries. The hot SQS requests are sent directly (``sqs_direct``) unless
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
from melange.backends.sqs.clients import no_region, session_facts
from melange.backends.sqs.direct import DIRECT_OPERATIONS
from melange.backends.sqs.options import (
    DEFAULT_ENDPOINTS,
    DEFAULT_LIMITS,
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUTS,
    ClientName,
    ConnectionLimits,
    Endpoints,
    RetryBudget,
    Timeouts,
    client_specs,
)

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
        endpoints: the region, account and each service's URL (see ``Endpoints``).
        timeouts: see ``Timeouts``.
        retries: see ``RetryBudget``.
        limits: see ``ConnectionLimits``.
        direct_requests: send the hot SQS requests directly (``sqs_direct``).

    Raises:
        ConfigurationError: no region, in ``endpoints`` or the session.
    """

    def __init__(
        self,
        session: Any,
        *,
        endpoints: Endpoints = DEFAULT_ENDPOINTS,
        timeouts: Timeouts = DEFAULT_TIMEOUTS,
        retries: RetryBudget = DEFAULT_RETRIES,
        limits: ConnectionLimits = DEFAULT_LIMITS,
        direct_requests: bool = True,
    ) -> None:
        region = endpoints.region or session.get_config_variable("region")
        if not region:
            raise no_region()
        self.region: str = region
        self._session = session
        self._specs = client_specs(endpoints, timeouts, retries, limits)
        self._clients: dict[ClientName, Any] = {}
        self._direct_requests = direct_requests
        self._direct: dict[ClientName, AsyncDirectSqs] = {}
        self._exits = contextlib.AsyncExitStack()
        self._opening = asyncio.Lock()

    async def answer(self, call: SqsCall) -> Mapping[str, Any]:
        """Make the request ``call`` describes and return boto3's answer (botocore's errors)."""
        if call.service == "session":
            credentials = await self._session.get_credentials()
            return session_facts(self._session, self.region, credentials)
        name: ClientName = "sqs-long-poll" if call.long_poll else call.service
        if self._direct_requests and call.service == "sqs" and call.operation in DIRECT_OPERATIONS:
            send = self._direct.get(name) or await self._direct_sender(name)
            return await send(call.operation, dict(call.params))
        client = await self.client(name)
        response: Mapping[str, Any] = await getattr(client, xform_name(call.operation))(
            **call.params
        )
        return response

    async def client(self, name: ClientName) -> Any:
        """Return the client ``name`` (``sqs``, ``sqs-long-poll``, ``sns``, ``sts``), made once."""
        client: Any = self._clients.get(name)
        if client is None:
            async with self._opening:
                client = self._clients.get(name)
                if client is None:
                    spec = self._specs[name]
                    creating = self._session.create_client(
                        spec.service,
                        region_name=self.region,
                        endpoint_url=spec.endpoint_url,
                        config=spec.config,
                    )
                    client = await self._exits.enter_async_context(creating)
                    client.meta.events.register("before-parse", _remember_status)
                    self._clients[name] = client
        return client

    async def _direct_sender(self, name: ClientName) -> AsyncDirectSqs:
        client = await self.client(name)
        credentials = await self._session.get_credentials()
        attempts = self._specs[name].attempts
        send = AsyncDirectSqs(
            client, credentials, attempts=attempts, remember_status=_last_status.set
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
