"""The wire-format page's claims: its melange 7 migration tables, its port, its size limits.

melange 7 itself is never imported here: each row is checked on melange 8's side, that the
old name warns or is gone and that the name to write instead exists.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from typing import Any

import pytest

import melange
from docs.snippets.wire_format.tutorial_consumer import MyTestMessage, build_dispatcher
from melange import QueuePublisher, TopicPublisher
from melange.backends import AWSBackend, InMemoryBackend, LocalSQSBackend
from melange.exceptions import MessageTooLargeError, SerializerConfigurationError
from melange.serializers import JsonSerializer, PickleSerializer, Serializer, SerializerRegistry

#: (module, melange 7 name, what the warning tells to write instead).
WARNING_NAMES = [
    ("melange", "SingleDispatchConsumer", "use melange.Consumer"),
    ("melange", "SimpleMessageDispatcher", "consumers=[consumer]"),
    ("melange.backends", "InMemoryMessagingBackend", "use melange.backends.InMemoryBackend"),
]

#: melange 7.2's modules that melange 8 does not have.
GONE_MODULES = [
    "melange.consumers",
    "melange.message_dispatcher",
    "melange.publishers",
    "melange.backends.sqs.localsqs",
    "melange.backends.sqs.sqs_backend",
    "melange.backends.testing",
    "melange.backends.interfaces",
    "melange.serializers.interfaces",
    "melange.infrastructure.cache",
    "melange.models",
    "melange.backends.rabbitmq.rabbitmq_backend",
]

#: melange 7's public names that melange 8 has no more, without a compatibility name.
GONE_NAMES = [
    ("melange", "MessagingBackendFactory"),
    ("melange.backends", "BackendManager"),
    ("melange.backends", "link_synchronously"),
    ("melange.backends", "KafkaBackend"),
    ("melange.aio", "AIOSQSProducer"),
    ("melange.aio", "AIOSQSConsumer"),
]

#: The names the tables tell to write instead, each importable from where they say.
NEW_NAMES = [
    ("melange", ["Consumer", "consumer", "MessageDispatcher", "QueuePublisher", "AckPolicy"]),
    ("melange", ["TopicPublisher", "RedisDeduplicationCache", "NullDeduplicationCache"]),
    ("melange", ["DeduplicationCache", "ReceivedMessage", "Envelope", "Destination"]),
    ("melange.backends", ["LocalSQSBackend", "AWSBackend", "InMemoryBackend"]),
    ("melange.backends", ["MessagingBackend"]),
    ("melange.serializers", ["Serializer", "SerializerRegistry", "JsonSerializer"]),
    ("melange.serializers.registry", ["SerializerRegistry"]),
    ("melange.serializers.json", ["JsonSerializer"]),
    ("melange.serializers.pickle", ["PickleSerializer"]),
    ("melange.aio", ["AsyncQueuePublisher", "AsyncMessageDispatcher"]),
]


def registry() -> SerializerRegistry:
    """Give a JSON-only registry."""
    return SerializerRegistry({"serializers": {"json": JsonSerializer}})


@pytest.mark.parametrize(("module", "name", "instead"), WARNING_NAMES)
def test_a_melange7_name_in_the_first_table_warns_naming_its_replacement(
    module: str, name: str, instead: str
) -> None:
    """Each name of "Names that still work" resolves, with a warning naming what to write."""
    with pytest.warns(DeprecationWarning, match=f"{name} is melange 7's name") as caught:
        getattr(importlib.import_module(module), name)
    assert instead in str(caught[0].message)


@pytest.mark.parametrize(
    ("keyword", "policy"), [("always_ack", "AckPolicy.ALWAYS"), ("early_ack", "ON_RECEIPT")]
)
def test_a_melange7_ack_keyword_warns_naming_its_ack_policy(keyword: str, policy: str) -> None:
    """always_ack=True and early_ack=True still work, warning with the ack_policy to use."""
    with pytest.warns(DeprecationWarning, match=f"{keyword}= is melange 7's keyword") as caught:
        melange.MessageDispatcher(registry(), InMemoryBackend(), **{keyword: True})
    assert policy in str(caught[0].message)


@pytest.mark.parametrize("module", GONE_MODULES)
def test_a_melange7_module_is_gone(module: str) -> None:
    """Each module of "Imports from melange 7's modules" cannot be imported any more."""
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module(module)


@pytest.mark.parametrize(("module", "name"), GONE_NAMES)
def test_a_melange7_name_of_the_gone_table_is_gone(module: str, name: str) -> None:
    """Each name of "Names that are gone" is absent, and does not resolve through compat."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # not resolved through melange.compat either
        assert not hasattr(importlib.import_module(module), name)


