"""The SQS/SNS backend on boto3: AWS, or any emulator (ElasticMQ, LocalStack, moto) by endpoint.

With aws.py and sqs_clients.py, the only modules that import boto3. It keeps its clients
for its life (``sqs_clients``), caches queue URLs, queue ARNs and topics, and translates
every botocore error into melange's hierarchy in one place (``SqsDirectory.request``).
Clients are thread-safe, so one backend serves many threads.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import boto3

from melange import limits, wire
from melange.backends import filter_policy as filters
from melange.backends.protocol import FilterPolicy
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
    queue_policy_allowing,
    received_message,
    send_batches,
)
from melange.exceptions import (
    ConfigurationError,
    QueueNotFoundError,
    TopicNotFoundError,
)
from melange.messages import (
    AttributeValue,
    BatchResult,
    OutgoingMessage,
    ReceivedMessage,
    RedrivePolicy,
)

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.literals import QueueAttributeNameType
    from mypy_boto3_sqs.type_defs import (
        ChangeMessageVisibilityBatchRequestEntryTypeDef,
        DeleteMessageBatchRequestEntryTypeDef,
    )

__all__ = ["SqsBackend"]


class SqsBackend:
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
        )
        self._sqs = self._clients.sqs
        self._sns = self._clients.sns
        self._directory = SqsDirectory(self._clients, account_id=account_id)

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

    # -- declaration ---------------------------------------------------------------------

    def declare_queue(
        self,
        queue_name: str,
        *,
        dead_letter_queue: str | None = None,
        max_receive_count: int = 5,
        visibility_timeout: int | None = None,
        retention_seconds: int | None = None,
        content_based_deduplication: bool = False,
        topics: Sequence[str] = (),
        filter_policy: FilterPolicy | None = None,
        raw_message_delivery: bool = False,
    ) -> None:
        """Create or update a queue (see ``MessagingBackend.declare_queue``)."""
        limits.check_queue_declaration(queue_name, dead_letter_queue, max_receive_count)
        if visibility_timeout is not None:
            limits.check_visibility_timeout(queue_name, visibility_timeout)
        attributes: dict[QueueAttributeNameType, str] = {}
        if visibility_timeout is not None:
            attributes["VisibilityTimeout"] = str(visibility_timeout)
        if retention_seconds is not None:
            attributes["MessageRetentionPeriod"] = str(retention_seconds)
        if limits.is_fifo(queue_name):
            attributes["ContentBasedDeduplication"] = str(content_based_deduplication).lower()
        if dead_letter_queue is not None:
            self._ensure_queue(dead_letter_queue, {})
            redrive = {
                "deadLetterTargetArn": self._directory.queue_arn(dead_letter_queue),
                "maxReceiveCount": str(max_receive_count),
            }
            attributes["RedrivePolicy"] = json.dumps(redrive)
        self._ensure_queue(queue_name, attributes)
        for topic_name in topics:
            self.declare_topic(topic_name)
        if topics:
            self.subscribe(
                queue_name,
                topics,
                filter_policy=filter_policy,
                raw_message_delivery=raw_message_delivery,
            )

    def _ensure_queue(
        self, queue_name: str, attributes: Mapping[QueueAttributeNameType, str]
    ) -> None:
        try:
            url = self._directory.queue_url(queue_name)
        except QueueNotFoundError:
            create = dict(attributes)
            if limits.is_fifo(queue_name):
                create["FifoQueue"] = "true"
            with self._directory.request("CreateQueue", queue=queue_name):
                url = self._sqs.create_queue(QueueName=queue_name, Attributes=create)["QueueUrl"]
            self._directory.remember_queue_url(queue_name, url)
            return
        if attributes:
            with self._directory.request("SetQueueAttributes", queue=queue_name):
                self._sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)

    def declare_topic(self, topic_name: str) -> None:
        """Create a topic if it is missing (SNS's CreateTopic is idempotent).

        The topic's attributes are read too (its size limit), so publishing to it
        afterwards costs one request per message.
        """
        attributes = {"FifoTopic": "true"} if limits.is_fifo(topic_name) else {}
        with self._directory.request("CreateTopic", topic=topic_name):
            arn = self._sns.create_topic(Name=topic_name, Attributes=attributes)["TopicArn"]
        self._directory.confirm_topic(topic_name, arn)

    def subscribe(
        self,
        queue_name: str,
        topic_names: Sequence[str],
        *,
        filter_policy: FilterPolicy | None = None,
        raw_message_delivery: bool = False,
    ) -> None:
        """Subscribe a queue to topics and let them send to it with one policy statement."""
        if filter_policy is not None:
            filters.validate(filter_policy)
        queue_arn = self._directory.queue_arn(queue_name)
        attributes = {"RawMessageDelivery": str(raw_message_delivery).lower()}
        if filter_policy is not None:
            attributes["FilterPolicy"] = json.dumps(filter_policy)
        topic_arns = []
        for topic_name in topic_names:
            if limits.is_fifo(topic_name) and not limits.is_fifo(queue_name):
                raise ConfigurationError(
                    f"FIFO topic {topic_name!r} can only deliver to FIFO queues, "
                    f"not {queue_name!r}; name the queue '...fifo'"
                )
            topic_arn = self._directory.topic_arn(topic_name)
            self._subscribe_one(topic_name, topic_arn, queue_arn, attributes)
            topic_arns.append(topic_arn)
        self._allow_topics(queue_name, queue_arn, topic_arns)

    def _subscribe_one(
        self, topic_name: str, topic_arn: str, queue_arn: str, attributes: Mapping[str, str]
    ) -> None:
        existing = self._subscription_arn(topic_name, topic_arn, queue_arn)
        if existing is None:
            with self._directory.request("Subscribe", topic=topic_name):
                self._sns.subscribe(
                    TopicArn=topic_arn,
                    Protocol="sqs",
                    Endpoint=queue_arn,
                    Attributes=dict(attributes),
                    ReturnSubscriptionArn=True,
                )
            return
        for name, value in attributes.items():
            with self._directory.request("SetSubscriptionAttributes", topic=topic_name):
                self._sns.set_subscription_attributes(
                    SubscriptionArn=existing, AttributeName=name, AttributeValue=value
                )

    def _subscription_arn(self, topic_name: str, topic_arn: str, queue_arn: str) -> str | None:
        paginator = self._sns.get_paginator("list_subscriptions_by_topic")
        with self._directory.request("ListSubscriptionsByTopic", topic=topic_name):
            for page in paginator.paginate(TopicArn=topic_arn):
                for subscription in page.get("Subscriptions", []):
                    if subscription.get("Endpoint") == queue_arn:
                        return subscription.get("SubscriptionArn")
        return None

    def _allow_topics(self, queue_name: str, queue_arn: str, topic_arns: Sequence[str]) -> None:
        url = self._directory.queue_url(queue_name)
        with self._directory.request("GetQueueAttributes", queue=queue_name):
            current = self._sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])
        policy = queue_policy_allowing(
            current.get("Attributes", {}).get("Policy"), queue_arn, topic_arns
        )
        with self._directory.request("SetQueueAttributes", queue=queue_name):
            self._sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": policy})

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
            "MessageAttributes": wire.to_boto_attributes(attributes),
        }
        if message_group_id is not None:
            params["MessageGroupId"] = message_group_id
        if deduplication_id is not None:
            params["MessageDeduplicationId"] = deduplication_id
        with self._directory.request("SendMessage", queue=queue_name):
            return self._sqs.send_message(**params)["MessageId"]

    def redrive_policy(self, queue_name: str) -> RedrivePolicy | None:
        """Return the queue's ``RedrivePolicy`` attribute: its DLQ's name and receive limit."""
        url = self._directory.queue_url(queue_name)
        with self._directory.request("GetQueueAttributes", queue=queue_name):
            response = self._sqs.get_queue_attributes(
                QueueUrl=url, AttributeNames=["RedrivePolicy"]
            )
        policy = json.loads(response.get("Attributes", {}).get("RedrivePolicy") or "{}")
        # The ARN's last part is the queue name; SQS writes maxReceiveCount as a string.
        target = str(policy.get("deadLetterTargetArn", "")).rsplit(":", 1)[-1]
        if not target or "maxReceiveCount" not in policy:
            return None
        return RedrivePolicy(target, int(policy["maxReceiveCount"]))

    def delete_queue(self, queue_name: str) -> None:
        """Delete a queue; a missing queue is not an error."""
        try:
            url = self._directory.queue_url(queue_name)
            with self._directory.request("DeleteQueue", queue=queue_name):
                self._sqs.delete_queue(QueueUrl=url)
        except QueueNotFoundError:
            pass
        self._directory.forget(queue=queue_name)

    def delete_topic(self, topic_name: str) -> None:
        """Delete a topic; a missing topic is not an error."""
        try:
            arn = self._directory.topic_arn(topic_name)
            with self._directory.request("DeleteTopic", topic=topic_name):
                self._sns.delete_topic(TopicArn=arn)
        except TopicNotFoundError:
            pass
        self._directory.forget(topic=topic_name)

    def close(self) -> None:
        """Close every client's connection pool."""
        self._clients.close()

    # -- publishing ----------------------------------------------------------------------

    def publish_to_queue(self, queue_name: str, message: OutgoingMessage) -> str:
        """Send one message in one SendMessage request."""
        params, _ = wire.sqs_send_params(queue_name, message)
        url = self._directory.queue_url(queue_name)
        with self._directory.request("SendMessage", queue=queue_name):
            return self._sqs.send_message(QueueUrl=url, **params)["MessageId"]

    def publish_to_topic(self, topic_name: str, message: OutgoingMessage) -> str:
        """Publish one message in one SNS Publish request, within the topic's own size limit."""
        topic = self._directory.topic(topic_name)
        params, _ = wire.sns_publish_params(topic_name, message, max_size=topic.max_message_bytes)
        with self._directory.request("Publish", topic=topic_name):
            return self._sns.publish(TopicArn=topic.arn, **params)["MessageId"]

    def publish_batch_to_queue(
        self, queue_name: str, messages: Sequence[OutgoingMessage]
    ) -> BatchResult:
        """Send messages with SendMessageBatch, 10 per request and within 1 MiB each."""
        prepared = [wire.sqs_send_params(queue_name, message) for message in messages]
        url = self._directory.queue_url(queue_name)

        def send(entries: list[dict[str, Any]]) -> Mapping[str, Any]:
            with self._directory.request("SendMessageBatch", queue=queue_name):
                return self._sqs.send_message_batch(QueueUrl=url, Entries=entries)  # type: ignore[arg-type]

        return send_batches(messages, prepared, limits.SQS_MAX_MESSAGE_BYTES, send)

    def publish_batch_to_topic(
        self, topic_name: str, messages: Sequence[OutgoingMessage]
    ) -> BatchResult:
        """Publish messages with SNS PublishBatch, 10 per request, within the topic's limit.

        The topic's ``MaximumMessageSize`` (256 KiB unless set) bounds each message and
        each request's total.
        """
        topic = self._directory.topic(topic_name)
        limit = topic.max_message_bytes
        prepared = [
            wire.sns_publish_params(topic_name, message, max_size=limit) for message in messages
        ]
        arn = topic.arn

        def send(entries: list[dict[str, Any]]) -> Mapping[str, Any]:
            with self._directory.request("PublishBatch", topic=topic_name):
                return self._sns.publish_batch(TopicArn=arn, PublishBatchRequestEntries=entries)  # type: ignore[arg-type]

        return send_batches(messages, prepared, limit, send)

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
            "MessageSystemAttributeNames": ["ApproximateReceiveCount", "MessageGroupId"],
        }
        if visibility_timeout is not None:
            params["VisibilityTimeout"] = visibility_timeout
        with self._directory.request("ReceiveMessage", queue=queue_name):
            response = self._clients.sqs_receive.receive_message(**params)
        return [received_message(queue_name, raw) for raw in response.get("Messages", [])]

    def acknowledge(self, queue_name: str, receipt_handles: Sequence[str]) -> list[str]:
        """Delete messages with DeleteMessageBatch, 10 per request."""
        url = self._directory.queue_url(queue_name)
        failed: list[str] = []
        for chunk in chunks(list(dict.fromkeys(receipt_handles))):
            entries: list[DeleteMessageBatchRequestEntryTypeDef] = [
                {"Id": str(i), "ReceiptHandle": h} for i, h in enumerate(chunk)
            ]
            with self._directory.request("DeleteMessageBatch", queue=queue_name):
                response = self._sqs.delete_message_batch(QueueUrl=url, Entries=entries)
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
            entries: list[ChangeMessageVisibilityBatchRequestEntryTypeDef] = [
                {"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": timeout_seconds}
                for i, h in enumerate(chunk)
            ]
            with self._directory.request("ChangeMessageVisibilityBatch", queue=queue_name):
                response = self._sqs.change_message_visibility_batch(QueueUrl=url, Entries=entries)
            failed.extend(chunk[int(item["Id"])] for item in response.get("Failed", []))
        return failed
