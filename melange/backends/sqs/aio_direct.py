"""SQS's hot requests sent directly over aiobotocore's HTTP session (see ``sqs_direct``).

The sync backend's ``DirectRequests`` prepares, signs and parses; ``pause_before_retry``
decides retries; this module only awaits the send, the credentials and the pause.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

from melange.backends.sqs.direct import (
    RETRIED_ERRORS,
    DirectRequests,
    pause_before_retry,
)
from melange.messages import JsonDict

__all__ = ["AsyncDirectSqs"]


class AsyncDirectSqs:
    """Sends the hot SQS requests over an aiobotocore client's HTTP session.

    Args:
        client: the aiobotocore SQS client whose endpoint, HTTP session (timeouts, pool)
            and events to use.
        credentials: the session's aiobotocore credentials (refreshed on use), or ``None``.
        attempts: attempts per request, the first included.
        remember_status: called with each answer's HTTP status (for unparsable answers).
    """

    def __init__(
        self,
        client: Any,
        credentials: Any,
        *,
        attempts: int,
        remember_status: Callable[[int], object],
    ) -> None:
        self._requests = DirectRequests(client)
        self._credentials = credentials
        self._attempts = attempts
        self._remember_status = remember_status
        # aiobotocore's HTTP session: the client's timeouts, proxies, CA bundle and pool.
        self._http = client._endpoint.http_session
        self._events = client.meta.events

    async def __call__(self, operation: str, params: JsonDict) -> Mapping[str, Any]:
        """Send ``operation`` (one of ``DIRECT_OPERATIONS``) and return boto3's answer shape."""
        body = self._requests.body(params)
        attempt = 1
        while True:
            try:
                return await self._send_once(operation, body)
            except RETRIED_ERRORS as exc:
                pause = pause_before_retry(exc, attempt, self._attempts)
                if pause is None:
                    raise
            await asyncio.sleep(pause)
            attempt += 1

    async def _send_once(self, operation: str, body: bytes) -> Mapping[str, Any]:
        credentials = self._credentials and await self._credentials.get_frozen_credentials()
        prepared = self._requests.prepare(operation, body, credentials)
        await self._events.emit(f"before-send.sqs.{operation}", request=prepared)
        response = await self._http.send(prepared)
        content = await response.content
        status = int(response.status_code)
        self._remember_status(status)
        return self._requests.answer(operation, status, response.headers, content)
