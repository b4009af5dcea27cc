"""The SQS backend's plans run without any I/O: calls out, answers in, errors thrown in."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from melange.backends.sqs import transport as sqs_transport
from melange.backends.sqs.admin import SqsAdmin
from melange.backends.sqs.calls import SESSION_FACTS, SqsCall, run_plan
from melange.backends.sqs.directory import SqsDirectory
from melange.exceptions import BackendError, QueueNotFoundError
from melange.messages import Destination

URL = "http://sqs.local/123456789012/orders"


def scripted(
    answers: Mapping[str, Callable[[SqsCall], Mapping[str, Any]]],
) -> tuple[list[SqsCall], Callable[[SqsCall], Mapping[str, Any]]]:
    """Return a log of calls and a ``send`` answering each operation as ``answers`` says."""
    calls: list[SqsCall] = []

    def send(call: SqsCall) -> Mapping[str, Any]:
        calls.append(call)
        return answers[call.operation](call)

    return calls, send


def missing(call: SqsCall) -> Mapping[str, Any]:
    """Answer as a broker without the queue (already translated, as the drivers do)."""
    raise QueueNotFoundError(str(call.queue), operation=call.operation)


def test_a_receive_looks_the_url_up_once_then_long_polls() -> None:
    """Two receives make one GetQueueUrl and two long-poll ReceiveMessage calls."""
    calls, send = scripted(
        {"GetQueueUrl": lambda _: {"QueueUrl": URL}, "ReceiveMessage": lambda _: {}}
    )
    directory = SqsDirectory()
    for _ in range(2):
        plan = sqs_transport.receive(
            directory, "orders", max_messages=10, wait_time_seconds=20, visibility_timeout=None
        )
        assert run_plan(plan, send) == []
    assert [(c.operation, c.long_poll) for c in calls] == [
        ("GetQueueUrl", False),
        ("ReceiveMessage", True),
        ("ReceiveMessage", True),
    ]
    assert calls[1].params["QueueUrl"] == URL


def test_an_error_thrown_into_a_plan_propagates_when_not_caught() -> None:
    """A missing queue answered to a receive's URL look-up is raised from the plan."""
    _, send = scripted({"GetQueueUrl": missing})
    plan = sqs_transport.receive(
        SqsDirectory(), "orders", max_messages=1, wait_time_seconds=0, visibility_timeout=None
    )
    with pytest.raises(QueueNotFoundError):
        run_plan(plan, send)


def test_deleting_a_missing_queue_is_caught_by_the_plan() -> None:
    """The delete plan catches the missing queue thrown into it and forgets the queue."""
    directory = SqsDirectory()
    directory.remember_queue_url("orders", URL)
    calls, send = scripted({"DeleteQueue": missing, "GetQueueUrl": missing})
    run_plan(SqsAdmin(directory).delete(Destination.queue("orders")), send)
    run_plan(SqsAdmin(directory).delete(Destination.queue("orders")), send)
    assert [c.operation for c in calls] == ["DeleteQueue", "GetQueueUrl"]  # forgotten


def test_a_topic_arn_is_built_from_the_session_facts_and_sts_once() -> None:
    """The account is asked of STS once; the ARN is built from partition, region, account."""
    calls, send = scripted(
        {
            SESSION_FACTS.operation: lambda _: {
                "Region": "eu-west-1",
                "Partition": "aws",
                "Account": None,
            },
            "GetCallerIdentity": lambda _: {"Account": "123456789012"},
            "GetTopicAttributes": lambda call: {
                "Attributes": {"TopicArn": call.params["TopicArn"]}
            },
        }
    )
    directory = SqsDirectory()
    arns = [run_plan(directory.topic_arn(name), send) for name in ("a", "b", "a")]
    assert arns == [f"arn:aws:sns:eu-west-1:123456789012:{name}" for name in ("a", "b", "a")]
    assert [c.operation for c in calls].count("GetCallerIdentity") == 1
    assert [c.operation for c in calls].count("GetTopicAttributes") == 2


def test_a_failed_sts_makes_topics_be_listed_page_by_page() -> None:
    """Where STS answers with an error, ListTopics is paged with NextToken until the name."""
    pages = {
        None: {"Topics": [{"TopicArn": "arn:aws:sns:r:1:other"}], "NextToken": "p2"},
        "p2": {"Topics": [{"TopicArn": "arn:aws:sns:r:1:events"}]},
    }

    def refused(call: SqsCall) -> Mapping[str, Any]:
        raise BackendError("no STS here", operation=call.operation, code="InvalidAction")

    calls, send = scripted(
        {
            SESSION_FACTS.operation: lambda _: {"Region": "r", "Partition": "aws"},
            "GetCallerIdentity": refused,
            "ListTopics": lambda call: pages[call.params.get("NextToken")],
            "GetTopicAttributes": lambda _: {"Attributes": {}},
        }
    )
    assert run_plan(SqsDirectory().topic_arn("events"), send) == "arn:aws:sns:r:1:events"
    assert [c.params.get("NextToken") for c in calls if c.operation == "ListTopics"] == [
        None,
        "p2",
    ]


def test_importing_melange_aio_imports_neither_aiobotocore_nor_boto3() -> None:
    """``melange.aio`` loads its SQS backends, and so aiobotocore, only when one is named."""
    code = (
        "import sys\n"
        "import melange.aio\n"
        "print('aiobotocore' in sys.modules, 'boto3' in sys.modules)\n"
        "melange.aio.AsyncLocalSQSBackend\n"
        "print('aiobotocore' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["False", "False", "True"]
