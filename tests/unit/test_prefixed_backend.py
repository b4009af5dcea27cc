"""PrefixedBackend speaks the application's names: in errors, hints, logs and results."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

import pytest

from melange import Consumer, MessageDispatcher, QueuePublisher, TopicPublisher
from melange.backends import InMemoryBackend
from melange.backends.prefixed import PrefixedBackend, renamed_result
from melange.exceptions import (
    BatchEntryFailure,
    ConfigurationError,
    DeclarationError,
    MessageTooLargeError,
    QueueNotFoundError,
    TopicNotFoundError,
)
from melange.messages import (
    BatchResult,
    Destination,
    Envelope,
    OutgoingMessage,
    RedrivePolicy,
    SendOptions,
)
from melange.serializers import JsonSerializer, SerializerRegistry
from melange.topology.specs import QueueSpec, SubscriptionSpec, TopicSpec

PREFIX = "shop-"


@pytest.fixture(name="inner")
def fixture_inner() -> InMemoryBackend:
    """Give the in-memory backend that the prefixed one wraps."""
    return InMemoryBackend()


@pytest.fixture(name="backend")
def fixture_backend(inner: InMemoryBackend) -> PrefixedBackend:
    """Give a backend that prefixes every name with 'shop-', as MELANGE_PREFIX=shop- does."""
    return PrefixedBackend(inner, PREFIX)


@pytest.fixture(name="registry")
def fixture_registry() -> SerializerRegistry:
    """Give a JSON-only serializer registry."""
    return SerializerRegistry({"serializers": {"json": JsonSerializer}})


def _message() -> OutgoingMessage:
    return OutgoingMessage(Envelope(content="{}", manifest="json", serializer_id=1))


QUEUE_OPERATIONS: dict[str, Callable[[PrefixedBackend], Any]] = {
    "publish": lambda b: b.publish(Destination.queue("refunds"), [_message()]),
    "publish_batch": lambda b: b.publish(Destination.queue("refunds"), [_message(), _message()]),
    "send_raw": lambda b: b.send_raw("refunds", "body", {}),
    "receive": lambda b: b.receive("refunds"),
    "acknowledge": lambda b: b.acknowledge("refunds", ["handle"]),
    "change_visibility": lambda b: b.change_visibility("refunds", ["handle"], 5),
    "subscribe": lambda b: b.subscribe("refunds", []),
    "declare_subscription": lambda b: b.declare(SubscriptionSpec("refunds", ())),
    "redrive_policy": lambda b: b.redrive_policy("refunds"),
}

TOPIC_OPERATIONS: dict[str, Callable[[PrefixedBackend], Any]] = {
    "publish": lambda b: b.publish(Destination.topic("refund-events"), [_message()]),
    "publish_batch": lambda b: b.publish(
        Destination.topic("refund-events"), [_message(), _message()]
    ),
}


@pytest.mark.parametrize("operation", QUEUE_OPERATIONS.values(), ids=QUEUE_OPERATIONS.keys())
def test_a_missing_queue_is_named_as_the_application_names_it(
    backend: PrefixedBackend, operation: Callable[[PrefixedBackend], Any]
) -> None:
    """A missing queue's error names 'refunds', shows 'shop-refunds', and hints without prefix."""
    with pytest.raises(QueueNotFoundError) as caught:
        operation(backend)

    error = caught.value
    assert (error.queue_name, error.broker_name) == ("refunds", "shop-refunds")
    assert str(error).startswith("queue 'refunds' (broker name 'shop-refunds') does not exist")
    assert "declare it first with backend.declare_queue('refunds')" in str(error)
    assert error.in_memory  # the inner backend's kind survives the renaming
    assert "shop-shop-" not in str(error)
    assert error.__cause__ is None  # the inner error and its wrong hint are not chained


@pytest.mark.parametrize("operation", TOPIC_OPERATIONS.values(), ids=TOPIC_OPERATIONS.keys())
def test_a_missing_topic_is_named_as_the_application_names_it(
    backend: PrefixedBackend, operation: Callable[[PrefixedBackend], Any]
) -> None:
    """A missing topic's error names 'refund-events' and hints at declare_topic without prefix."""
    with pytest.raises(TopicNotFoundError) as caught:
        operation(backend)

    error = caught.value
    assert (error.topic_name, error.broker_name) == ("refund-events", "shop-refund-events")
    assert str(error).startswith(
        "topic 'refund-events' (broker name 'shop-refund-events') does not exist"
    )
    assert "declare it first with backend.declare_topic('refund-events')" in str(error)
    assert error.in_memory


