"""The SQS/SNS backend on boto3: AWS, or any emulator (ElasticMQ, LocalStack, moto) by endpoint.

With aws.py and sqs_clients.py, the only modules that import boto3. It keeps its clients
for its life (``sqs_clients``), caches queue URLs, queue ARNs and topics, and translates
every botocore error into melange's hierarchy in one place (``SqsDirectory.request``).
Clients are thread-safe, so one backend serves many threads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import boto3

from melange import limits, wire
from melange.backends.shortcuts import BackendShortcuts
from melange.backends.sqs_admin import SqsAdmin
from melange.backends.sqs_clients import (
    PUBLISH_CONNECT_TIMEOUT,
    PUBLISH_MAX_ATTEMPTS,
    PUBLISH_READ_TIMEOUT,
    RECEIVE_CONNECT_TIMEOUT,
    RECEIVE_READ_TIMEOUT,
    SqsClients,
)
from melange.backends.sqs_directory import SqsDirectory
from melange.backends.sqs_requests import (
    chunks,
    publish_params,
    received_message,
    redrive_policy_of,
    send_batches,
    to_boto_attributes,
)
from melange.declared import Declared
from melange.messages import (
    AttributeValue,
    BatchResult,
    Destination,
    OutgoingMessage,
    ReceivedMessage,
    RedrivePolicy,
)
from melange.topology import Declaration

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient

__all__ = ["SqsBackend"]


class SqsBackend(BackendShortcuts):
    """Queues on Amazon SQS and topics on Amazon SNS, or on an emulator by endpoint.

    Every request has a bounded network time. A publish, and every other request but
    the long-poll receive (send, acknowledge, change visibility, declarations,
    look-ups), makes at most ``publish_max_attempts`` attempts of at most
    ``publish_connect_timeout`` + ``publish_read_timeout`` each, with botocore's
    ``standard`` retry pause (at most 1 s) between them: against an endpoint that
    accepts connections and never answers, or one that cannot be reached, a publish
    raises ``BackendUnavailableError`` within 2 x (2 + 5) + 1 = 15 s with the defaults
    (``sqs_clients.worst_case_seconds``). A receive makes one attempt (the dispatcher
    backs off between receives) and ends within ``receive_connect_timeout`` +
    ``receive_read_timeout``: 27 s with the defaults, whatever its wait.

    Errors that cannot heal (credentials, permissions, an operation or protocol the
    endpoint does not serve, an invalid request) raise ``BackendRefusedError`` at once;
    throttling, 5xx answers and network failures raise ``BackendError`` or
    ``BackendUnavailableError`` and may be retried.

    Args:
        session: the boto3 session to build clients from; a default session (the standard
            credential chain and ``AWS_*`` environment) when omitted.
        region_name: the region, overriding the session's.
        endpoint_url: SQS endpoint (and SNS's too, unless ``sns_endpoint_url`` is given).
        sns_endpoint_url: SNS endpoint, when it differs from SQS's.
        sts_endpoint_url: STS endpoint, asked once for the account that topic ARNs are
            built with; AWS's own when omitted.
        account_id: the AWS account of the topics; when omitted, the one the credentials
            name (``AWS_ACCOUNT_ID``, SSO, roles), else asked of STS once.
        max_pool_connections: HTTP connections per client; size it for your thread count.
        publish_connect_timeout: seconds to open a connection, for every request but
            the receive.
        publish_read_timeout: seconds to wait for an answer, for every request but the
            receive.
        publish_max_attempts: attempts per request but the receive, the first included.
        receive_connect_timeout: seconds to open a connection for a receive.
        receive_read_timeout: seconds to wait for a receive's answer; above the 20 s
            long poll.
        direct_requests: send receives, acknowledgements, visibility changes and sends
            in SQS's JSON protocol directly, skipping botocore's per-request pipeline
            (about half the CPU per request; see ``sqs_direct``); ``False`` sends every
            request through botocore, for hooks that must see them all.

    Raises:
        ConfigurationError: no region, or a timeout or attempt count out of range.
    """

    def __init__(
        self,
        *,
        session: boto3.Session | None = None,
        region_name: str | None = None,
        endpoint_url: str | None = None,
        sns_endpoint_url: str | None = None,
        sts_endpoint_url: str | None = None,
        account_id: str | None = None,
        max_pool_connections: int = 50,
        publish_connect_timeout: float = PUBLISH_CONNECT_TIMEOUT,
        publish_read_timeout: float = PUBLISH_READ_TIMEOUT,
        publish_max_attempts: int = PUBLISH_MAX_ATTEMPTS,
        receive_connect_timeout: float = RECEIVE_CONNECT_TIMEOUT,
        receive_read_timeout: float = RECEIVE_READ_TIMEOUT,
        direct_requests: bool = True,
    ) -> None:
        self._clients = SqsClients(
            session or boto3.Session(),
            region_name=region_name,
            endpoint_url=endpoint_url,
            sns_endpoint_url=sns_endpoint_url,
            sts_endpoint_url=sts_endpoint_url,
            max_pool_connections=max_pool_connections,
            publish_connect_timeout=publish_connect_timeout,
            publish_read_timeout=publish_read_timeout,
            publish_max_attempts=publish_max_attempts,
            receive_connect_timeout=receive_connect_timeout,
            receive_read_timeout=receive_read_timeout,
            direct_requests=direct_requests,
        )
        self._sqs = self._clients.sqs
        self._send = self._clients.send_sqs
        self._sns = self._clients.sns
        self._directory = SqsDirectory(self._clients, account_id=account_id)
        self._admin = SqsAdmin(self._directory)

    @property
    def sqs_client(self) -> SQSClient:
        """The boto3 SQS client, for what melange does not wrap (and for request counting).

        Hooks registered on its ``before-send`` event also see the long-poll receives,
        which go through a client of their own.
        """
        return self._sqs

    @property
    def sns_client(self) -> SNSClient:
        """The boto3 SNS client, for what melange does not wrap (and for request counting)."""
        return self._sns

    # -- administration ------------------------------------------------------------------

    def declare(self, spec: Declaration) -> Declared:
        """Make a queue, topic or subscription exist as declared (see ``SqsAdmin``)."""
        return self._admin.declare(spec)

    def delete(self, destination: Destination) -> None:
        """Delete a queue or topic; a missing one is not an error."""
        self._admin.delete(destination)

    def redrive_policy(self, queue_name: str) -> RedrivePolicy | None:
        """Return the queue's ``RedrivePolicy`` attribute: its DLQ's name and receive limit."""
        url = self._directory.queue_url(queue_name)
        with self._directory.request("GetQueueAttributes", queue=queue_name):
            response = self._sqs.get_queue_attributes(
                QueueUrl=url, AttributeNames=["RedrivePolicy"]
            )
        return redrive_policy_of(response.get("Attributes", {}).get("RedrivePolicy"))

    def close(self) -> None:
        """Close every client's connection pool."""
        self._clients.close()

    # -- publishing ----------------------------------------------------------------------

    def publish(self, destination: Destination, messages: Sequence[OutgoingMessage]) -> BatchResult:
        """Send one message with SendMessage/Publish, several with the batch requests.

        Batches hold 10 entries within the limit in total: SQS's 1 MiB for a queue, the
        topic's own ``MaximumMessageSize`` (256 KiB unless set) for a topic.
        """
        if destination.is_topic:
            return self._publish_to_topic(destination, messages)
        queue_name = destination.name
        prepared = [publish_params(destination, message) for message in messages]
        url = self._directory.queue_url(queue_name)
        if len(prepared) == 1:
            with self._directory.request("SendMessage", queue=queue_name):
                self._send("SendMessage", {"QueueUrl": url, **prepared[0][0]})
            return BatchResult(successful=(messages[0].envelope.message_id,))

        def send(entries: list[dict[str, Any]]) -> Mapping[str, Any]:
            with self._directory.request("SendMessageBatch", queue=queue_name):
                return self._send("SendMessageBatch", {"QueueUrl": url, "Entries": entries})

        return send_batches(messages, prepared, limits.SQS_MAX_MESSAGE_BYTES, send)

    def _publish_to_topic(
        self, destination: Destination, messages: Sequence[OutgoingMessage]
    ) -> BatchResult:
        topic_name = destination.name
        topic = self._directory.topic(topic_name)
        limit = topic.max_message_bytes
        prepared = [publish_params(destination, m, max_size=limit) for m in messages]
        if len(prepared) == 1:
            with self._directory.request("Publish", topic=topic_name):
                self._sns.publish(TopicArn=topic.arn, **prepared[0][0])
            return BatchResult(successful=(messages[0].envelope.message_id,))

        def send(entries: list[dict[str, Any]]) -> Mapping[str, Any]:
            with self._directory.request("PublishBatch", topic=topic_name):
                return self._sns.publish_batch(
                    TopicArn=topic.arn,
                    PublishBatchRequestEntries=entries,  # type: ignore[arg-type]
                )

        return send_batches(messages, prepared, limit, send)

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
        wire.check_raw(queue_name, body, attributes)
        params: dict[str, Any] = {
            "QueueUrl": self._directory.queue_url(queue_name),
            "MessageBody": body,
            "MessageAttributes": to_boto_attributes(attributes),
        }
        if message_group_id is not None:
            params["MessageGroupId"] = message_group_id
        if deduplication_id is not None:
            params["MessageDeduplicationId"] = deduplication_id
        with self._directory.request("SendMessage", queue=queue_name):
            return str(self._send("SendMessage", params)["MessageId"])

    # -- consuming -----------------------------------------------------------------------

    def receive(
        self,
        queue_name: str,
        *,
        max_messages: int = 10,
        wait_time_seconds: int = 0,
        visibility_timeout: int | None = None,
    ) -> list[ReceivedMessage]:
        """Receive with ReceiveMessage, asking for all message attributes and the receive count."""
        limits.check_receive_args(queue_name, max_messages, wait_time_seconds, visibility_timeout)
        params: dict[str, Any] = {
            "QueueUrl": self._directory.queue_url(queue_name),
            "MaxNumberOfMessages": max_messages,
            "WaitTimeSeconds": wait_time_seconds,
            "MessageAttributeNames": ["All"],
            "MessageSystemAttributeNames": [
                "ApproximateReceiveCount",
                "MessageGroupId",
                "SentTimestamp",
            ],
        }
        if visibility_timeout is not None:
            params["VisibilityTimeout"] = visibility_timeout
        with self._directory.request("ReceiveMessage", queue=queue_name):
            response = self._clients.send_receive("ReceiveMessage", params)
        return [received_message(queue_name, raw) for raw in response.get("Messages", [])]

    def acknowledge(self, queue_name: str, receipt_handles: Sequence[str]) -> list[str]:
        """Delete messages with DeleteMessageBatch, 10 per request."""
        url = self._directory.queue_url(queue_name)
        failed: list[str] = []
        for chunk in chunks(list(dict.fromkeys(receipt_handles))):
            entries = [{"Id": str(i), "ReceiptHandle": h} for i, h in enumerate(chunk)]
            with self._directory.request("DeleteMessageBatch", queue=queue_name):
                response = self._send("DeleteMessageBatch", {"QueueUrl": url, "Entries": entries})
            failed.extend(chunk[int(item["Id"])] for item in response.get("Failed", []))
        return failed

    def change_visibility(
        self, queue_name: str, receipt_handles: Sequence[str], timeout_seconds: int
    ) -> list[str]:
        """Change visibility with ChangeMessageVisibilityBatch, 10 per request."""
        limits.check_visibility_timeout(queue_name, timeout_seconds)
        url = self._directory.queue_url(queue_name)
        failed: list[str] = []
        for chunk in chunks(list(dict.fromkeys(receipt_handles))):
            entries = [
                {"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": timeout_seconds}
                for i, h in enumerate(chunk)
            ]
            with self._directory.request("ChangeMessageVisibilityBatch", queue=queue_name):
                response = self._send(
                    "ChangeMessageVisibilityBatch", {"QueueUrl": url, "Entries": entries}
                )
            failed.extend(chunk[int(item["Id"])] for item in response.get("Failed", []))
        return failed