@pytest.mark.parametrize(("module", "names"), NEW_NAMES)
def test_the_names_to_write_instead_exist(module: str, names: list[str]) -> None:
    """What the tables tell to write is importable from where they say."""
    found = importlib.import_module(module)
    for name in names:
        assert getattr(found, name) is not None, f"{module}.{name}"


def assert_refused(call: Callable[[], Any]) -> None:
    """Assert that ``call`` raises the TypeError or AttributeError of a name melange 8 lacks."""
    with pytest.raises((TypeError, AttributeError)):
        call()


def test_melange7_keywords_and_methods_are_refused() -> None:
    """The rows of "Keywords and methods" fail on melange 8 as the page says they changed."""
    backend = InMemoryBackend()
    backend.declare_queue("orders.fifo")
    backend.declare_topic("events")
    queues, topics = QueuePublisher(registry(), backend), TopicPublisher(registry(), backend)
    dispatcher = melange.MessageDispatcher(registry(), backend)
    old_ways: list[Callable[[], Any]] = [
        lambda: QueuePublisher(registry()),
        lambda: melange.MessageDispatcher(registry()),
        lambda: queues.publish(
            "orders.fifo", {"n": 1}, message_group_id="g", message_deduplication_id="d"
        ),
        lambda: topics.publish("events", {"n": 1}, message_attributes={}),
        lambda: topics.publish("events", {"n": 1}, message_structure="json"),
        lambda: melange.MessageDispatcher(registry(), None, backend),
        lambda: dispatcher.consume_loop,
        lambda: dispatcher.consume_event,
        lambda: dispatcher.unattach_consumer,
        lambda: backend.declare_queue("q", dead_letter_queue_name="q-dlq"),
        lambda: backend.get_queue,
        lambda: backend.retrieve_messages,
        lambda: backend.yield_messages,
        lambda: backend.publish_to_queue,
        lambda: backend.publish_to_topic,
        lambda: backend.close_connection,
        lambda: registry().find_serializer_for,
        lambda: registry().get_serializer_by_id,
        lambda: registry().get_serializer_by_name,
        lambda: registry().deserialize_with_serializerid,
        lambda: registry().deserialize_with_class,
        lambda: LocalSQSBackend(port=4566, wait_time_seconds=5),
        lambda: AWSBackend("eu-west-1", extra_settings={}),
    ]
    for way in old_ways:
        assert_refused(way)
    assert queues.publish("orders.fifo", {"n": 1}, message_group_id="g", deduplication_id="d")
    assert topics.publish("events", {"n": 1}, attributes={"k": "v"})  # returns the message id


def test_a_serializer_with_melange7s_identifier_method_is_refused_by_name() -> None:
    """A serializer whose identifier is a static method, as in 7, is refused, named."""

    class Msgpack(Serializer):
        @staticmethod
        def identifier() -> int:
            return 100

    with pytest.raises(SerializerConfigurationError, match="serializer 'msgpack' has identifier"):
        SerializerRegistry({"serializers": {"msgpack": Msgpack}})


def test_the_ported_tutorial_consumer_reads_a_pickled_message(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The melange 8 port of 7.2's tutorial consumer prints the message a publisher pickled."""
    backend = InMemoryBackend()
    backend.declare_queue("melangetutorial-queue")
    pickling = SerializerRegistry(
        {"serializers": {"pickle": PickleSerializer}, "serializer_bindings": {object: "pickle"}}
    )
    QueuePublisher(pickling, backend).publish("melangetutorial-queue", MyTestMessage("Hello!"))

    assert build_dispatcher(backend).process_available("melangetutorial-queue") == 1
    assert capsys.readouterr().out == "Hello!\n"
    assert backend.receive("melangetutorial-queue", wait_time_seconds=0) == []


def test_in_memory_topics_take_256_kib() -> None:
    """The in-memory backend's topics refuse a message over 262,144 bytes, unsent."""
    backend = InMemoryBackend()
    backend.declare_queue("all", topics=["events"])
    topics = TopicPublisher(registry(), backend)
    topics.publish("events", "x" * 200_000)
    with pytest.raises(MessageTooLargeError) as raised:
        topics.publish("events", "x" * 300_000)
    assert raised.value.limit == 262_144
    assert len(backend.receive("all", wait_time_seconds=0)) == 1
