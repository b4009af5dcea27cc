"""The SQS backend against endpoints that go silent, refuse for good, or answer oddly.

Loopback servers of the tests' own (``tests/support/loopback.py``) play the broker: a real one
cannot be made to black-hole a request or to answer 403 and 415.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable
from typing import Any

import pytest

from melange import QueuePublisher, TopicPublisher
from melange.backends import LocalSQSBackend
from melange.backends.sqs.options import RetryBudget, Timeouts, worst_case_seconds
from melange.exceptions import (
    BackendError,
    BackendRefusedError,
    BackendUnavailableError,
    MessageTooLargeError,
)
from tests.support.loopback import (
    SILENT,
    Answer,
    SilentServer,
    query_answer,
    query_error,
    scripted_broker,
    sqs_answer,
    sqs_error,
)
from tests.support.messaging import json_registry

pytestmark = pytest.mark.integration

ACCOUNT = "123456789012"
QUEUE_URL = f"http://127.0.0.1/{ACCOUNT}/orders"
TOPIC_ARN = f"arn:aws:sns:us-east-1:{ACCOUNT}:events"


def healthy(operation: str, *, max_message_bytes: int | None = None) -> Answer:
    """Answer ``operation`` as a healthy broker holding queue 'orders' and topic 'events'."""
    if operation == "sqs.GetQueueUrl":
        return sqs_answer({"QueueUrl": QUEUE_URL})
    if operation == "sqs.SendMessage":
        return sqs_answer({"MessageId": "m-1", "MD5OfMessageBody": "0" * 32})
    if operation == "sqs.ReceiveMessage":
        return sqs_answer({})
    if operation == "sts.GetCallerIdentity":
        return query_answer(
            "GetCallerIdentity", f"<Account>{ACCOUNT}</Account><UserId>u</UserId><Arn>a</Arn>"
        )
    if operation == "sns.GetTopicAttributes":
        attributes = {"TopicArn": TOPIC_ARN}
        if max_message_bytes is not None:
            attributes["MaximumMessageSize"] = str(max_message_bytes)
        entries = "".join(
            f"<entry><key>{k}</key><value>{v}</value></entry>" for k, v in attributes.items()
        )
        return query_answer("GetTopicAttributes", f"<Attributes>{entries}</Attributes>")
    if operation == "sns.Publish":
        return query_answer("Publish", "<MessageId>m-1</MessageId>")
    if operation == "sns.ListTopics":
        return query_answer(
            "ListTopics", f"<Topics><member><TopicArn>{TOPIC_ARN}</TopicArn></member></Topics>"
        )
    raise AssertionError(f"the test did not script {operation}")


def except_for(faulty: Callable[[str], Answer | None]) -> Callable[[str], Answer]:
    """Return a script answering as ``faulty`` says, and as a healthy broker where it is None."""
    return lambda operation: faulty(operation) or healthy(operation)


def backend_on(endpoint_url: str, **options: Any) -> LocalSQSBackend:
    """Return a backend whose SQS, SNS and STS are all at ``endpoint_url``."""
    return LocalSQSBackend(host=endpoint_url, **options)


# -- item 4 and 11: bounded network time ---------------------------------------------------


@pytest.mark.parametrize("publish", ["queue", "topic"])
def test_publish_to_an_endpoint_that_never_answers_fails_within_15_seconds(publish: str) -> None:
    """A publish to an endpoint accepting connections but never answering fails within 15 s."""
    timeouts, attempts = Timeouts(), RetryBudget().max_attempts
    bound = worst_case_seconds(timeouts.publish_connect, timeouts.publish_read, attempts)
    assert bound <= 15  # the documented promise, with the defaults
    with SilentServer() as server:
        backend = LocalSQSBackend(host="127.0.0.1", port=server.port)
        started = time.monotonic()
        with pytest.raises(BackendUnavailableError, match="could not reach the endpoint"):
            if publish == "queue":
                QueuePublisher(json_registry(), backend).publish("orders", {"n": 1})
            else:
                TopicPublisher(json_registry(), backend).publish("events", {"n": 1})
        elapsed = time.monotonic() - started
        backend.close()
    assert elapsed < bound
    assert server.connections == attempts  # the first attempt and one retry


def test_a_silent_send_is_attempted_twice_then_reported_unavailable() -> None:
    """A SendMessage left unanswered is sent twice in all and ends within 15 s."""
    with scripted_broker(except_for(lambda op: SILENT if op == "sqs.SendMessage" else None)) as b:
        backend = backend_on(b.endpoint_url)
        started = time.monotonic()
        with pytest.raises(BackendUnavailableError) as error:
            QueuePublisher(json_registry(), backend).publish("orders", {"n": 1})
        elapsed = time.monotonic() - started
        backend.close()
        assert b.count("sqs.SendMessage") == 2
    assert error.value.operation == "SendMessage"
    assert elapsed < 15


def test_a_receive_that_is_never_answered_ends_within_its_bound() -> None:
    """A long-poll receive left unanswered ends after one attempt, within 27 s."""
    timeouts = Timeouts()
    bound = worst_case_seconds(timeouts.receive_connect, timeouts.receive_read, 1)
    assert bound <= 27  # documented in SqsBackend and the README
    receives = itertools.count()
    silent_receive = except_for(
        lambda op: SILENT if op == "sqs.ReceiveMessage" and next(receives) > 0 else None
    )
    with scripted_broker(silent_receive) as broker:
        backend = backend_on(broker.endpoint_url)
        backend.receive("orders", wait_time_seconds=1)  # answered: the URL is now known
        started = time.monotonic()
        with pytest.raises(BackendUnavailableError) as error:
            backend.receive("orders", wait_time_seconds=20)
        elapsed = time.monotonic() - started
        backend.close()
        assert broker.count("sqs.ReceiveMessage") == 2  # the answered one, one unanswered
    assert error.value.operation == "ReceiveMessage"
    assert timeouts.receive_read <= elapsed < bound + 1  # 1 s for a loaded machine


# -- item 5: permanent errors fail fast ----------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "code", "hint"),
    [
        (sqs_error(403, "AccessDenied"), "AccessDenied", "IAM policy"),
        (sqs_error(403, "InvalidClientTokenId"), "InvalidClientTokenId", "AWS credentials"),
        (Answer(415), "415", "endpoint"),
    ],
    ids=["access-denied", "invalid-client-token", "415-empty"],
)
def test_sqs_refusals_raise_backend_refused_at_once(fault: Answer, code: str, hint: str) -> None:
    """A 403 AccessDenied / InvalidClientTokenId or an empty 415 is refused with one request."""
    refusing = except_for(lambda op: None if op == "sqs.GetQueueUrl" else fault)
    with scripted_broker(refusing) as broker:
        backend = backend_on(broker.endpoint_url)
        with pytest.raises(BackendRefusedError, match=hint) as received:
            backend.receive("orders")
        with pytest.raises(BackendRefusedError, match=hint) as published:
            QueuePublisher(json_registry(), backend).publish("orders", {"n": 1})
        backend.close()
        assert broker.count("sqs.ReceiveMessage") == 1
        assert broker.count("sqs.SendMessage") == 1
    assert (received.value.operation, received.value.code) == ("ReceiveMessage", code)
    assert (published.value.operation, published.value.code) == ("SendMessage", code)
    assert "'orders'" in str(published.value)


@pytest.mark.parametrize(
    ("fault", "code"),
    [(query_error(403, "AuthorizationError"), "AuthorizationError"), (Answer(415), "415")],
    ids=["authorization-error", "415-empty"],
)
def test_sns_refusals_raise_backend_refused_at_once(fault: Answer, code: str) -> None:
    """An SNS Publish answered 403 AuthorizationError or an empty 415 is refused at once."""
    refusing = except_for(lambda op: fault if op == "sns.Publish" else None)
    with scripted_broker(refusing) as broker:
        backend = backend_on(broker.endpoint_url)
        with pytest.raises(BackendRefusedError) as error:
            TopicPublisher(json_registry(), backend).publish("events", {"n": 1})
        backend.close()
        assert broker.count("sns.Publish") == 1
    assert (error.value.operation, error.value.code) == ("Publish", code)
    assert "'events'" in str(error.value)


@pytest.mark.parametrize(
    ("fault", "attempts"),
    [(Answer(500), 2), (sqs_error(400, "RequestThrottled"), 2), (sqs_error(403, "OverLimit"), 1)],
    ids=["500", "request-throttled", "over-limit"],
)
def test_errors_that_may_heal_stay_retryable(fault: Answer, attempts: int) -> None:
    """A 500, RequestThrottled or OverLimit answer is a BackendError, never a refusal.

    botocore retries the first two itself; SQS's OverLimit (too many messages in flight)
    heals as messages are settled, so the dispatcher's backoff retries it.
    """
    failing = except_for(lambda op: fault if op == "sqs.SendMessage" else None)
    with scripted_broker(failing) as broker:
        backend = backend_on(broker.endpoint_url)
        with pytest.raises(BackendError) as error:
            QueuePublisher(json_registry(), backend).publish("orders", {"n": 1})
        backend.close()
        assert broker.count("sqs.SendMessage") == attempts
    assert not isinstance(error.value, BackendRefusedError | BackendUnavailableError)


# -- items 6 and 7: topics resolved with one request, with their own size limit ------------


def test_a_topic_allowing_1_mib_takes_a_500_kb_publish() -> None:
    """A topic whose MaximumMessageSize is 1 MiB takes 500 KB; its attributes are read once."""
    large = except_for(
        lambda op: (
            healthy(op, max_message_bytes=1_048_576) if op == "sns.GetTopicAttributes" else None
        )
    )
    with scripted_broker(large) as broker:
        backend = backend_on(broker.endpoint_url)
        publisher = TopicPublisher(json_registry(), backend)
        publisher.publish("events", "x" * 500_000)
        publisher.publish("events", "y" * 500_000)
        with pytest.raises(MessageTooLargeError) as error:
            publisher.publish("events", "z" * 1_048_576)
        backend.close()
        assert broker.operations == [
            "sts.GetCallerIdentity",
            "sns.GetTopicAttributes",
            "sns.Publish",
            "sns.Publish",
        ]
    assert error.value.limit == 1_048_576


def test_a_topic_without_the_attribute_keeps_256_kib() -> None:
    """A topic without MaximumMessageSize refuses 300 KB before sending it."""
    with scripted_broker(healthy) as broker:
        backend = backend_on(broker.endpoint_url, account_id=ACCOUNT)
        with pytest.raises(MessageTooLargeError) as error:
            TopicPublisher(json_registry(), backend).publish("events", "x" * 300_000)
        backend.close()
        assert broker.operations == ["sns.GetTopicAttributes"]  # account given: no STS
    assert error.value.limit == 262_144


def test_without_sts_topics_are_listed_once_per_name_after_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An emulator refusing STS makes topics be found by ListTopics, once per name, warned once."""
    no_sts = except_for(
        lambda op: query_error(400, "InvalidAction") if op == "sts.GetCallerIdentity" else None
    )
    with caplog.at_level(logging.WARNING), scripted_broker(no_sts) as broker:
        backend = backend_on(broker.endpoint_url)
        publisher = TopicPublisher(json_registry(), backend)
        for n in range(3):
            publisher.publish("events", {"n": n})
        backend.close()
        assert broker.count("sts.GetCallerIdentity") == 1
        assert broker.count("sns.ListTopics") == 1
        assert broker.count("sns.Publish") == 3
    warnings = [r for r in caplog.records if "ListTopics" in r.getMessage()]
    assert len(warnings) == 1
