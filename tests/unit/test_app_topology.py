"""Unit tests for Subscription and for deriving an application's topology from its consumers."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from melange import Consumer
from melange.app.topology import derive_topology
from melange.consuming.subscription import Subscription
from melange.exceptions import (
    ConfigurationError,
    DeclarationError,
    Problem,
    SubscriptionConflictError,
)
from melange.options import DispatcherOptions
from melange.topology.specs import QueueSpec, SubscriptionSpec, TopicSpec


def reader(name: str, **subscription: Any) -> Consumer:
    """Return a consumer named ``name`` reading the queue ``subscription`` describes."""
    return Consumer(lambda message: None, name=name, subscription=Subscription(**subscription))


# -- Subscription: checked when made, with the consumer class named ----------------------


def test_a_bad_subscription_in_a_class_body_names_the_consumer_class() -> None:
    """A queue name SQS refuses fails at class definition, naming the consumer class."""
    with pytest.raises(DeclarationError, match=r"consumer class '\S*Billing': queue name 'no way'"):

        class Billing(Consumer):
            subscription = Subscription("no way")


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"queue": "jobs.fifo", "fifo": False}, "fifo"),
        ({"queue": "jobs", "fifo": True}, "fifo"),
        ({"queue": "jobs", "topics": ["events.fifo"]}, "topics"),
        ({"queue": "jobs", "filter_policy": {"region": ["eu"]}}, "filter_policy"),
        ({"queue": "jobs", "dead_letter_queue": "dlq.fifo"}, "dead_letter_queue"),
        ({"queue": "jobs", "max_receive_count": 0}, "max_receive_count"),
    ],
)
def test_a_subscription_sqs_would_refuse_raises_declaration_error(
    arguments: dict[str, Any], field: str
) -> None:
    """The step-1 specs' rules, and FIFO agreeing with the name, apply to a Subscription."""
    with pytest.raises(DeclarationError) as raised:
        Subscription(**arguments)

    assert raised.value.field == field


@pytest.mark.parametrize("arguments", [{"workers": 0}, {"visibility_timeout": 0}])
def test_options_a_worker_cannot_run_with_are_refused(arguments: dict[str, int]) -> None:
    """A subscription's workers and visibility timeout obey DispatcherOptions' rules."""
    with pytest.raises(ConfigurationError, match=next(iter(arguments))):
        Subscription("jobs", **arguments)


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        ({"queue": "jobs", "workers": 0}, Problem("workers", 0, "an integer >= 1")),
        (
            {"queue": "jobs", "visibility_timeout": 0},
            Problem("visibility_timeout", 0, "an integer 1-43200"),
        ),
        (
            {"queue": "jobs.fifo", "fifo": False},
            Problem("fifo", False, "True, as the name 'jobs.fifo' says, or None"),
        ),
        (
            {"queue": "jobs", "raw_message_delivery": True},
            Problem(
                "raw_message_delivery",
                True,
                "topics to subscribe the queue to, or no raw_message_delivery",
            ),
        ),
        (
            {"queue": "jobs", "max_receive_count": 1001},
            Problem("max_receive_count", 1001, "an integer 1-1000"),
        ),
    ],
)
def test_a_refused_subscription_states_its_field_as_the_problem(
    arguments: dict[str, Any], problem: Problem
) -> None:
    """A Subscription's error carries the field the consumer states, its value and the rule."""
    with pytest.raises(ConfigurationError) as caught:
        Subscription(**arguments)

    assert caught.value.problems == (problem,)


def test_a_consumer_without_subscription_is_a_problem_of_its_subscription() -> None:
    """Deriving a topology from a consumer with no subscription names the missing attribute."""
    with pytest.raises(ConfigurationError) as caught:
        derive_topology([Consumer(lambda message: None, name="orphan")], [])

    assert caught.value.problems == (Problem("subscription", None, "a melange.Subscription"),)


def test_a_consumer_given_something_else_as_subscription_is_refused() -> None:
    """A class attribute subscription that is not a Subscription fails at class definition."""
    with pytest.raises(ConfigurationError, match=r"expected a melange\.Subscription"):

        class Billing(Consumer):
            subscription = "billing"  # type: ignore[assignment]


def test_the_constructor_subscription_replaces_the_class_one() -> None:
    """subscription= given to Consumer() wins over the class attribute, for that instance."""

    class Billing(Consumer):
        subscription = Subscription("billing")

    assert Billing(subscription=Subscription("refunds")).subscription == Subscription("refunds")
    assert Billing().subscription == Subscription("billing")


# -- deriving the topology ---------------------------------------------------------------


