"""SQS's hot requests sent straight in SQS's JSON protocol, without botocore's request pipeline.

Receiving, acknowledging, changing visibility and sending are most of what a busy service
asks of SQS, and against a broker that answers in a millisecond botocore's per-request
work is the largest cost in the process: on the development machine a ReceiveMessage of
ten messages took 1.26 ms of CPU through a boto3 client and 0.52 ms sent this way
(benchmarks/consume.py measures the whole consume path). The difference is botocore's
event chain, parameter validation, endpoint ruleset resolution and response-shape
walking, none of which these five requests need: melange has already checked sizes,
attributes and characters, and their answers are plain JSON.

Everything that is not per-request overhead stays botocore's, taken from the client the
request would otherwise go through: the resolved endpoint, the session's credentials
(refreshed as they expire), SigV4 signing, the HTTP session with its timeouts, proxies,
CA bundle and connection pool, the parsing of error answers, and the exceptions raised,
so ``SqsDirectory.request`` remains the one place errors are translated. Hooks on the
client's ``before-send`` event (request counters) see these requests too. Retries follow
botocore's ``standard`` mode: connection failures, 5xx, throttling and transient codes.

``SqsBackend(direct_requests=False)`` (``MELANGE_SQS_DIRECT_REQUESTS=false``) sends them
through botocore instead, for applications whose botocore hooks (instrumentation,
stubbing) must see every request.
"""

from __future__ import annotations

import base64
import json
import random
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

import botocore
import botocore.auth
import botocore.awsrequest
import botocore.exceptions
import botocore.parsers

from melange.backends.sqs.errors import THROTTLING, TRANSIENT
from melange.messages import JsonDict

if TYPE_CHECKING:
    from botocore.awsrequest import AWSPreparedRequest
    from botocore.credentials import Credentials
    from mypy_boto3_sqs import SQSClient

__all__ = [
    "DIRECT_OPERATIONS",
    "RETRIED_ERRORS",
    "BotocoreSqs",
    "DirectRequests",
    "DirectSqs",
    "SqsCaller",
    "pause_before_retry",
    "retry_pause",
    "should_retry",
]


#: The requests sent directly; everything else goes through botocore.
DIRECT_OPERATIONS = frozenset(
    {
        "ChangeMessageVisibilityBatch",
        "DeleteMessageBatch",
        "ReceiveMessage",
        "SendMessage",
        "SendMessageBatch",
    }
)
#: Codes botocore's ``standard`` mode retries at once. SQS's OverLimit (too many messages
#: in flight) is left to the dispatcher's backoff: it heals as messages are settled, which
#: takes longer than a client retry waits.
_RETRIED_CODES = (THROTTLING | TRANSIENT) - {"OverLimit"}
_RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})
#: What an attempt may fail with and still be retried (see ``pause_before_retry``).
RETRIED_ERRORS = (
    botocore.exceptions.ClientError,
    botocore.exceptions.ConnectionError,
    botocore.exceptions.HTTPClientError,
)
#: The longest pause between attempts, as botocore's ``standard`` mode.
_MAX_PAUSE_SECONDS = 20.0


class SqsCaller(Protocol):
    """Sends one SQS request by its operation name and returns the answer's fields."""

    def __call__(self, operation: str, params: JsonDict) -> Mapping[str, Any]:
        """Send ``operation`` with boto3's parameter names; return boto3's answer shape."""
        ...


def should_retry(codes: tuple[str, ...], status: int | None) -> bool:
    """Return whether an error answer is retried at once, as botocore's ``standard`` mode does."""
    return status in _RETRIED_STATUSES or any(code in _RETRIED_CODES for code in codes)


def retry_pause(attempt: int, draw: Callable[[], float] = random.random) -> float:
    """Return the pause before attempt ``attempt + 1``: full jitter up to 2^(attempt-1) s."""
    return draw() * min(2.0 ** (attempt - 1), _MAX_PAUSE_SECONDS)


class BotocoreSqs:
    """Sends SQS requests through a boto3 client's own methods (botocore's whole pipeline)."""

    def __init__(self, client: SQSClient) -> None:
        self._client = client

    def __call__(self, operation: str, params: JsonDict) -> Mapping[str, Any]:
        """Call the client method named after ``operation`` (``SendMessage``: ``send_message``)."""
        method = getattr(self._client, botocore.xform_name(operation))
        response: Mapping[str, Any] = method(**params)
        return response


