"""Moving messages on SQS/SNS, written once as plans for the sync and the asyncio backend.

Publishing, sending raw, receiving, acknowledging and changing visibility, each a plan
(``sqs_calls``): the checks, request shapes, batching and outcome collection are here,
the requests are made by whichever backend runs the plan.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from melange import limits, wire
from melange.backends.sqs.calls import Plan, SqsCall
from melange.backends.sqs.directory import SqsDirectory
from melange.backends.sqs.requests import (
    batch_plan,
    chunks,
    publish_params,
    received_message,
    redrive_policy_of,
    to_boto_attributes,
)
from melange.messages import (
    AttributeValue,
    BatchResult,
    Destination,
    JsonDict,
    OutgoingMessage,
    ReceivedMessage,
    RedrivePolicy,
)

__all__ = [
    "acknowledge",
    "change_visibility",
    "publish",
    "receive",
    "redrive_policy",
    "send_raw",
]

#: The system attributes every receive asks for: redrive counts, FIFO groups, send times.
_SYSTEM_ATTRIBUTES = ("ApproximateReceiveCount", "MessageGroupId", "SentTimestamp")


def publish(
    directory: SqsDirectory, destination: Destination, messages: Sequence[OutgoingMessage]
) -> Plan[BatchResult]:
    """Send one message with SendMessage/Publish, several with the batch requests.

    Batches hold 10 entries within the limit in total: SQS's 1 MiB for a queue, the
    topic's own ``MaximumMessageSize`` (256 KiB unless set) for a topic.
    """
    if destination.is_topic:
        return (yield from _publish_to_topic(directory, destination, messages))
    queue = destination.name
    prepared = [publish_params(destination, message) for message in messages]
    url = yield from directory.queue_url(queue)
    if len(prepared) == 1:
        yield SqsCall("sqs", "SendMessage", {"QueueUrl": url, **prepared[0][0]}, queue=queue)
        return BatchResult(successful=(messages[0].envelope.message_id,))

    def request(entries: list[JsonDict]) -> SqsCall:
        params = {"QueueUrl": url, "Entries": entries}
        return SqsCall("sqs", "SendMessageBatch", params, queue=queue)

    return (yield from batch_plan(messages, prepared, limits.SQS_MAX_MESSAGE_BYTES, request))


def _publish_to_topic(
    directory: SqsDirectory, destination: Destination, messages: Sequence[OutgoingMessage]
) -> Plan[BatchResult]:
    name = destination.name
    topic = yield from directory.topic(name)
    limit = topic.max_message_bytes
    prepared = [publish_params(destination, m, max_size=limit) for m in messages]
    if len(prepared) == 1:
        yield SqsCall("sns", "Publish", {"TopicArn": topic.arn, **prepared[0][0]}, topic=name)
        return BatchResult(successful=(messages[0].envelope.message_id,))

    def request(entries: list[JsonDict]) -> SqsCall:
        params = {"TopicArn": topic.arn, "PublishBatchRequestEntries": entries}
        return SqsCall("sns", "PublishBatch", params, topic=name)

    return (yield from batch_plan(messages, prepared, limit, request))


def send_raw(
    directory: SqsDirectory,
    queue_name: str,
    body: str,
    attributes: Mapping[str, AttributeValue],
    *,
    message_group_id: str | None = None,
    deduplication_id: str | None = None,
) -> Plan[str]:
    """Send a body and attributes as given, unwrapped, with one SendMessage request."""
    wire.check_raw(queue_name, body, attributes)
    params: dict[str, Any] = {
        "QueueUrl": (yield from directory.queue_url(queue_name)),
        "MessageBody": body,
        "MessageAttributes": to_boto_attributes(attributes),
    }
    if message_group_id is not None:
        params["MessageGroupId"] = message_group_id
    if deduplication_id is not None:
        params["MessageDeduplicationId"] = deduplication_id
    answer = yield SqsCall("sqs", "SendMessage", params, queue=queue_name)
    return str(answer["MessageId"])


def receive(
    directory: SqsDirectory,
    queue_name: str,
    *,
    max_messages: int,
    wait_time_seconds: int,
    visibility_timeout: int | None,
) -> Plan[list[ReceivedMessage]]:
    """Receive with ReceiveMessage, asking for all message attributes and the receive count."""
    limits.check_receive_args(queue_name, max_messages, wait_time_seconds, visibility_timeout)
    params: dict[str, Any] = {
        "QueueUrl": (yield from directory.queue_url(queue_name)),
        "MaxNumberOfMessages": max_messages,
        "WaitTimeSeconds": wait_time_seconds,
        "MessageAttributeNames": ["All"],
        "MessageSystemAttributeNames": list(_SYSTEM_ATTRIBUTES),
    }
    if visibility_timeout is not None:
        params["VisibilityTimeout"] = visibility_timeout
    answer = yield SqsCall("sqs", "ReceiveMessage", params, queue=queue_name, long_poll=True)
    return [received_message(queue_name, raw) for raw in answer.get("Messages", [])]


def acknowledge(
    directory: SqsDirectory, queue_name: str, receipt_handles: Sequence[str]
) -> Plan[list[str]]:
    """Delete messages with DeleteMessageBatch, 10 per request; return the handles that failed."""
    return (yield from _settle(directory, "DeleteMessageBatch", queue_name, receipt_handles, {}))


def change_visibility(
    directory: SqsDirectory, queue_name: str, receipt_handles: Sequence[str], timeout_seconds: int
) -> Plan[list[str]]:
    """Change visibility with ChangeMessageVisibilityBatch, 10 per request."""
    limits.check_visibility_timeout(queue_name, timeout_seconds)
    extra = {"VisibilityTimeout": timeout_seconds}
    operation = "ChangeMessageVisibilityBatch"
    return (yield from _settle(directory, operation, queue_name, receipt_handles, extra))


def _settle(
    directory: SqsDirectory,
    operation: str,
    queue_name: str,
    receipt_handles: Sequence[str],
    extra: Mapping[str, Any],
) -> Plan[list[str]]:
    """Send one batch request per 10 distinct handles; return the handles the broker failed."""
    url = yield from directory.queue_url(queue_name)
    failed: list[str] = []
    for chunk in chunks(list(dict.fromkeys(receipt_handles))):
        entries = [{"Id": str(i), "ReceiptHandle": h, **extra} for i, h in enumerate(chunk)]
        params = {"QueueUrl": url, "Entries": entries}
        answer = yield SqsCall("sqs", operation, params, queue=queue_name)
        failed.extend(chunk[int(item["Id"])] for item in answer.get("Failed", []))
    return failed


def redrive_policy(directory: SqsDirectory, queue_name: str) -> Plan[RedrivePolicy | None]:
    """Return the queue's ``RedrivePolicy`` attribute: its DLQ's name and receive limit."""
    url = yield from directory.queue_url(queue_name)
    params = {"QueueUrl": url, "AttributeNames": ["RedrivePolicy"]}
    answer = yield SqsCall("sqs", "GetQueueAttributes", params, queue=queue_name)
    return redrive_policy_of(answer.get("Attributes", {}).get("RedrivePolicy"))
