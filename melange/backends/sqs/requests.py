"""boto3's request and response shapes for the SQS backend, as plain functions.

The only module that knows boto3's parameter names (``MessageBody``, ``MessageAttributes``,
``DataType``, ``Entries``...): message attributes both ways, SendMessage/Publish
parameters, batch planning and sending, queue attributes from a ``QueueSpec``, the queue
policy that lets topics send, a received message, a topic's ARN and size limit. No I/O
here: ``batch_plan`` is a plan (``sqs_calls``), and ``send_batches`` runs it with the
function it is given.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from melange import limits, wire
from melange.backends.sqs.calls import Plan, SqsCall, run_plan
from melange.exceptions import (
    BackendError,
    BatchEntryFailure,
    ConfigurationError,
    QueueNotFoundError,
    TopicNotFoundError,
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
from melange.topology.specs import QueueSpec, SubscriptionSpec

__all__ = [
    "POLICY_SID",
    "batch_plan",
    "chunks",
    "from_boto_attributes",
    "plan_batches",
    "publish_params",
    "queue_attributes",
    "queue_policy_allowing",
    "queue_settings_of",
    "received_message",
    "redrive_policy_of",
    "send_batches",
    "subscription_attributes",
    "subscription_settings_of",
    "to_boto_attributes",
    "topic_arn_for",
    "topic_size_limit",
]

#: The Sid of the one queue-policy statement that lets all subscribed topics send.
POLICY_SID = "melange-sns-to-sqs"

#: Sends one batch request's entries and returns the broker's response.
SendBatch = Callable[[list[JsonDict]], Mapping[str, Any]]


def to_boto_attributes(attributes: Mapping[str, AttributeValue]) -> dict[str, JsonDict]:
    """Return attributes in the ``MessageAttributes`` shape of SQS SendMessage and SNS Publish."""
    result: dict[str, JsonDict] = {}
    for name, value in attributes.items():
        data_type, encoded = wire.encode_value(value)
        if data_type == "Binary":
            result[name] = {"DataType": "Binary", "BinaryValue": encoded}
        else:
            result[name] = {"DataType": data_type, "StringValue": encoded.decode()}
    return result


def from_boto_attributes(raw: Mapping[str, Mapping[str, Any]]) -> dict[str, AttributeValue]:
    """Return melange values for the ``MessageAttributes`` of a received SQS message."""
    result: dict[str, AttributeValue] = {}
    for name, item in raw.items():
        data_type = str(item.get("DataType", "String"))
        if data_type.startswith("Binary"):
            result[name] = bytes(item.get("BinaryValue", b""))
        else:
            result[name] = wire.typed_value(data_type, str(item.get("StringValue", "")))
    return result


def publish_params(
    destination: Destination, message: OutgoingMessage, *, max_size: int | None = None
) -> tuple[JsonDict, int]:
    """Return SendMessage (queue) or Publish (topic) parameters and the message's size.

    All parameters but ``QueueUrl``/``TopicArn``; a batch entry is the same plus ``Id``.
    ``max_size`` is a topic's own limit (see ``wire.outgoing_payload``).

    Raises:
        ConfigurationError: options SQS/SNS would reject for this destination.
        MessageTooLargeError: the body and attributes exceed the limit.
        MessageAttributeError: see ``wire.envelope_attributes``.
    """
    payload = wire.outgoing_payload(destination, message, max_size=max_size)
    options = message.options
    params: JsonDict = {"MessageAttributes": to_boto_attributes(payload.attributes)}
    if destination.is_topic:
        params["Message"] = payload.body
        if options.subject is not None:
            params["Subject"] = options.subject
    else:
        params["MessageBody"] = payload.body
        if options.delay_seconds is not None:
            params["DelaySeconds"] = options.delay_seconds
    if options.message_group_id is not None:
        params["MessageGroupId"] = options.message_group_id
    dedup_id = wire.deduplication_id(destination.name, message)
    if dedup_id is not None:
        params["MessageDeduplicationId"] = dedup_id
    return params, payload.size


def plan_batches(sizes: Sequence[int], *, limit: int) -> list[list[int]]:
    """Group entry indexes into batches of at most 10 entries and ``limit`` bytes in total.

    Entries keep their order; each entry is assumed to fit the limit on its own.
    """
    batches: list[list[int]] = []
    current: list[int] = []
    current_size = 0
    for index, size in enumerate(sizes):
        if current and (len(current) == limits.MAX_BATCH_ENTRIES or current_size + size > limit):
            batches.append(current)
            current, current_size = [], 0
        current.append(index)
        current_size += size
    if current:
        batches.append(current)
    return batches


def batch_plan(
    messages: Sequence[OutgoingMessage],
    prepared: Sequence[tuple[JsonDict, int]],
    limit: int,
    request: Callable[[list[JsonDict]], SqsCall],
) -> Plan[BatchResult]:
    """Send prepared entries in planned batches; collect per-entry outcomes in input order.

    ``request`` makes the batch request (SendMessageBatch, PublishBatch) for some entries.
    A batch request that fails as a whole fails each of its entries with the error's code
    and text, except when nothing was sent yet and the destination is missing or refused
    the options: that error is raised, as for a single message.
    """
    accepted: dict[int, str] = {}
    failures: list[BatchEntryFailure] = []
    for batch in plan_batches([size for _, size in prepared], limit=limit):
        entries = [{"Id": str(index), **prepared[index][0]} for index in batch]
        try:
            response = yield request(entries)
        except (QueueNotFoundError, TopicNotFoundError, ConfigurationError):
            if not accepted and not failures:
                raise  # nothing was sent: report the cause itself
            reason = "the destination disappeared mid-batch"
            failures.extend(_failed(messages, i, "NotFound", reason) for i in batch)
            continue
        except BackendError as exc:
            code = exc.code or "BackendError"
            failures.extend(_failed(messages, i, code, str(exc)) for i in batch)
            continue
        for item in response.get("Successful", []):
            accepted[int(item["Id"])] = messages[int(item["Id"])].envelope.message_id
        failures.extend(
            _failed(
                messages,
                int(item["Id"]),
                str(item.get("Code", "")),
                str(item.get("Message", "")),
                sender_fault=bool(item.get("SenderFault", False)),
            )
            for item in response.get("Failed", [])
        )
    return BatchResult(
        successful=tuple(accepted[i] for i in sorted(accepted)),
        failed=tuple(sorted(failures, key=lambda f: f.index)),
    )


def send_batches(
    messages: Sequence[OutgoingMessage],
    prepared: Sequence[tuple[JsonDict, int]],
    limit: int,
    send: SendBatch,
) -> BatchResult:
    """Run ``batch_plan``, ``send`` answering each batch's entries (raising melange errors)."""
    plan = batch_plan(
        messages, prepared, limit, lambda entries: SqsCall("sqs", "", {"Entries": entries})
    )
    return run_plan(plan, lambda call: send(call.params["Entries"]))