def test_a_missing_topic_while_subscribing_is_named_without_prefix(
    backend: PrefixedBackend,
) -> None:
    """Subscribing an existing queue to a missing topic names the topic as the application does."""
    backend.declare_queue("refunds")

    with pytest.raises(TopicNotFoundError) as caught:
        backend.subscribe("refunds", ["refund-events"])

    assert caught.value.topic_name == "refund-events"


def _call_in(message: str, method: str) -> str:
    """Return the argument of ``backend.<method>(...)`` as the error message writes it."""
    found = re.search(rf"backend\.{method}\(('[^']*')\)", message)
    assert found is not None, message
    return found.group(1)


def test_following_the_queue_hint_makes_the_publish_work(
    backend: PrefixedBackend, inner: InMemoryBackend
) -> None:
    """Typing the hint's declare_queue call on the injected backend creates 'shop-refunds'."""
    with pytest.raises(QueueNotFoundError) as caught:
        backend.publish(Destination.queue("refunds"), [_message()])

    argument = _call_in(str(caught.value), "declare_queue")
    assert argument == "'refunds'"
    backend.declare_queue(argument.strip("'"))

    backend.publish(Destination.queue("refunds"), [_message()])
    assert inner.queue_names() == ["shop-refunds"]
    assert inner.message_count("shop-refunds") == 1


def test_following_the_topic_hint_makes_the_subscription_work(
    backend: PrefixedBackend, inner: InMemoryBackend
) -> None:
    """Typing the hint's declare_topic call on the injected backend creates 'shop-refund-events'."""
    backend.declare_queue("refunds")
    with pytest.raises(TopicNotFoundError) as caught:
        backend.subscribe("refunds", ["refund-events"])

    backend.declare_topic(_call_in(str(caught.value), "declare_topic").strip("'"))

    backend.subscribe("refunds", ["refund-events"])
    backend.publish(Destination.topic("refund-events"), [_message()])
    assert inner.message_count("shop-refunds") == 1


def test_a_message_too_large_names_the_applications_destination(
    backend: PrefixedBackend, registry: SerializerRegistry
) -> None:
    """MessageTooLargeError carries 'refunds' as destination and 'shop-refunds' beside it."""
    backend.declare_queue("refunds")

    with pytest.raises(MessageTooLargeError) as caught:
        QueuePublisher(registry, backend).publish("refunds", "x" * 1_100_000)

    error = caught.value
    assert (error.destination, error.broker_destination) == ("refunds", "shop-refunds")
    assert str(error).startswith("message for 'refunds' (broker name 'shop-refunds') is ")


def test_a_configuration_error_names_the_queue_as_the_application_does(
    backend: PrefixedBackend, registry: SerializerRegistry
) -> None:
    """A FIFO queue's missing group id is reported for 'orders.fifo', with its broker name."""
    backend.declare_queue("orders.fifo")

    with pytest.raises(ConfigurationError) as caught:
        QueuePublisher(registry, backend).publish("orders.fifo", {"n": 1})

    assert str(caught.value).startswith(
        "queue 'orders.fifo' (broker name 'shop-orders.fifo') is FIFO and needs a message_group_id"
    )


def test_a_configuration_error_names_the_topic_as_the_application_does(
    backend: PrefixedBackend, registry: SerializerRegistry
) -> None:
    """A delay on a topic publish is refused naming 'events', with its broker name."""
    backend.declare_topic("events")

    with pytest.raises(ConfigurationError, match=r"topic 'events' \(broker name 'shop-events'\)"):
        backend.publish(
            Destination.topic("events"),
            [OutgoingMessage(_message().envelope, SendOptions(delay_seconds=5))],
        )


def test_batch_failure_reasons_name_the_applications_queue() -> None:
    """A failed entry's reason that names 'shop-refunds' is reported for 'refunds'."""
    failure = BatchEntryFailure(
        index=0,
        message_id="m-1",
        code="AccessDenied",
        reason="SendMessageBatch on 'shop-refunds' failed with AccessDenied: denied",
        sender_fault=True,
    )
    result = BatchResult(successful=("m-2",), failed=(failure,))

    renamed = renamed_result(result, {"shop-refunds": "refunds"})

    assert renamed.successful == ("m-2",)
    assert renamed.failed[0].reason == (
        "SendMessageBatch on 'refunds' (broker name 'shop-refunds') failed with AccessDenied: "
        "denied"
    )


