"""Counting, listing and purging SQS queues, SQS's message move tasks, SNS subscriptions.

Written once for the sync and the asyncio backend (see ``sqs_calls``); the values they
return are ``melange.backends.inspection``'s.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from melange.backends.inspection import MoveTask, QueueStats, TopicSubscription
from melange.backends.sqs.calls import Plan, SqsCall
from melange.backends.sqs.directory import SqsDirectory
from melange.exceptions import TopicNotFoundError

__all__ = [
    "cancel_message_move",
    "list_queues",
    "list_subscriptions",
    "message_move",
    "move_task_of",
    "purge",
    "queue_stats",
    "queue_stats_of",
    "start_message_move",
    "unsubscribe",
]

_COUNTS = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)


def queue_stats_of(attributes: Mapping[str, str]) -> QueueStats:
    """Return a GetQueueAttributes answer's counts; a count the answer lacks is 0."""
    depth, in_flight, delayed = (int(attributes.get(name, "0") or 0) for name in _COUNTS)
    return QueueStats(depth=depth, in_flight=in_flight, delayed=delayed)


def move_task_of(result: Mapping[str, Any]) -> MoveTask:
    """Return one ListMessageMoveTasks result (or a StartMessageMoveTask answer) as a value."""
    to_move = result.get("ApproximateNumberOfMessagesToMove")
    return MoveTask(
        handle=str(result.get("TaskHandle", "")),
        status=str(result.get("Status", "RUNNING")),
        moved=int(result.get("ApproximateNumberOfMessagesMoved", 0)),
        to_move=None if to_move is None else int(to_move),
        failure=result.get("FailureReason"),
    )


def queue_stats(directory: SqsDirectory, queue_name: str) -> Plan[QueueStats]:
    """Return the queue's approximate counts, with one GetQueueAttributes request."""
    params = {
        "QueueUrl": (yield from directory.queue_url(queue_name)),
        "AttributeNames": list(_COUNTS),
    }
    answer = yield SqsCall("sqs", "GetQueueAttributes", params, queue=queue_name)
    return queue_stats_of(answer.get("Attributes", {}))


def list_queues(directory: SqsDirectory, prefix: str) -> Plan[list[str]]:
    """Return the names of the queues starting with ``prefix``, following every page."""
    names: list[str] = []
    params: dict[str, Any] = {"MaxResults": 1000}
    if prefix:
        params["QueueNamePrefix"] = prefix
    while True:
        answer = yield SqsCall("sqs", "ListQueues", dict(params))
        for url in answer.get("QueueUrls", []):
            name = str(url).rsplit("/", 1)[-1]
            directory.remember_queue_url(name, str(url))
            names.append(name)
        token = answer.get("NextToken")
        if not token:
            return sorted(names)
        params["NextToken"] = token


def purge(directory: SqsDirectory, queue_name: str) -> Plan[None]:
    """Delete every message of the queue with PurgeQueue."""
    params = {"QueueUrl": (yield from directory.queue_url(queue_name))}
    yield SqsCall("sqs", "PurgeQueue", params, queue=queue_name)


def start_message_move(
    directory: SqsDirectory, dead_letter_queue: str, destination: str, max_per_second: int | None
) -> Plan[MoveTask]:
    """Start a StartMessageMoveTask from the dead-letter queue to ``destination``.

    The destination is named rather than left to SQS: a copy melange sent to the
    dead-letter queue itself (an unreadable message) has no source SQS would know.
    """
    params: dict[str, Any] = {
        "SourceArn": (yield from directory.queue_arn(dead_letter_queue)),
        "DestinationArn": (yield from directory.queue_arn(destination)),
    }
    if max_per_second is not None:
        params["MaxNumberOfMessagesPerSecond"] = max_per_second
    answer = yield SqsCall("sqs", "StartMessageMoveTask", params, queue=dead_letter_queue)
    return MoveTask(handle=str(answer["TaskHandle"]), status="RUNNING")


def message_move(directory: SqsDirectory, dead_letter_queue: str) -> Plan[MoveTask | None]:
    """Return the dead-letter queue's most recent move task, with ListMessageMoveTasks."""
    params = {"SourceArn": (yield from directory.queue_arn(dead_letter_queue)), "MaxResults": 1}
    answer = yield SqsCall("sqs", "ListMessageMoveTasks", params, queue=dead_letter_queue)
    results = answer.get("Results", [])
    return move_task_of(results[0]) if results else None


def cancel_message_move(handle: str) -> Plan[None]:
    """Ask SQS to stop a move task, with CancelMessageMoveTask."""
    yield SqsCall("sqs", "CancelMessageMoveTask", {"TaskHandle": handle})


def list_subscriptions() -> Plan[list[TopicSubscription]]:
    """Return every subscription of the account, following ListSubscriptions' pages."""
    found: list[TopicSubscription] = []
    params: dict[str, Any] = {}
    while True:
        answer = yield SqsCall("sns", "ListSubscriptions", dict(params))
        found.extend(
            TopicSubscription(
                topic_arn=str(listed.get("TopicArn", "")),
                protocol=str(listed.get("Protocol", "")),
                endpoint=str(listed.get("Endpoint", "")),
                handle=str(listed.get("SubscriptionArn", "")),
            )
            for listed in answer.get("Subscriptions", [])
        )
        token = answer.get("NextToken")
        if not token:
            return found
        params["NextToken"] = token


def unsubscribe(subscription: TopicSubscription) -> Plan[None]:
    """Delete the subscription with Unsubscribe; one SNS no longer knows is not an error."""
    params = {"SubscriptionArn": subscription.handle}
    with contextlib.suppress(TopicNotFoundError):
        yield SqsCall("sns", "Unsubscribe", params, topic=subscription.topic)