def _failed(
    messages: Sequence[OutgoingMessage],
    index: int,
    code: str,
    reason: str,
    *,
    sender_fault: bool = False,
) -> BatchEntryFailure:
    return BatchEntryFailure(
        index=index,
        message_id=messages[index].envelope.message_id,
        code=code,
        reason=reason,
        sender_fault=sender_fault,
    )


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
        attributes=from_boto_attributes(raw.get("MessageAttributes", {})),
        receive_count=int(system.get("ApproximateReceiveCount", 1)),
        message_group_id=system.get("MessageGroupId"),
        sent_at=_sent_at(system.get("SentTimestamp")),
    )


def _sent_at(milliseconds: str | None) -> datetime | None:
    """Return SQS's SentTimestamp (epoch milliseconds, as text) as a UTC datetime."""
    if milliseconds is None or not milliseconds.isdigit():
        return None
    return datetime.fromtimestamp(int(milliseconds) / 1000, UTC)


def queue_attributes(spec: QueueSpec, *, dead_letter_arn: str | None) -> dict[str, str]:
    """Return the SetQueueAttributes attributes a ``QueueSpec`` states (``FifoQueue`` aside).

    ``dead_letter_arn`` is the ARN of ``spec.dead_letter_queue``; settings left ``None``
    are not sent, so the queue keeps what it has.
    """
    attributes: dict[str, str] = {}
    if spec.visibility_timeout is not None:
        attributes["VisibilityTimeout"] = str(spec.visibility_timeout)
    if spec.retention_seconds is not None:
        attributes["MessageRetentionPeriod"] = str(spec.retention_seconds)
    if spec.content_based_deduplication is not None:
        attributes["ContentBasedDeduplication"] = str(spec.content_based_deduplication).lower()
    if dead_letter_arn is not None:
        redrive = {
            "deadLetterTargetArn": dead_letter_arn,
            "maxReceiveCount": str(spec.max_receive_count),
        }
        attributes["RedrivePolicy"] = json.dumps(redrive)
    return attributes


