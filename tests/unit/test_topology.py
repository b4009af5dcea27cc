"""Declarative queue, topic and subscription values check themselves when they are built."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from melange.backends.shortcuts import queue_declarations
from melange.exceptions import ConfigurationError, DeclarationError, Problem
from melange.topology.specs import QueueSpec, SubscriptionSpec, TopicSpec

REFUSED: dict[str, tuple[Callable[[], Any], str, str, object]] = {
    "queue-name-characters": (lambda: QueueSpec("my queue"), "name", "'my queue'", "my queue"),
    "queue-name-length": (lambda: QueueSpec("q" * 81), "name", "1-80", "q" * 81),
    "empty-queue-name": (lambda: QueueSpec(""), "name", "''", ""),
    "topic-name-characters": (lambda: TopicSpec("a/b"), "name", "'a/b'", "a/b"),
    "topic-name-length": (lambda: TopicSpec("t" * 257), "name", "1-256", "t" * 257),
    "dlq-standard-for-fifo": (
        lambda: QueueSpec("q.fifo", dead_letter_queue="dlq"),
        "dead_letter_queue",
        "'dlq'",
        "dlq",
    ),
    "dlq-fifo-for-standard": (
        lambda: QueueSpec("q", dead_letter_queue="dlq.fifo"),
        "dead_letter_queue",
        "'dlq.fifo'",
        "dlq.fifo",
    ),
    "max-receive-count-0": (
        lambda: QueueSpec("q", max_receive_count=0),
        "max_receive_count",
        "max_receive_count=0",
        0,
    ),
    "max-receive-count-1001": (
        lambda: QueueSpec("q", max_receive_count=1001),
        "max_receive_count",
        "max_receive_count=1001",
        1001,
    ),
    "visibility-timeout": (
        lambda: QueueSpec("q", visibility_timeout=43_201),
        "visibility_timeout",
        "visibility_timeout=43201",
        43_201,
    ),
    "retention": (
        lambda: QueueSpec("q", retention_seconds=59),
        "retention_seconds",
        "retention_seconds=59",
        59,
    ),
    "content-dedup-standard": (
        lambda: QueueSpec("q", content_based_deduplication=True),
        "content_based_deduplication",
        "standard queue 'q'",
        True,
    ),
    "fifo-topic-standard-queue": (
        lambda: SubscriptionSpec("q", ("events.fifo",)),
        "topics",
        "FIFO topic 'events.fifo' can only deliver to FIFO queues",
        "events.fifo",
    ),
    "fifo-topic-by-arn": (
        lambda: SubscriptionSpec("q", ("arn:aws:sns:eu-west-1:123456789012:e.fifo",)),
        "topics",
        "FIFO topic",
        "arn:aws:sns:eu-west-1:123456789012:e.fifo",
    ),
    "filter-policy": (
        lambda: SubscriptionSpec("q", ("t",), filter_policy={"region": "eu"}),
        "filter_policy",
        "'region'",
        {"region": "eu"},
    ),
}


@pytest.mark.parametrize("case", REFUSED.values(), ids=REFUSED.keys())
def test_a_declaration_sqs_would_refuse_is_refused_when_built(
    case: tuple[Callable[[], Any], str, str, object],
) -> None:
    """Each refused declaration raises DeclarationError naming the value, with its field."""
    build, field, named, value = case

    with pytest.raises(DeclarationError, match=named.replace("(", r"\(")) as caught:
        build()

    assert isinstance(caught.value, ConfigurationError)
    assert (caught.value.field, caught.value.value) == (field, value)


@pytest.mark.parametrize("case", REFUSED.values(), ids=REFUSED.keys())
def test_a_refused_declaration_states_its_field_as_the_problem(
    case: tuple[Callable[[], Any], str, str, object],
) -> None:
    """The error's one problem is the declaration's field, the value given and what SQS allows."""
    build, field, _, value = case

    with pytest.raises(DeclarationError) as caught:
        build()

    ((problem),) = caught.value.problems
    assert (problem.setting, problem.value) == (field, value)
    assert problem.expected


def test_the_problems_say_what_sqs_and_sns_allow() -> None:
    """A range names its bounds, a FIFO mismatch the kind of queue, a filter policy its rule."""
    with pytest.raises(DeclarationError) as receive_count:
        QueueSpec("q", max_receive_count=0)
    with pytest.raises(DeclarationError) as dead_letter_queue:
        QueueSpec("q.fifo", dead_letter_queue="dlq")
    with pytest.raises(DeclarationError) as topic_name:
        SubscriptionSpec("q", ("bad topic",))
    with pytest.raises(DeclarationError) as policy:
        SubscriptionSpec("q", ("t",), filter_policy={"region": "eu"})

    assert receive_count.value.problems == (Problem("max_receive_count", 0, "an integer 1-1000"),)
    assert dead_letter_queue.value.problems[0].expected == "a FIFO queue, as 'q.fifo' is"
    assert topic_name.value.problems[0].setting == "topics"
    assert policy.value.problems[0].expected == "a list of conditions"


def test_the_boundaries_are_accepted() -> None:
    """The extremes of every range and name length SQS/SNS allow build without error."""
    QueueSpec("q" * 80, max_receive_count=1, visibility_timeout=0, retention_seconds=60)
    QueueSpec(
        "a" * 75 + ".fifo",
        dead_letter_queue="b.fifo",
        max_receive_count=1000,
        visibility_timeout=43_200,
        retention_seconds=1_209_600,
        content_based_deduplication=True,
    )
    TopicSpec("t" * 256)
    SubscriptionSpec("q.fifo", ("t.fifo", "arn:aws:sns:eu-west-1:123456789012:other"))


def test_fifo_comes_from_the_name() -> None:
    """A queue or topic is FIFO exactly when its name ends in '.fifo'."""
    assert QueueSpec("orders.fifo").fifo
    assert not QueueSpec("orders").fifo
    assert TopicSpec("events.fifo").fifo
    assert not TopicSpec("events").fifo


def test_a_lone_topic_name_is_one_topic() -> None:
    """SubscriptionSpec('q', 'events') subscribes to 'events', not to its letters."""
    assert SubscriptionSpec("q", "events").topics == ("events",)


def test_renamed_maps_every_name_of_a_declaration() -> None:
    """A renamed spec has the mapping applied to the queue, its dead-letter queue, every topic."""

    def prefix(name: str) -> str:
        return f"env-{name}"

    queue = QueueSpec("q", dead_letter_queue="q-dlq", max_receive_count=3)
    assert queue.renamed(prefix) == QueueSpec(
        "env-q", dead_letter_queue="env-q-dlq", max_receive_count=3
    )
    assert TopicSpec("t").renamed(prefix) == TopicSpec("env-t")
    subscription = SubscriptionSpec("q", ("a", "b"), filter_policy={"k": ["v"]})
    assert subscription.renamed(prefix) == SubscriptionSpec(
        "env-q", ("env-a", "env-b"), filter_policy={"k": ["v"]}
    )


def test_declare_queue_builds_the_queue_its_topics_and_the_subscription() -> None:
    """The declare_queue shortcut declares the queue, then each topic, then one subscription."""
    declarations = queue_declarations(
        "billing",
        dead_letter_queue="billing-dlq",
        topics=["orders", "refunds"],
        filter_policy={"region": ["eu"]},
    )

    assert declarations == [
        QueueSpec("billing", dead_letter_queue="billing-dlq"),
        TopicSpec("orders"),
        TopicSpec("refunds"),
        SubscriptionSpec("billing", ("orders", "refunds"), filter_policy={"region": ["eu"]}),
    ]


def test_declare_queue_states_content_based_deduplication_on_fifo_queues_only() -> None:
    """A FIFO queue's declaration states the flag (so it is reset); a standard one's does not."""
    [fifo] = queue_declarations("q.fifo")
    [standard] = queue_declarations("q")

    assert isinstance(fifo, QueueSpec)
    assert fifo.content_based_deduplication is False
    assert isinstance(standard, QueueSpec)
    assert standard.content_based_deduplication is None


def test_nothing_is_declared_when_any_part_is_refused() -> None:
    """A bad filter policy is refused before the queue or topic would be declared."""
    with pytest.raises(DeclarationError, match=r"filter_policy\['k'\]"):
        queue_declarations("q", topics=["t"], filter_policy={"k": "v"})


def test_a_topic_given_by_arn_is_subscribed_to_but_never_declared() -> None:
    """declare_queue(topics=[arn]) subscribes to that topic without trying to create it."""
    arn = "arn:aws:sns:eu-west-1:123456789012:shared-events"

    declarations = queue_declarations("q", topics=[arn])

    assert declarations == [QueueSpec("q"), SubscriptionSpec("q", (arn,))]


def test_a_dead_letter_spec_is_the_dead_letter_queue_with_default_settings() -> None:
    """A queue's dead-letter spec names its DLQ with default settings; without a DLQ, None."""
    spec = QueueSpec("billing", dead_letter_queue="billing-dlq", visibility_timeout=60)
    assert spec.dead_letter_spec() == QueueSpec("billing-dlq")
    assert QueueSpec("billing").dead_letter_spec() is None
