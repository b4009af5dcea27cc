"""Foreign messages (no serializer_id, no manifest) read as the class or function a queue names.

A queue's ``foreign`` (``Subscription(..., foreign=...)``, or ``foreign=`` of a dispatcher
attached by hand) makes another producer's JSON, an S3 event notification or an
EventBridge event reach typed handlers; a body is never unwrapped unless melange wrote it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any, ClassVar

import attrs
import pytest

from melange import Consumer, MessageDispatcher, QueuePublisher, Subscription, consumer
from melange.aio import AsyncInMemoryBackend
from melange.app.application import Application
from melange.backends import InMemoryBackend
from melange.consuming.aio_dispatcher import AsyncMessageDispatcher
from melange.exceptions import ConfigurationError, SubscriptionConflictError
from melange.serializers import JsonSerializer, SerializerRegistry, TypedJsonSerializer
from melange.settings import MelangeSettings
from melange_bindings import MelangeBindingSpec, new_object_graph
from tests.support.aws_events import (
    EC2_STATE_CHANGE,
    S3_TEST_EVENT,
    InstanceStateChange,
    S3EventNotification,
    S3TestEvent,
    read_s3_message,
    s3_put_notification,
)
from tests.support.messaging import json_registry


def typed_registry(*extra: tuple[str, Any]) -> SerializerRegistry:
    """Return a graph's registry: json (the default), typed_json, and any extras."""
    return SerializerRegistry(
        {
            "serializers": {
                "json": JsonSerializer,
                "typed_json": TypedJsonSerializer,
                **dict(extra),
            },
            "default": "json",
        }
    )


class Uploads(Consumer):
    """Records the uploads of S3 notifications, and S3's test events."""

    def __init__(self) -> None:
        super().__init__(name="uploads")
        self.seen: list[str] = []

    @consumer
    def on_upload(self, event: S3EventNotification) -> None:
        for record in event.Records:
            self.seen.append(f"{record.eventName} {record.s3.bucket.name}/{record.s3.object.key}")

    @consumer
    def on_test(self, event: S3TestEvent) -> None:
        self.seen.append(f"test event for {event.Bucket}")


class Instances(Consumer):
    """Records the EC2 state changes EventBridge delivers."""

    def __init__(self) -> None:
        super().__init__(name="instances")
        self.seen: list[InstanceStateChange] = []

    @consumer
    def on_change(self, event: InstanceStateChange) -> None:
        self.seen.append(event)


def memory_queue(*bodies: str) -> InMemoryBackend:
    """Return an in-memory backend whose queue 'q' (dead letters: 'q-dlq') holds ``bodies``."""
    backend = InMemoryBackend()
    backend.declare_queue("q", dead_letter_queue="q-dlq")
    for body in bodies:
        backend.send_raw("q", body, {})  # as another producer sends: no attribute of melange's
    return backend


def dead_letter_reasons(backend: InMemoryBackend) -> list[str]:
    """Return the melange_error of every message on 'q-dlq'."""
    return [str(m.attributes["melange_error"]) for m in backend.receive("q-dlq", max_messages=10)]


def test_a_foreign_json_object_whose_only_key_is_message_is_handled_as_sent() -> None:
    """{"Message": ...} from another producer reaches a dict handler as it was sent."""
    bodies = ['{"Message": "{\\"a\\":1}"}', '{"Message": "hello"}']
    backend = memory_queue(*bodies)
    handled: list[Any] = []
    dispatcher = MessageDispatcher(
        json_registry(), backend, consumers=[Consumer(on_message=handled.append)]
    )

    dispatcher.process_available("q")

    assert handled == [json.loads(body) for body in bodies]
    assert dispatcher.stats.dead_lettered == 0


def test_an_s3_notification_reaches_a_typed_handler_on_a_queue_reading_it_as_its_class() -> None:
    """foreign=S3EventNotification structures S3's JSON with the registry's converter."""
    backend = memory_queue(s3_put_notification(bucket="uploads", key="photos/red+flower.jpg"))
    uploads = Uploads()
    dispatcher = MessageDispatcher(
        typed_registry(), backend, consumers=[uploads], foreign=S3EventNotification
    )

    dispatcher.process_available("q")

    assert uploads.seen == ["ObjectCreated:Put uploads/photos/red+flower.jpg"]
    assert dispatcher.stats.acknowledged == 1


