"""The SQS/SNS backend on boto3: AWS, or any emulator (ElasticMQ, LocalStack, moto) by endpoint.

With aws.py and sqs_clients.py, the only modules that import boto3. Each operation is a
plan written once for this backend and the asyncio one (``sqs_transport``, ``sqs_admin``,
``sqs_directory``; see ``sqs_calls``); this class runs them with blocking requests. It
keeps its clients for its life (``sqs_clients``), caches queue URLs, queue ARNs and
topics, and translates every botocore error into melange's hierarchy in one place
(``SqsDirectory.request``). Clients are thread-safe, so one backend serves many threads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import boto3

from melange.backends.inspection import MoveTask, QueueStats, TopicSubscription
from melange.backends.shortcuts import BackendShortcuts
from melange.backends.sqs import inspection as sqs_inspection
from melange.backends.sqs import transport as sqs_transport
from melange.backends.sqs.admin import SqsAdmin
from melange.backends.sqs.calls import Plan, SqsCall, run_plan
from melange.backends.sqs.clients import SqsClients
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

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient

__all__ = ["SqsBackend"]

T = TypeVar("T")


class SqsBackend(BackendShortcuts):
    """Queues on Amazon SQS and topics on Amazon SNS, or on an emulator by endpoint.

    Every request has a bounded network time. A publish, and every other request but
    the long-poll receive (send, acknowledge, change visibility, declarations,
    look-ups), makes at most ``retries.max_attempts`` attempts of at most
    ``timeouts.publish_connect`` + ``timeouts.publish_read`` each, with botocore's
    ``standard`` retry pause (at most 1 s) between them: against an endpoint that
    accepts connections and never answers, or one that cannot be reached, a publish
    raises ``BackendUnavailableError`` within 2 x (2 + 5) + 1 = 15 s with the defaults
    (``options.worst_case_seconds``). A receive makes one attempt (the dispatcher
    backs off between receives) and ends within ``timeouts.receive_connect`` +
    ``timeouts.receive_read``: 27 s with the defaults, whatever its wait.

    Errors that cannot heal (credentials, permissions, an operation or protocol the
    endpoint does not serve, an invalid request) raise ``BackendRefusedError`` at once;
    throttling, 5xx answers and network failures raise ``BackendError`` or
    ``BackendUnavailableError`` and may be retried.

    Args:
        session: the boto3 session to build clients from; a default session (the standard
            credential chain and ``AWS_*`` environment) when omitted.
        endpoints: the region (overriding the session's), the topics' account and each
            service's URL; AWS's own for what it leaves ``None`` (see ``Endpoints``).
        timeouts: seconds to connect and to wait, for short requests and for the
            long-poll receive (see ``Timeouts``).
        retries: attempts per request but the receive (see ``RetryBudget``).
        limits: HTTP connections per client; size them for your thread count (see
            ``ConnectionLimits``).
        direct_requests: send receives, acknowledgements, visibility changes and sends
            in SQS's JSON protocol directly, skipping botocore's per-request pipeline
            (about half the CPU per request; see ``sqs_direct``); ``False`` sends every
            request through botocore, for hooks that must see them all.

    Raises:
        ConfigurationError: no region, in ``endpoints`` or the session.
    """

    def __init__(
        self,
        *,
        session: boto3.Session | None = None,
        endpoints: Endpoints = DEFAULT_ENDPOINTS,
        timeouts: Timeouts = DEFAULT_TIMEOUTS,
        retries: RetryBudget = DEFAULT_RETRIES,
        limits: ConnectionLimits = DEFAULT_LIMITS,
        direct_requests: bool = True,
    ) -> None:
        self._clients = SqsClients(
            session or boto3.Session(),
            endpoints=endpoints,
            timeouts=timeouts,
            retries=retries,
            limits=limits,
            direct_requests=direct_requests,
        )
        self._directory = SqsDirectory(
            account_id=endpoints.account_id, last_status=self._clients.last_status
        )
        self._admin = SqsAdmin(self._directory)

    @property
    def sqs_client(self) -> SQSClient:
        """The boto3 SQS client, for what melange does not wrap (and for request counting).

        Hooks registered on its ``before-send`` event also see the long-poll receives,
        which go through a client of their own.
        """
        return self._clients.sqs

    @property
    def sns_client(self) -> SNSClient:
        """The boto3 SNS client, for what melange does not wrap (and for request counting)."""
        return self._clients.sns

    # -- administration ------------------------------------------------------------------

    def declare(self, spec: Declaration) -> Declared:
        """Make a queue, topic or subscription exist as declared (see ``SqsAdmin``)."""
        return self._run(self._admin.declare(spec))

    def delete(self, destination: Destination) -> None:
        """Delete a queue or topic; a missing one is not an error."""
        self._run(self._admin.delete(destination))

    def redrive_policy(self, queue_name: str) -> RedrivePolicy | None:
        """Return the queue's ``RedrivePolicy`` attribute: its DLQ's name and receive limit."""
        return self._run(sqs_transport.redrive_policy(self._directory, queue_name))

    def close(self) -> None:
        """Close every client's connection pool."""
        self._clients.close()

    # -- moving messages (see ``sqs_transport``) -----------------------------------------

    def publish(self, destination: Destination, messages: Sequence[OutgoingMessage]) -> BatchResult:
        """Send one message with SendMessage/Publish, several with the batch requests."""
        return self._run(sqs_transport.publish(self._directory, destination, messages))

    def send_raw(
        self,
        queue_name: str,
        body: str,
        attributes: Mapping[str, AttributeValue],
        *,
        message_group_id: str | None = None,
        deduplication_id: str | None = None,
    ) -> str:
        """Send a body and attributes as given, unwrapped, with one SendMessage request."""
        return self._run(
            sqs_transport.send_raw(
                self._directory,
                queue_name,
                body,
                attributes,
                message_group_id=message_group_id,
                deduplication_id=deduplication_id,
            )
        )

    def receive(
        self,
        queue_name: str,
        *,
        max_messages: int = 10,
        wait_time_seconds: int = 0,
        visibility_timeout: int | None = None,
    ) -> list[ReceivedMessage]:
        """Receive with ReceiveMessage, asking for all message attributes and the receive count."""
        plan = sqs_transport.receive(
            self._directory,
            queue_name,
            max_messages=max_messages,
            wait_time_seconds=wait_time_seconds,
            visibility_timeout=visibility_timeout,
        )
        return self._run(plan)

    def acknowledge(self, queue_name: str, receipt_handles: Sequence[str]) -> list[str]:
        """Delete messages with DeleteMessageBatch, 10 per request."""
        return self._run(sqs_transport.acknowledge(self._directory, queue_name, receipt_handles))

    def change_visibility(
        self, queue_name: str, receipt_handles: Sequence[str], timeout_seconds: int
    ) -> list[str]:
        """Change visibility with ChangeMessageVisibilityBatch, 10 per request."""
        plan = sqs_transport.change_visibility(
            self._directory, queue_name, receipt_handles, timeout_seconds
        )
        return self._run(plan)

    # -- inspection (see ``sqs_inspection``) ---------------------------------------------

    def queue_stats(self, queue_name: str) -> QueueStats:
        """Return the queue's approximate counts; SQS does not report the oldest's age."""
        return self._run(sqs_inspection.queue_stats(self._directory, queue_name))

    def list_queues(self, prefix: str = "") -> list[str]:
        """Return the names of the queues starting with ``prefix``, with ListQueues."""
        return self._run(sqs_inspection.list_queues(self._directory, prefix))

    def purge(self, queue_name: str) -> None:
        """Delete every message of the queue with PurgeQueue."""
        self._run(sqs_inspection.purge(self._directory, queue_name))

    def start_message_move(
        self, dead_letter_queue: str, destination: str, *, max_per_second: int | None = None
    ) -> MoveTask:
        """Start SQS's StartMessageMoveTask from the dead-letter queue to ``destination``."""
        plan = sqs_inspection.start_message_move(
            self._directory, dead_letter_queue, destination, max_per_second
        )
        return self._run(plan)

    def message_move(self, dead_letter_queue: str) -> MoveTask | None:
        """Return the dead-letter queue's latest move task, with ListMessageMoveTasks."""
        return self._run(sqs_inspection.message_move(self._directory, dead_letter_queue))

    def cancel_message_move(self, handle: str) -> None:
        """Stop a move task with CancelMessageMoveTask."""
        self._run(sqs_inspection.cancel_message_move(handle))

    def list_subscriptions(self) -> list[TopicSubscription]:
        """Return every subscription of the account, with ListSubscriptions."""
        return self._run(sqs_inspection.list_subscriptions())

    def queue_arn(self, queue_name: str) -> str:
        """Return the queue's ARN (looked up once, with GetQueueAttributes)."""
        return self._run(self._directory.queue_arn(queue_name))

    def unsubscribe(self, subscription: TopicSubscription) -> None:
        """Delete the subscription with Unsubscribe."""
        self._run(sqs_inspection.unsubscribe(subscription))

    # -- the driver ----------------------------------------------------------------------

    def _run(self, plan: Plan[T]) -> T:
        """Run a plan, each request made by the clients, its errors translated."""
        return run_plan(plan, self._answer)

    def _answer(self, call: SqsCall) -> Mapping[str, Any]:
        with self._directory.request(call.operation, queue=call.queue, topic=call.topic):
            return self._clients.answer(call)