class DirectRequests:
    """SQS's JSON protocol for the hot requests: bodies, signed requests, parsed answers.

    No I/O: the sync ``DirectSqs`` and the asyncio ``melange.backends.sqs.aio_direct`` send what
    this prepares, over their client's HTTP session, and hand back what came.

    Args:
        client: the (boto3 or aiobotocore) SQS client whose endpoint, region and service
            model to use.
    """

    def __init__(self, client: Any) -> None:
        self._url = client.meta.endpoint_url
        self._region = client.meta.region_name
        self._service_model = client.meta.service_model
        self._parser = botocore.parsers.create_parser("json")
        self._user_agent = f"melange botocore/{botocore.__version__}"

    @staticmethod
    def body(params: JsonDict) -> bytes:
        """Return the JSON body of a request with boto3's parameters (blobs in base64)."""
        return json.dumps(params, separators=(",", ":"), default=_base64).encode()

    def prepare(self, operation: str, body: bytes, credentials: Any) -> AWSPreparedRequest:
        """Return ``operation``'s request, signed with ``credentials`` (frozen ones)."""
        if credentials is None:
            raise botocore.exceptions.NoCredentialsError
        request = botocore.awsrequest.AWSRequest(
            method="POST",
            url=self._url,
            data=body,
            headers={
                "Content-Type": "application/x-amz-json-1.0",
                "X-Amz-Target": f"AmazonSQS.{operation}",
                "x-amzn-query-mode": "true",  # errors carry SQS's query-era codes too
                "User-Agent": self._user_agent,
            },
        )
        botocore.auth.SigV4Auth(credentials, "sqs", self._region).add_auth(request)
        return request.prepare()

    def answer(
        self, operation: str, status: int, headers: Mapping[str, str], content: bytes
    ) -> Mapping[str, Any]:
        """Return the answer's fields in boto3's shape, or raise botocore's error for it."""
        if status >= 300:
            # Parsed as botocore would: its codes, query-compatible ones too.
            model = self._service_model.operation_model(operation)
            raw = {"status_code": status, "headers": headers, "body": content}
            parsed = self._parser.parse(raw, model.output_shape)
            raise botocore.exceptions.ClientError(parsed, operation)
        try:
            answer: JsonDict = json.loads(content) if content else {}
        except ValueError as exc:
            raise botocore.parsers.ResponseParserError(
                f"the answer to {operation} is not JSON: {content[:200]!r}"
            ) from exc
        if operation == "ReceiveMessage":
            _decode_binary_attributes(answer)
        return answer


def pause_before_retry(error: Exception, attempt: int, attempts: int) -> float | None:
    """Return the pause before retrying after ``error`` on attempt ``attempt``, or ``None``.

    ``None`` means the error is final: the attempts are spent, or the answer is not one
    botocore's ``standard`` mode retries. No answer at all is retried while attempts last.
    """
    if attempt >= attempts:
        return None
    if isinstance(error, botocore.exceptions.ClientError):
        codes, status = _codes_of(error)
        if not should_retry(codes, status):
            return None
    return retry_pause(attempt)


class DirectSqs:
    """Sends SQS's hot requests signed and serialized here, over ``client``'s HTTP session.

    Args:
        client: the boto3 SQS client whose endpoint, credentials, HTTP session, retry
            budget and events to use; other operations are sent through it.
        credentials: the credentials to sign with (the session's; refreshed on use).
        attempts: attempts per request, the first included.
        remember_status: called with each answer's HTTP status (for unparsable answers).
    """

    def __init__(
        self,
        client: SQSClient,
        credentials: Credentials | None,
        *,
        attempts: int,
        remember_status: Callable[[int], object] = lambda status: None,
    ) -> None:
        self._fallback = BotocoreSqs(client)
        self._requests = DirectRequests(client)
        self._credentials = credentials
        self._attempts = attempts
        self._remember_status = remember_status
        # botocore's HTTP session: the client's timeouts, proxies, CA bundle and pool.
        self._http = client._endpoint.http_session  # type: ignore[attr-defined]
        self._events = client.meta.events

    def __call__(self, operation: str, params: JsonDict) -> Mapping[str, Any]:
        """Send ``operation`` directly if it is a hot request, else through botocore."""
        if operation not in DIRECT_OPERATIONS:
            return self._fallback(operation, params)
        body = self._requests.body(params)
        attempt = 1
        while True:
            try:
                return self._send_once(operation, body)
            except RETRIED_ERRORS as exc:
                pause = pause_before_retry(exc, attempt, self._attempts)
                if pause is None:
                    raise
            time.sleep(pause)
            attempt += 1

    def _send_once(self, operation: str, body: bytes) -> Mapping[str, Any]:
        credentials = self._credentials and self._credentials.get_frozen_credentials()
        prepared = self._requests.prepare(operation, body, credentials)
        self._events.emit(f"before-send.sqs.{operation}", request=prepared)
        response = self._http.send(prepared)
        status = int(response.status_code)
        self._remember_status(status)
        return self._requests.answer(operation, status, response.headers, response.content)


def _codes_of(exc: botocore.exceptions.ClientError) -> tuple[tuple[str, ...], int | None]:
    error = exc.response.get("Error", {})
    codes = (str(error.get("Code", "")), str(error.get("QueryErrorCode", "")))
    return codes, exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")


def _base64(value: object) -> str:
    """Encode binary attribute values as SQS's JSON protocol carries blobs."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _decode_binary_attributes(answer: JsonDict) -> None:
    """Turn the base64 ``BinaryValue`` of received message attributes into bytes, as boto3."""
    for message in answer.get("Messages", ()):
        for value in message.get("MessageAttributes", {}).values():
            if "BinaryValue" in value:
                value["BinaryValue"] = base64.b64decode(value["BinaryValue"])