def test_an_eventbridge_event_is_validated_as_the_pydantic_model_the_queue_names() -> None:
    """foreign=a pydantic model validates the event by its aliases (detail-type, instance-id)."""
    backend = memory_queue(EC2_STATE_CHANGE)
    instances = Instances()
    dispatcher = MessageDispatcher(
        json_registry(), backend, consumers=[instances], foreign=InstanceStateChange
    )

    dispatcher.process_available("q")

    [event] = instances.seen
    assert event.detail_type == "EC2 Instance State-change Notification"
    assert (event.source, event.detail.instance_id) == ("aws.ec2", "i-1234567890abcdef0")
    assert event.detail.state == "terminated"


def test_a_structuring_function_reads_s3s_test_event_and_its_notifications() -> None:
    """foreign=a function of the parsed JSON: what it returns is the message handlers get."""
    backend = memory_queue(S3_TEST_EVENT, s3_put_notification(key="a.txt"))
    uploads = Uploads()
    dispatcher = MessageDispatcher(
        json_registry(), backend, consumers=[uploads], foreign=read_s3_message
    )

    dispatcher.process_available("q")

    assert uploads.seen == ["test event for uploads", "ObjectCreated:Put uploads/a.txt"]


@pytest.mark.parametrize(
    ("foreign", "body", "expected"),
    [
        (
            S3EventNotification,
            json.dumps({"Records": [{"eventName": "x", "eventTime": "2026-05-04T10:00:00Z"}]}),
            "content does not structure into S3EventNotification: "
            "required field missing @ $.Records[0].s3",
        ),
        (
            InstanceStateChange,
            json.dumps({**json.loads(EC2_STATE_CHANGE), "detail-type": 7}),
            "content does not validate as InstanceStateChange: "
            "Input should be a valid string (string_type) @ $['detail-type']",
        ),
        (
            S3EventNotification,
            "Records: none",
            "foreign message of 13 characters is not JSON (Expecting value: line 1 column 1 "
            "(char 0)), so it cannot be read as S3EventNotification",
        ),
        (
            read_s3_message,
            '{"Event": "s3:TestEvent"}',
            "foreign message could not be read by read_s3_message: ClassValidationError",
        ),
    ],
    ids=["attrs", "pydantic", "not-json", "function"],
)
def test_a_foreign_message_that_does_not_fit_is_dead_lettered_naming_the_type_and_field(
    foreign: Any, body: str, expected: str
) -> None:
    """A structuring failure moves the message to the DLQ with the class and the field."""
    backend = memory_queue(body)
    reader = Instances() if foreign is InstanceStateChange else Uploads()
    dispatcher = MessageDispatcher(typed_registry(), backend, consumers=[reader], foreign=foreign)

    dispatcher.process_available("q")

    [reason] = dead_letter_reasons(backend)
    assert reason.startswith(f"DeserializationError: {expected}")
    assert dispatcher.stats.dead_lettered == 1


@attrs.frozen
class Reserved:
    """A message melange publishes to the same queue."""

    ticket: int


def test_melanges_own_messages_on_a_foreign_queue_are_read_by_their_serializer() -> None:
    """Only messages without serializer_id and manifest are foreign; melange's read as ever."""
    backend = memory_queue(s3_put_notification(key="b.txt"))
    registry = SerializerRegistry(
        {
            "serializers": {"json": JsonSerializer, "typed_json": TypedJsonSerializer},
            "serializer_bindings": {Reserved: "typed_json"},
            "default": "json",
        }
    )
    QueuePublisher(registry, backend).publish("q", {"plain": "dict"})
    QueuePublisher(registry, backend).publish("q", Reserved(7))
    seen: list[Any] = []

    class Everything(Consumer):
        @consumer
        def on_any(self, message: object) -> None:
            seen.append(message)

    dispatcher = MessageDispatcher(
        registry, backend, consumers=[Everything()], foreign=S3EventNotification
    )
    dispatcher.process_available("q")

    assert [type(m) for m in seen] == [S3EventNotification, dict, Reserved]
    assert seen[1:] == [{"plain": "dict"}, Reserved(7)]


class SecondTypedJson(TypedJsonSerializer):
    """An application's own typed JSON, beside the built-in one."""

    identifier: ClassVar[int] = 103


def test_a_foreign_attrs_class_needs_one_serializer_that_structures_it() -> None:
    """No typed serializer, or two and no binding: the dispatcher is refused when it is built."""
    with pytest.raises(ConfigurationError, match="no serializer of the registry structures it"):
        MessageDispatcher(json_registry(), InMemoryBackend(), foreign=S3EventNotification)
    with pytest.raises(ConfigurationError, match="'typed_json', 'second' can all structure it"):
        MessageDispatcher(
            typed_registry(("second", SecondTypedJson)),
            InMemoryBackend(),
            foreign=S3EventNotification,
        )


