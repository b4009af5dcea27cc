"""The SQS inspection plans without I/O: the requests they make and what they read back."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from melange.backends.inspection import MoveTask, QueueStats
from melange.backends.sqs import inspection as sqs_inspection
from melange.backends.sqs.calls import SqsCall, run_plan
from melange.backends.sqs.directory import SqsDirectory
from melange.exceptions import TopicNotFoundError

URL = "http://sqs.local/123456789012/"
ARN = "arn:aws:sqs:eu-west-1:123456789012:"


def scripted(
    answers: Mapping[str, Callable[[SqsCall], Mapping[str, Any]]],
) -> tuple[list[SqsCall], Callable[[SqsCall], Mapping[str, Any]]]:
    """Return a log of calls and a ``send`` answering each operation as ``answers`` says."""
    calls: list[SqsCall] = []

    def send(call: SqsCall) -> Mapping[str, Any]:
        calls.append(call)
        return answers[call.operation](call)

    return calls, send


def url_of(call: SqsCall) -> Mapping[str, Any]:
    """Answer GetQueueUrl for any queue."""
    return {"QueueUrl": URL + call.params["QueueName"]}


def test_queue_stats_reads_the_three_approximate_counts() -> None:
    """One GetQueueAttributes asks for the counts; missing ones read as 0."""
    calls, send = scripted(
        {
            "GetQueueUrl": url_of,
            "GetQueueAttributes": lambda _: {
                "Attributes": {
                    "ApproximateNumberOfMessages": "7",
                    "ApproximateNumberOfMessagesNotVisible": "2",
                }
            },
        }
    )

    stats = run_plan(sqs_inspection.queue_stats(SqsDirectory(), "work"), send)

    assert stats == QueueStats(depth=7, in_flight=2, delayed=0, oldest_age_seconds=None)
    assert calls[1].params["AttributeNames"] == [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
    ]


def test_list_queues_follows_every_page_and_remembers_the_urls() -> None:
    """ListQueues is asked with the prefix until no NextToken; later look-ups need no request."""
    pages: list[Mapping[str, Any]] = [
        {"QueueUrls": [URL + "p-b"], "NextToken": "t"},
        {"QueueUrls": [URL + "p-a"]},
    ]
    remaining = iter(pages)
    calls, send = scripted({"ListQueues": lambda _: next(remaining)})
    directory = SqsDirectory()

    names = run_plan(sqs_inspection.list_queues(directory, "p-"), send)

    assert names == ["p-a", "p-b"]
    assert [c.params.get("NextToken") for c in calls] == [None, "t"]
    assert calls[0].params["QueueNamePrefix"] == "p-"
    assert run_plan(directory.queue_url("p-a"), send) == URL + "p-a"
    assert len(calls) == 2


def test_a_move_task_names_source_and_destination_by_arn_and_reads_its_progress() -> None:
    """StartMessageMoveTask gets both ARNs and the rate; ListMessageMoveTasks its progress."""

    def arn_of(call: SqsCall) -> Mapping[str, Any]:
        return {"Attributes": {"QueueArn": ARN + call.params["QueueUrl"].rsplit("/", 1)[-1]}}

    calls, send = scripted(
        {
            "GetQueueUrl": url_of,
            "GetQueueAttributes": arn_of,
            "StartMessageMoveTask": lambda _: {"TaskHandle": "h1"},
            "ListMessageMoveTasks": lambda _: {
                "Results": [
                    {
                        "Status": "COMPLETED",
                        "ApproximateNumberOfMessagesMoved": 4,
                        "ApproximateNumberOfMessagesToMove": 4,
                    }
                ]
            },
        }
    )
    directory = SqsDirectory()

    task = run_plan(sqs_inspection.start_message_move(directory, "work-dlq", "work", 5), send)
    progress = run_plan(sqs_inspection.message_move(directory, "work-dlq"), send)

    assert task == MoveTask("h1", "RUNNING")
    start = next(c for c in calls if c.operation == "StartMessageMoveTask")
    assert start.params == {
        "SourceArn": ARN + "work-dlq",
        "DestinationArn": ARN + "work",
        "MaxNumberOfMessagesPerSecond": 5,
    }
    assert progress == MoveTask("", "COMPLETED", moved=4, to_move=4)
    assert progress.finished


def test_purge_and_cancel_make_one_request_each() -> None:
    """PurgeQueue by URL; CancelMessageMoveTask by handle."""
    calls, send = scripted(
        {"GetQueueUrl": url_of, "PurgeQueue": lambda _: {}, "CancelMessageMoveTask": lambda _: {}}
    )

    run_plan(sqs_inspection.purge(SqsDirectory(), "work-dlq"), send)
    run_plan(sqs_inspection.cancel_message_move("h1"), send)

    assert [(c.operation, dict(c.params)) for c in calls[1:]] == [
        ("PurgeQueue", {"QueueUrl": URL + "work-dlq"}),
        ("CancelMessageMoveTask", {"TaskHandle": "h1"}),
    ]


def test_list_subscriptions_follows_every_page_and_unsubscribe_tolerates_one_gone() -> None:
    """ListSubscriptions is asked until no NextToken; Unsubscribe of a gone one is no error."""
    topic = "arn:aws:sns:eu-west-1:123456789012:events"
    pages: list[Mapping[str, Any]] = [
        {
            "Subscriptions": [
                {
                    "TopicArn": topic,
                    "Protocol": "sqs",
                    "Endpoint": ARN + "work",
                    "SubscriptionArn": topic + ":s1",
                }
            ],
            "NextToken": "t",
        },
        {"Subscriptions": [{"TopicArn": topic, "Protocol": "email", "Endpoint": "a@b.c"}]},
    ]
    remaining = iter(pages)

    def gone(call: SqsCall) -> Mapping[str, Any]:
        raise TopicNotFoundError(str(call.topic), operation="Unsubscribe")

    calls, send = scripted({"ListSubscriptions": lambda _: next(remaining), "Unsubscribe": gone})

    found = run_plan(sqs_inspection.list_subscriptions(), send)
    run_plan(sqs_inspection.unsubscribe(found[0]), send)

    assert [(s.topic, s.queue, s.handle) for s in found] == [
        ("events", "work", topic + ":s1"),
        ("events", None, ""),
    ]
    assert [c.params.get("NextToken") for c in calls[:2]] == [None, "t"]
    assert calls[2].params == {"SubscriptionArn": topic + ":s1"}
