"""The SQS/SNS backends for asyncio, on aiobotocore: the sync backend's plans, awaited.

Every decision (request shapes, size checks, batching, caches, topic resolution, error
translation) is the sync backend's own: each method runs the same plan
(``melange.backends.sqs.transport``, ``sqs_admin``, ``sqs_directory``) and only the
driver here awaits where the sync one blocks. The hot SQS requests are sent directly over
aiobotocore's HTTP session, as the sync backend sends them over botocore's
(``sqs_direct``); the rest go through aiobotocore's client methods.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar

from aiobotocore.session import AioSession

from melange.backends.aio_shortcuts import AsyncBackendShortcuts
from melange.backends.aws import LOCAL_CREDENTIALS
from melange.backends.sqs import transport as sqs_transport
from melange.backends.sqs.admin import SqsAdmin
from melange.backends.sqs.aio_clients import AsyncSqsClients
from melange.backends.sqs.calls import Plan, SqsCall, run_plan_async
from melange.backends.sqs.directory import SqsDirectory
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
from melange.messages import (
    AttributeValue,
    BatchResult,
    Destination,
    OutgoingMessage,
    ReceivedMessage,
    RedrivePolicy,
)
from melange.topology.declared import Declared
from melange.topology.specs import Declaration

__all__ = ["AsyncAWSBackend", "AsyncLocalSQSBackend", "AsyncSqsBackend"]

T = TypeVar("T")


class AsyncSqsBackend(AsyncBackendShortcuts):
    """Queues on Amazon SQS and topics on Amazon SNS for asyncio (see ``SqsBackend``).

    The same options, timeouts, retries, errors and behaviour as ``SqsBackend``; requests
    never block the event loop. The clients are made on first use in the running loop;
    ``await backend.close()`` (or ``async with backend:``) closes them.

    Args:
        session: the aiobotocore session; a new one (the standard credential chain and
            ``AWS_*`` environment) when omitted.
        endpoints: see ``SqsBackend``.
        timeouts: see ``SqsBackend``.
        retries: see ``SqsBackend``.
        limits: see ``SqsBackend``.
        direct_requests: send receives, acknowledgements, visibility changes and sends
            directly over aiobotocore's HTTP session, signed and parsed by the sync
            backend's code (``sqs_direct``); ``False`` sends every request through
            aiobotocore's client methods.

    Raises:
        ConfigurationError: no region, in ``endpoints`` or the session.
    """

    def __init__(
        self,
        *,
        session: AioSession | None = None,
        endpoints: Endpoints = DEFAULT_ENDPOINTS,
        timeouts: Timeouts = DEFAULT_TIMEOUTS,
        retries: RetryBudget = DEFAULT_RETRIES,
        limits: ConnectionLimits = DEFAULT_LIMITS,
        direct_requests: bool = True,
    ) -> None:
        self.clients = AsyncSqsClients(
            session or AioSession(),
            endpoints=endpoints,
            timeouts=timeouts,
            retries=retries,
            limits=limits,
            direct_requests=direct_requests,
        )
        self._directory = SqsDirectory(
            account_id=endpoints.account_id, last_status=self.clients.last_status
        )
        self._admin = SqsAdmin(self._directory)

    async def __aenter__(self) -> AsyncSqsBackend:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    # -- administration ------------------------------------------------------------------

    async def declare(self, spec: Declaration) -> Declared:
        """Make a queue, topic or subscription exist as declared (see ``SqsAdmin``)."""
        return await self._run(self._admin.declare(spec))

    async def delete(self, destination: Destination) -> None:
        """Delete a queue or topic; a missing one is not an error."""
        await self._run(self._admin.delete(destination))

    async def redrive_policy(self, queue_name: str) -> RedrivePolicy | None:
        """Return the queue's ``RedrivePolicy`` attribute: its DLQ's name and receive limit."""
        return await self._run(sqs_transport.redrive_policy(self._directory, queue_name))

    async def close(self) -> None:
        """Close every client's connection pool."""
        await self.clients.close()

    # -- moving messages (see ``sqs_transport``) -----------------------------------------

    async def publish(
        self, destination: Destination, messages: Sequence[OutgoingMessage]
    ) -> BatchResult:
        """Send one message with SendMessage/Publish, several with the batch requests."""
        return await self._run(sqs_transport.publish(self._directory, destination, messages))

    async def send_raw(
        self,
        queue_name: str,
        body: str,
        attributes: Mapping[str, AttributeValue],
        *,
        message_group_id: str | None = None,
        deduplication_id: str | None = None,
    ) -> str:
        """Send a body and attributes as given, unwrapped, with one SendMessage request."""
        plan = sqs_transport.send_raw(
            self._directory,
            queue_name,
            body,
            attributes,
            message_group_id=message_group_id,
            deduplication_id=deduplication_id,
        )
        return await self._run(plan)

    async def receive(
        self,
        queue_name: str,
        *,
        max_messages: int = 10,
        wait_time_seconds: int = 0,
        visibility_timeout: int | None = None,
    ) -> list[ReceivedMessage]:
        """Receive with ReceiveMessage; a long poll waits without blocking the event loop."""
        plan = sqs_transport.receive(
            self._directory,
            queue_name,
            max_messages=max_messages,
            wait_time_seconds=wait_time_seconds,
            visibility_timeout=visibility_timeout,
        )
        return await self._run(plan)

    async def acknowledge(self, queue_name: str, receipt_handles: Sequence[str]) -> list[str]:
        """Delete messages with DeleteMessageBatch, 10 per request."""
        plan = sqs_transport.acknowledge(self._directory, queue_name, receipt_handles)
        return await self._run(plan)

    async def change_visibility(
        self, queue_name: str, receipt_handles: Sequence[str], timeout_seconds: int
    ) -> list[str]:
        """Change visibility with ChangeMessageVisibilityBatch, 10 per request."""
        plan = sqs_transport.change_visibility(
            self._directory, queue_name, receipt_handles, timeout_seconds
        )
        return await self._run(plan)

    # -- the driver ----------------------------------------------------------------------

    async def _run(self, plan: Plan[T]) -> T:
        return await run_plan_async(plan, self._answer)

    async def _answer(self, call: SqsCall) -> Mapping[str, Any]:
        with self._directory.request(call.operation, queue=call.queue, topic=call.topic):
            return await self.clients.answer(call)