def test_a_binding_chooses_the_converter_a_foreign_class_is_structured_with() -> None:
    """With two typed serializers, the one the class is bound to structures it, hooks and all."""
    from cattrs.preconf.json import make_converter

    shouting = make_converter()
    shouting.register_structure_hook(str, lambda value, _: str(value).upper())
    registry = SerializerRegistry(
        {
            "serializers": {
                "typed_json": TypedJsonSerializer,
                "shouting": SecondTypedJson(converter=shouting),
            },
            "serializer_bindings": {S3EventNotification: "shouting"},
        }
    )
    backend = memory_queue(s3_put_notification(bucket="uploads", key="a.txt"))
    uploads = Uploads()

    MessageDispatcher(
        registry, backend, consumers=[uploads], foreign=S3EventNotification
    ).process_available("q")

    assert uploads.seen == ["OBJECTCREATED:PUT UPLOADS/A.TXT"]


class UploadConsumer(Uploads):
    """Uploads, reading queue 'uploads' whose foreign messages are S3 notifications."""

    subscription = Subscription(
        "uploads", dead_letter_queue="uploads-dlq", foreign=S3EventNotification
    )


class UploadAudit(Consumer):
    """A second consumer of 'uploads' that reads its foreign messages as raw dicts."""

    subscription = Subscription("uploads", foreign=None)

    @consumer
    def on_dict(self, message: dict[str, Any]) -> None:
        raise AssertionError("the queue reads its foreign messages as S3EventNotification")


def test_a_subscriptions_foreign_reaches_the_workers_dispatcher_of_its_queue() -> None:
    """Subscription(foreign=...) is a queue setting: the worker's dispatcher reads with it."""
    backend = InMemoryBackend()
    consumers: Sequence[Consumer] = [UploadConsumer()]
    graph = new_object_graph(
        melange=MelangeBindingSpec(settings=MelangeSettings(), backend=backend)
    )
    app = Application(consumers, [], backend, graph.provide(Application).dispatcher_factory)
    app.declare()
    backend.send_raw("uploads", s3_put_notification(key="c.txt"), {})

    [(queue, dispatcher)] = app.worker().queues
    dispatcher.process_available(queue)

    assert app.topology.queues[0].options.foreign is S3EventNotification
    assert consumers[0].seen == ["ObjectCreated:Put uploads/c.txt"]  # type: ignore[attr-defined]


def test_consumers_sharing_a_queue_must_agree_on_its_foreign_class() -> None:
    """One consumer stating foreign=S3EventNotification, another a function: refused, named."""

    class OtherReader(Consumer):
        subscription = Subscription("uploads", foreign=read_s3_message)

        @consumer
        def on_upload(self, event: S3EventNotification) -> None:
            """Never called."""

    graph = new_object_graph(melange=MelangeBindingSpec(settings=MelangeSettings()))
    factory = graph.provide(Application).dispatcher_factory

    with pytest.raises(SubscriptionConflictError, match="foreign"):
        Application([UploadConsumer(), OtherReader()], [], factory.backend, factory)
    # Not stating it leaves it to the consumer that does (UploadAudit states None).
    app = Application([UploadConsumer(), UploadAudit()], [], factory.backend, factory)
    assert app.topology.queues[0].options.foreign is S3EventNotification


def test_a_foreign_that_is_not_callable_is_refused_where_it_is_stated() -> None:
    """Subscription(foreign=...) and dispatcher options refuse a value that reads nothing."""
    with pytest.raises(ConfigurationError, match="foreign='Records' is not a class or a function"):
        Subscription("uploads", foreign="Records")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="foreign=3 is not a class or a function"):
        MessageDispatcher(json_registry(), InMemoryBackend(), foreign=3)


def test_the_asyncio_dispatcher_reads_foreign_messages_as_the_queue_says() -> None:
    """AsyncMessageDispatcher(foreign=...) gives typed handlers S3 notifications too."""

    async def scenario() -> tuple[Uploads, AsyncMessageDispatcher]:
        backend = AsyncInMemoryBackend()
        await backend.declare_queue("q")
        await backend.send_raw("q", s3_put_notification(key="d.txt"), {})
        uploads = Uploads()
        dispatcher = AsyncMessageDispatcher(
            typed_registry(), backend, consumers=[uploads], foreign=S3EventNotification
        )
        await dispatcher.process_available("q")
        return uploads, dispatcher

    uploads, dispatcher = asyncio.run(scenario())

    assert uploads.seen == ["ObjectCreated:Put uploads/d.txt"]
    assert dispatcher.stats.acknowledged == 1
