"""Shaping SQS/SNS requests and responses for the SQS backend, as plain functions.

Batching, the queue policy that lets topics send, turning a received boto3 message into
a ``ReceivedMessage``, a topic's ARN and size limit; no I/O here (``send_batches`` calls
the function it is given).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from melange import limits, wire
from melange.exceptions import (
    BackendError,
    BatchEntryFailure,
    ConfigurationError,
    QueueNotFoundError,
    TopicNotFoundError,
)
from melange.messages import BatchResult, OutgoingMessage, ReceivedMessage

__all__ = [
    "POLICY_SID",
    "all_failed",
    "chunks",
    "queue_policy_allowing",
    "received_message",
    "send_batches",
    "topic_arn_for",
    "topic_size_limit",
]

#: The Sid of the one queue-policy statement that lets all subscribed topics send.
POLICY_SID = "melange-sns-to-sqs"

#: Sends one batch request's entries and returns the broker's response.
SendBatch = Callable[[list[dict[str, Any]]], Mapping[str, Any]]


def send_batches(
    messages: Sequence[OutgoingMessage],
    prepared: Sequence[tuple[dict[str, Any], int]],
    limit: int,
    send: SendBatch,
) -> BatchResult:
    """Send prepared entries in planned batches; collect per-entry outcomes in input order."""
    accepted: dict[int, str] = {}
    failures: list[BatchEntryFailure] = []
    for batch in wire.plan_batches([size for _, size in prepared], limit=limit):
        entries = [{"Id": str(index), **prepared[index][0]} for index in batch]
        try:
            response = send(entries)
        except (QueueNotFoundError, TopicNotFoundError, ConfigurationError):
            if not accepted and not failures:
                raise  # nothing was sent: report the cause itself
            response = all_failed(batch, "NotFound", "destination disappeared mid-batch")
        except BackendError as exc:
            response = all_failed(batch, exc.code or "BackendError", str(exc))
        for item in response.get("Successful", []):
            accepted[int(item["Id"])] = messages[int(item["Id"])].envelope.message_id
        for item in response.get("Failed", []):
            index = int(item["Id"])
            failures.append(
                BatchEntryFailure(
                    index=index,
                    message_id=messages[index].envelope.message_id,
                    code=str(item.get("Code", "")),
                    reason=str(item.get("Message", "")),
                    sender_fault=bool(item.get("SenderFault", False)),
                )
            )
    return BatchResult(
        successful=tuple(accepted[i] for i in sorted(accepted)),
        failed=tuple(sorted(failures, key=lambda f: f.index)),
    )


def all_failed(batch: Sequence[int], code: str, reason: str) -> dict[str, Any]:
    """Return a batch response in which every entry of ``batch`` failed with ``code``."""
    return {
        "Failed": [
            {"Id": str(i), "Code": code, "Message": reason, "SenderFault": False} for i in batch
        ]
    }


def chunks(items: list[str]) -> Iterator[list[str]]:
    """Yield ``items`` ten at a time, the most a batch request takes."""
    for start in range(0, len(items), limits.MAX_BATCH_ENTRIES):
        yield items[start : start + limits.MAX_BATCH_ENTRIES]


def received_message(queue_name: str, raw: Mapping[str, Any]) -> ReceivedMessage:
    """Return a boto3 ReceiveMessage entry as a ``ReceivedMessage``."""
    system = raw.get("Attributes", {})
    return ReceivedMessage(
        queue_name=queue_name,
        receipt_handle=raw["ReceiptHandle"],
        broker_message_id=raw["MessageId"],
        body=raw.get("Body", ""),
        attributes=wire.from_boto_attributes(raw.get("MessageAttributes", {})),
        receive_count=int(system.get("ApproximateReceiveCount", 1)),
        message_group_id=system.get("MessageGroupId"),
    )


def queue_policy_allowing(current: str | None, queue_arn: str, topic_arns: Sequence[str]) -> str:
    """Return a queue policy whose one melange statement lets every given topic send.

    Topics already allowed by the statement stay allowed, and statements that are not
    melange's are kept: SQS caps a policy at 20 statements, so one statement covers all
    subscribed topics instead of one per topic.
    """
    policy: dict[str, Any] = json.loads(current) if current else {}
    statements = [s for s in policy.get("Statement", []) if s.get("Sid") != POLICY_SID]
    previous = next((s for s in policy.get("Statement", []) if s.get("Sid") == POLICY_SID), None)
    allowed: list[str] = []
    if previous is not None:
        source = previous.get("Condition", {}).get("ArnEquals", {}).get("aws:SourceArn", [])
        allowed = [source] if isinstance(source, str) else list(source)
    allowed = sorted({*allowed, *topic_arns})
    statements.append(
        {
            "Sid": POLICY_SID,
            "Effect": "Allow",
            "Principal": {"Service": "sns.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": queue_arn,
            "Condition": {"ArnEquals": {"aws:SourceArn": allowed}},
        }
    )
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def topic_arn_for(partition: str, region: str, account_id: str, topic_name: str) -> str:
    """Return the ARN SNS gives topic ``topic_name`` in that partition, region and account."""
    return f"arn:{partition}:sns:{region}:{account_id}:{topic_name}"


def topic_size_limit(attributes: Mapping[str, str]) -> int:
    """Return a topic's message size limit from its GetTopicAttributes attributes.

    SNS topics accept ``MaximumMessageSize`` bytes (1,024 to 1,048,576), body and
    attributes counted together, and 262,144 (256 KiB) when the attribute is absent,
    as it is on topics that never set it and on emulators that do not know it.
    """
    text = attributes.get("MaximumMessageSize", "")
    return int(text) if text.isdigit() else limits.SNS_MAX_MESSAGE_BYTES