def test_the_topology_declares_topics_dead_letter_queues_queues_then_subscriptions() -> None:
    """Each resource is declared once, after what it needs, with the settings' defaults."""
    consumers = [
        reader(
            "shipping",
            queue="shipping",
            topics=["orders"],
            filter_policy={"region": ["eu"]},
            dead_letter_queue="shipping-dlq",
        ),
        reader("invoices", queue="invoices", dead_letter_queue="shipping-dlq"),
    ]

    topology = derive_topology(
        consumers,
        ["payments"],
        options=DispatcherOptions(visibility_timeout=45),
        max_receive_count=3,
    )

    assert topology.declarations() == [
        TopicSpec("payments"),
        TopicSpec("orders"),
        QueueSpec("shipping-dlq"),
        QueueSpec(
            "shipping", dead_letter_queue="shipping-dlq", max_receive_count=3, visibility_timeout=45
        ),
        QueueSpec(
            "invoices", dead_letter_queue="shipping-dlq", max_receive_count=3, visibility_timeout=45
        ),
        SubscriptionSpec("shipping", ("orders",), filter_policy={"region": ["eu"]}),
    ]


def test_each_queue_runs_with_its_subscription_options_over_the_settings() -> None:
    """A queue's workers and visibility timeout come from its subscription, else the settings."""
    settings_options = DispatcherOptions(workers=3, visibility_timeout=30)
    topology = derive_topology(
        [
            reader("a", queue="busy", workers=8, visibility_timeout=120),
            reader("b", queue="quiet"),
        ],
        options=settings_options,
    )

    busy, quiet = topology.queues
    assert (busy.options.workers, busy.options.visibility_timeout) == (8, 120)
    # No topic feeds it: a large message's S3 object goes once it is acknowledged.
    assert quiet.options == attrs.evolve(settings_options, delete_payloads=True)


def test_consumers_sharing_a_queue_are_merged() -> None:
    """Two consumers on one queue give one queue with both consumers, every topic and setting."""
    first = reader("first", queue="shared", topics=["a"], workers=4)
    second = reader("second", queue="shared", topics=["b"], dead_letter_queue="shared-dlq")

    (queue,) = derive_topology([first, second]).queues

    assert queue.consumers == (first, second)
    assert queue.spec.dead_letter_queue == "shared-dlq"
    assert queue.options.workers == 4
    assert [s.topics for s in queue.subscriptions] == [("a",), ("b",)]


@pytest.mark.parametrize(
    ("first", "second", "field"),
    [
        ({"workers": 2}, {"workers": 3}, "workers"),
        ({"dead_letter_queue": "x-dlq"}, {"dead_letter_queue": "y-dlq"}, "dead_letter_queue"),
        (
            {"topics": ["t"], "filter_policy": {"region": ["eu"]}},
            {"topics": ["t"], "filter_policy": {"region": ["us"]}},
            "filter_policy",
        ),
        (
            {"topics": ["t"], "raw_message_delivery": True},
            {"topics": ["t"]},
            "raw_message_delivery",
        ),
    ],
)
def test_consumers_disagreeing_on_a_shared_queue_are_refused_naming_both(
    first: dict[str, Any], second: dict[str, Any], field: str
) -> None:
    """A conflict names both consumers, the queue and the field, and carries the values."""
    consumers = [reader("one", queue="shared", **first), reader("two", queue="shared", **second)]

    with pytest.raises(SubscriptionConflictError) as raised:
        derive_topology(consumers)

    error = raised.value
    assert (error.queue, error.field, error.consumers) == ("shared", field, ("one", "two"))
    assert "'one'" in str(error) and "'two'" in str(error) and field in str(error)


def test_a_consumer_without_a_subscription_is_refused() -> None:
    """A consumer no worker could place on a queue is named with how to give it one."""
    with pytest.raises(ConfigurationError, match="'lost' has no subscription"):
        derive_topology([Consumer(lambda message: None, name="lost")])


def test_a_topic_given_by_arn_is_subscribed_to_but_not_declared() -> None:
    """Another account's topic (an ARN) gets a subscription, never a TopicSpec."""
    arn = "arn:aws:sns:eu-west-1:123456789012:theirs"

    topology = derive_topology([reader("r", queue="q", topics=[arn])])

    assert topology.topics == ()
    assert topology.queues[0].subscriptions == (SubscriptionSpec("q", (arn,)),)


def test_a_dead_letter_queue_that_a_consumer_reads_is_declared_as_that_consumer_states() -> None:
    """A consumed dead-letter queue is declared once, with its reader's settings."""
    topology = derive_topology(
        [
            reader("main", queue="main", dead_letter_queue="main-dlq"),
            reader("janitor", queue="main-dlq", visibility_timeout=300),
        ]
    )

    dead = [d for d in topology.declarations() if isinstance(d, QueueSpec) and d.name == "main-dlq"]
    assert dead == [QueueSpec("main-dlq", visibility_timeout=300)]