def redrive_policy_of(text: str | None) -> RedrivePolicy | None:
    """Return the redrive policy a queue's ``RedrivePolicy`` attribute states, if any."""
    policy = json.loads(text or "{}")
    # The ARN's last part is the queue name; SQS writes maxReceiveCount as a string.
    target = str(policy.get("deadLetterTargetArn", "")).rsplit(":", 1)[-1]
    if not target or "maxReceiveCount" not in policy:
        return None
    return RedrivePolicy(target, int(policy["maxReceiveCount"]))


def queue_settings_of(attributes: Mapping[str, str]) -> dict[str, Any]:
    """Return a queue's GetQueueAttributes answer as ``QueueSpec`` field names and values.

    Only what the answer holds is returned; ``melange.topology.declared`` compares it with a spec.
    """
    settings: dict[str, Any] = {}
    for name, field in (
        ("VisibilityTimeout", "visibility_timeout"),
        ("MessageRetentionPeriod", "retention_seconds"),
    ):
        if attributes.get(name, "").isdigit():
            settings[field] = int(attributes[name])
    if "ContentBasedDeduplication" in attributes:
        settings["content_based_deduplication"] = (
            attributes["ContentBasedDeduplication"].lower() == "true"
        )
    redrive = redrive_policy_of(attributes.get("RedrivePolicy"))
    if redrive is not None:
        settings["dead_letter_queue"] = redrive.dead_letter_queue
        settings["max_receive_count"] = redrive.max_receive_count
    return settings


def subscription_settings_of(attributes: Mapping[str, str]) -> dict[str, Any]:
    """Return a GetSubscriptionAttributes answer as ``SubscriptionSpec`` field names and values."""
    settings: dict[str, Any] = {
        "raw_message_delivery": attributes.get("RawMessageDelivery", "false").lower() == "true"
    }
    # SNS removes a filter policy set to "{}" (its documented way); either means none.
    policy = json.loads(attributes.get("FilterPolicy") or "{}")
    settings["filter_policy"] = policy or None
    return settings


def subscription_attributes(spec: SubscriptionSpec) -> dict[str, str]:
    """Return the SNS subscription attributes a ``SubscriptionSpec`` states."""
    attributes = {"RawMessageDelivery": str(spec.raw_message_delivery).lower()}
    if spec.filter_policy is not None:
        attributes["FilterPolicy"] = json.dumps(spec.filter_policy)
    return attributes


def queue_policy_allowing(current: str | None, queue_arn: str, topic_arns: Sequence[str]) -> str:
    """Return a queue policy whose one melange statement lets every given topic send.

    Topics already allowed by the statement stay allowed, and statements that are not
    melange's are kept: SQS caps a policy at 20 statements, so one statement covers all
    subscribed topics instead of one per topic.
    """
    policy: JsonDict = json.loads(current) if current else {}
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