class AsyncAWSBackend(AsyncSqsBackend):
    """SQS and SNS on AWS for asyncio, with credentials from the standard AWS chain.

    Args:
        region_name: the AWS region; defaults to ``AWS_REGION`` / the profile's region.
            The same as ``Endpoints(region=...)``; give it in one place.
        profile_name: the shared-config profile to use; the default chain when omitted.
        aws_access_key_id: explicit credentials, instead of the chain's.
        aws_secret_access_key: see ``aws_access_key_id``.
        aws_session_token: see ``aws_access_key_id``.
        endpoints: see ``SqsBackend``: the topics' account, or explicit endpoints (VPC
            interface endpoints).
        timeouts: see ``SqsBackend``.
        retries: see ``SqsBackend``.
        limits: see ``SqsBackend``.
        direct_requests: see ``AsyncSqsBackend``.

    Raises:
        ConfigurationError: no region, or ``region_name`` and ``endpoints`` name two.
    """

    def __init__(
        self,
        region_name: str | None = None,
        *,
        profile_name: str | None = None,
        aws_access_key_id: str | None = None,
        aws_secret_access_key: str | None = None,
        aws_session_token: str | None = None,
        endpoints: Endpoints = DEFAULT_ENDPOINTS,
        timeouts: Timeouts = DEFAULT_TIMEOUTS,
        retries: RetryBudget = DEFAULT_RETRIES,
        limits: ConnectionLimits = DEFAULT_LIMITS,
        direct_requests: bool = True,
    ) -> None:
        session = AioSession(profile=profile_name)
        if aws_access_key_id is not None and aws_secret_access_key is not None:
            session.set_credentials(aws_access_key_id, aws_secret_access_key, aws_session_token)
        super().__init__(
            session=session,
            endpoints=endpoints.in_region(region_name),
            timeouts=timeouts,
            retries=retries,
            limits=limits,
            direct_requests=direct_requests,
        )


class AsyncLocalSQSBackend(AsyncSqsBackend):
    """SQS/SNS on a local emulator (ElasticMQ, LocalStack, moto, fauxqs) for asyncio.

    Args:
        host: see ``LocalSQSBackend``.
        port: see ``LocalSQSBackend``.
        sns_host: see ``LocalSQSBackend``.
        sns_port: see ``LocalSQSBackend``.
        region_name: the region to sign requests for.
        account_id: see ``LocalSQSBackend``.
        timeouts: see ``SqsBackend``.
        retries: see ``SqsBackend``.
        limits: see ``SqsBackend``.
        direct_requests: see ``AsyncSqsBackend``.
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
        session = AioSession()
        session.set_credentials(*LOCAL_CREDENTIALS)
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