def test_a_dispatcher_log_line_names_the_queue_as_the_application_does(
    backend: PrefixedBackend, registry: SerializerRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    """A settle that fails because the queue vanished logs 'refunds', not a 'shop-' hint."""
    backend.declare_queue("refunds")
    QueuePublisher(registry, backend).publish("refunds", {"n": 1})
    vanish = Consumer(lambda message: backend.delete_queue("refunds"))

    dispatcher = MessageDispatcher(registry, backend, consumers=[vanish])

    with (
        caplog.at_level(logging.WARNING, logger="melange.consuming.handling"),
        pytest.raises(QueueNotFoundError, match=r"^queue 'refunds' \(broker name"),
    ):
        dispatcher.process_available("refunds")  # its next receive finds no queue

    [record] = [r for r in caplog.records if "could not settle" in r.getMessage()]
    assert "queue 'refunds' (broker name 'shop-refunds') does not exist" in record.getMessage()
    assert "declare_queue('shop-refunds')" not in record.getMessage()


def test_without_a_prefix_errors_name_one_queue() -> None:
    """With no prefix a missing queue's message names it once, with no broker name."""
    with pytest.raises(QueueNotFoundError) as caught:
        PrefixedBackend(InMemoryBackend(), "").receive("refunds")

    assert "broker name" not in str(caught.value)
    assert caught.value.broker_name == "refunds"


def test_topic_publishers_see_the_applications_names(
    backend: PrefixedBackend, registry: SerializerRegistry
) -> None:
    """TopicPublisher on a prefixed backend reports a missing topic by its short name."""
    with pytest.raises(TopicNotFoundError, match=r"^topic 'refund-events' \(broker name"):
        TopicPublisher(registry, backend).publish("refund-events", {"n": 1})


# -- declarations and destinations are values: renamed once, handed on ------------------------


def test_a_queue_spec_is_declared_under_prefixed_names(
    backend: PrefixedBackend, inner: InMemoryBackend
) -> None:
    """A QueueSpec's queue and dead-letter queue are prefixed; its redrive policy reads short."""
    backend.declare(QueueSpec("refunds", dead_letter_queue="refunds-dlq", max_receive_count=3))

    assert inner.queue_names() == ["shop-refunds", "shop-refunds-dlq"]
    assert inner.redrive_policy("shop-refunds") == RedrivePolicy("shop-refunds-dlq", 3)
    assert backend.redrive_policy("refunds") == RedrivePolicy("refunds-dlq", 3)


def test_a_subscription_spec_is_prefixed_but_a_topic_arn_is_not(
    backend: PrefixedBackend, inner: InMemoryBackend, registry: SerializerRegistry
) -> None:
    """Queue and topic names in a SubscriptionSpec get the prefix; a topic given by ARN does not."""
    inner.declare(TopicSpec("shared-events"))
    arn = "arn:aws:sns:memory:000000000000:shared-events"
    backend.declare(QueueSpec("refunds"))
    backend.declare(TopicSpec("refund-events"))

    backend.declare(SubscriptionSpec("refunds", ("refund-events", arn)))

    TopicPublisher(registry, backend).publish("refund-events", {"n": 1})
    TopicPublisher(registry, inner).publish("shared-events", {"n": 2})
    assert inner.queue_names() == ["shop-refunds"]
    assert inner.message_count("shop-refunds") == 2  # one through each subscription


def test_delete_takes_the_applications_destination(
    backend: PrefixedBackend, inner: InMemoryBackend
) -> None:
    """delete(Destination.queue('refunds')) deletes 'shop-refunds', nothing else."""
    backend.declare_queue("refunds")
    inner.declare_queue("refunds")

    backend.delete(Destination.queue("refunds"))

    assert inner.queue_names() == ["refunds"]


def test_a_prefixed_name_too_long_for_sqs_names_the_applications_queue(
    backend: PrefixedBackend,
) -> None:
    """A name that fits SQS only without the prefix is refused naming the application's name."""
    name = "r" * 78

    with pytest.raises(DeclarationError) as caught:
        backend.declare_queue(name)

    assert caught.value.name == name
    assert str(caught.value).startswith(f"queue name {name!r} (broker name 'shop-{name}') is not")
