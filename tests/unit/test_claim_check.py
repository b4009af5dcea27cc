"""Large messages through the in-memory payload store, as through S3, on both halves.

A publisher with a payload store sends a message over its destination's limit as a
pointer in AWS's extended-client format, the body stored first; a dispatcher reads it back
and hands the handler what it would get inline. What cannot be read is dead-lettered with
a reason, never acknowledged quietly.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

from melange import Consumer, MessageDispatcher, QueuePublisher, TopicPublisher
from melange.aio import AsyncInMemoryBackend, AsyncMessageDispatcher
from melange.backends import InMemoryBackend
from melange.consuming.dead_letters import dead_letter_reason
from melange.exceptions import (
    BackendRefusedError,
    MessageAttributeError,
    MessageTooLargeError,
    QueueNotFoundError,
)
from melange.limits import SQS_MAX_MESSAGE_BYTES
from melange.messages import ReceivedMessage
from melange.payloads import InMemoryPayloadStore, LargePayloads, PayloadPointer
from melange.serializers import JsonSerializer, SerializerRegistry
from melange.wire.claim_check import (
    LEGACY_POINTER_CLASS,
    LEGACY_SIZE_ATTRIBUTE,
    POINTER_CLASS,
    SIZE_ATTRIBUTE,
    claim_check,
)
from tests.support import halves

HALF: list[halves.Half] = ["threads"]
#: A body well over SQS's 1 MiB.
LARGE = "x" * (SQS_MAX_MESSAGE_BYTES + 10)
SETTINGS = LargePayloads(bucket="payloads")


@pytest.fixture(autouse=True, params=halves.HALVES, name="half")
def fixture_half(request: pytest.FixtureRequest) -> Iterator[halves.Half]:
    """Run every test of this module on the threaded dispatcher, then on the asyncio one."""
    HALF[0] = request.param
    yield request.param
    HALF[0] = "threads"


@pytest.fixture(name="registry")
def fixture_registry() -> SerializerRegistry:
    """Give a JSON-only registry."""
    return SerializerRegistry({"serializers": {"json": JsonSerializer}})


@pytest.fixture(name="backend")
def fixture_backend() -> InMemoryBackend:
    """Give 'big' (DLQ after 3), 'events' fanning out to 'raw' and 'enveloped'."""
    backend = InMemoryBackend()
    backend.declare_queue("big", dead_letter_queue="big-dlq", max_receive_count=3)
    backend.declare_topic("events")
    backend.declare_queue(
        "raw", dead_letter_queue="raw-dlq", topics=["events"], raw_message_delivery=True
    )
    backend.declare_queue("enveloped", dead_letter_queue="enveloped-dlq", topics=["events"])
    return backend


@pytest.fixture(name="store")
def fixture_store() -> InMemoryPayloadStore:
    """Give an in-memory payload store on bucket 'payloads'."""
    return InMemoryPayloadStore(SETTINGS)


def drain(
    registry: SerializerRegistry,
    backend: InMemoryBackend,
    queue: str,
    store: InMemoryPayloadStore | None,
    *,
    delete_payloads: bool = False,
) -> list[Any]:
    """Handle what is on ``queue`` with a recording consumer on the test's half."""
    handled: list[Any] = []
    consumer = Consumer(on_message=handled.append, name="recorder")
    if HALF[0] == "threads":
        dispatcher = MessageDispatcher(
            registry,
            backend,
            consumers=[consumer],
            payloads=store,
            delete_payloads=delete_payloads,
        )
        dispatcher.process_available(queue)
    else:
        aio = AsyncMessageDispatcher(
            registry,
            AsyncInMemoryBackend(backend),
            consumers=[consumer],
            payloads=store,
            delete_payloads=delete_payloads,
        )
        asyncio.run(aio.process_available(queue))
    return handled


def reasons(backend: InMemoryBackend, queue: str) -> list[str | None]:
    """Return the dead-letter reasons of what is on ``queue``."""
    return [dead_letter_reason(m.attributes) for m in backend.peek(queue)]


def test_a_message_over_the_limit_travels_as_a_pointer_and_is_read_back(
    registry: SerializerRegistry, backend: InMemoryBackend, store: InMemoryPayloadStore
) -> None:
    """The queue holds AWS's pointer; the handler gets the object; the object goes after ack."""
    message_id = QueuePublisher(registry, backend, payloads=store).publish("big", {"b": LARGE})
    [queued] = backend.peek("big")
    assert json.loads(queued.body) == [
        POINTER_CLASS,
        {"s3BucketName": "payloads", "s3Key": f"melange-payloads/big/{message_id}"},
    ]
    stored = store.objects()[f"melange-payloads/big/{message_id}"].payload
    assert queued.attributes[SIZE_ATTRIBUTE] == len(stored.encode())
    assert queued.attributes["message_id"] == message_id  # melange's attributes stay

    assert drain(registry, backend, "big", store, delete_payloads=True) == [{"b": LARGE}]
    assert backend.message_count("big") == 0
    assert store.objects() == {}


def test_a_small_message_is_sent_inline_unless_always(
    registry: SerializerRegistry, backend: InMemoryBackend
) -> None:
    """Under the limit nothing goes to S3; with always=True everything does."""
    lazy, always = (
        InMemoryPayloadStore(SETTINGS),
        InMemoryPayloadStore(LargePayloads(bucket="payloads", always=True)),
    )
    QueuePublisher(registry, backend, payloads=lazy).publish("big", {"n": 1})
    QueuePublisher(registry, backend, payloads=always).publish("big", {"n": 2})
    assert lazy.objects() == {}
    assert len(always.objects()) == 1
    assert [claim_check(m) is not None for m in backend.peek("big")] == [False, True]
    assert drain(registry, backend, "big", always) == [{"n": 1}, {"n": 2}]


def test_without_a_payload_store_a_large_message_is_still_refused(
    registry: SerializerRegistry, backend: InMemoryBackend
) -> None:
    """The publisher without payloads= raises MessageTooLargeError, as before."""
    with pytest.raises(MessageTooLargeError):
        QueuePublisher(registry, backend).publish("big", {"b": LARGE})
    assert backend.message_count("big") == 0


@pytest.mark.parametrize("queue", ["raw", "enveloped"])
def test_a_topics_large_message_reaches_every_subscriber_and_its_object_stays(
    registry: SerializerRegistry, backend: InMemoryBackend, store: InMemoryPayloadStore, queue: str
) -> None:
    """Raw delivery on and off: read back; fan-out leaves the object to the lifecycle rule."""
    big = "y" * 300_000  # over SNS's default 256 KiB
    TopicPublisher(registry, backend, payloads=store).publish("events", {"b": big})
    assert drain(registry, backend, queue, store) == [{"b": big}]
    assert len(store.objects()) == 1


def test_a_notification_is_never_deleted_even_when_told_to(
    registry: SerializerRegistry, backend: InMemoryBackend, store: InMemoryPayloadStore
) -> None:
    """A pointer that came in an SNS notification is a topic's: its object is kept."""
    TopicPublisher(registry, backend, payloads=store).publish("events", {"b": "z" * 300_000})
    drain(registry, backend, "enveloped", store, delete_payloads=True)
    assert len(store.objects()) == 1


def test_a_missing_object_is_dead_lettered_naming_bucket_and_key(
    registry: SerializerRegistry, backend: InMemoryBackend, store: InMemoryPayloadStore
) -> None:
    """Expired or deleted: the message goes to the DLQ, pointer kept, reason names it."""
    QueuePublisher(registry, backend, payloads=store).publish("big", {"b": LARGE})
    [key] = store.objects()
    store.delete(PayloadPointer("payloads", key))
    assert drain(registry, backend, "big", store) == []
    [reason] = reasons(backend, "big-dlq")
    assert reason is not None
    assert reason.startswith(f"PayloadNotFoundError: the payload s3://payloads/{key} does not")
    [dead] = backend.peek("big-dlq")
    assert claim_check(dead) is not None  # the dead letter keeps its pointer


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ("not json", "a body that is not JSON"),
        ('{"s3BucketName": "payloads"}', "a body that is not a pointer"),
        (
            json.dumps(["com.example.Pointer", {"s3BucketName": "b", "s3Key": "k"}]),
            "names pointer class 'com.example.Pointer'",
        ),
        (json.dumps([POINTER_CLASS, {"s3BucketName": "", "s3Key": "k"}]), "s3BucketName=''"),
    ],
)
def test_a_malformed_pointer_is_dead_lettered_with_the_reason(
    registry: SerializerRegistry,
    backend: InMemoryBackend,
    store: InMemoryPayloadStore,
    body: str,
    why: str,
) -> None:
    """A size attribute on something that is not a pointer: DLQ, reason says what is wrong."""
    backend.send_raw("big", body, {SIZE_ATTRIBUTE: 5})
    assert drain(registry, backend, "big", store) == []
    [reason] = reasons(backend, "big-dlq")
    assert reason is not None and reason.startswith("MalformedMessageError: ")
    assert why in reason


def test_a_pointer_to_a_bucket_the_application_does_not_read_is_dead_lettered(
    registry: SerializerRegistry, backend: InMemoryBackend, store: InMemoryPayloadStore
) -> None:
    """A crafted pointer cannot make the worker read another bucket."""
    pointer = PayloadPointer("someone-elses-secrets", "payroll.csv")
    backend.send_raw("big", pointer.body(), {SIZE_ATTRIBUTE: 10})
    assert drain(registry, backend, "big", store) == []
    [reason] = reasons(backend, "big-dlq")
    assert reason is not None
    assert "s3://someone-elses-secrets/payroll.csv" in reason
    assert "MELANGE_LARGE_PAYLOAD_READ_BUCKETS" in reason


def test_a_dispatcher_without_a_store_dead_letters_a_pointer_saying_what_to_set(
    registry: SerializerRegistry, backend: InMemoryBackend, store: InMemoryPayloadStore
) -> None:
    """Nothing is acknowledged quietly: the reason names MELANGE_LARGE_PAYLOAD_BUCKET."""
    QueuePublisher(registry, backend, payloads=store).publish("big", {"b": LARGE})
    assert drain(registry, backend, "big", None) == []
    [reason] = reasons(backend, "big-dlq")
    assert reason is not None and "MELANGE_LARGE_PAYLOAD_BUCKET" in reason


def test_the_legacy_attribute_and_pointer_class_of_the_java_client_are_read(
    registry: SerializerRegistry, backend: InMemoryBackend, store: InMemoryPayloadStore
) -> None:
    """SQSLargePayloadSize and MessageS3Pointer, as the Java client writes by default."""
    store.put(PayloadPointer("payloads", "from-java"), '{"order": 7}')
    body = json.dumps([LEGACY_POINTER_CLASS, {"s3BucketName": "payloads", "s3Key": "from-java"}])
    backend.send_raw("big", body, {LEGACY_SIZE_ATTRIBUTE: 12})
    assert drain(registry, backend, "big", store) == [{"order": 7}]


def test_a_missing_bucket_stops_the_dispatcher_and_keeps_the_message(
    registry: SerializerRegistry, backend: InMemoryBackend, store: InMemoryPayloadStore
) -> None:
    """No such bucket is refused for good: fail fast, nothing acknowledged or moved."""
    QueuePublisher(registry, backend, payloads=store).publish("big", {"b": LARGE})
    store.remove_bucket("payloads")
    with pytest.raises(BackendRefusedError, match="does not exist"):
        drain(registry, backend, "big", store)
    assert backend.message_count("big") == 1
    assert backend.message_count("big-dlq") == 0


def test_a_send_that_is_refused_deletes_the_object_it_stored(
    registry: SerializerRegistry, backend: InMemoryBackend, store: InMemoryPayloadStore
) -> None:
    """A queue that does not exist sent nothing: the object is deleted, not orphaned."""
    with pytest.raises(QueueNotFoundError):
        QueuePublisher(registry, backend, payloads=store).publish("nowhere", {"b": LARGE})
    assert store.objects() == {}


def test_a_size_attribute_of_the_applications_own_is_refused() -> None:
    """ExtendedPayloadSize would make consumers look for a pointer: refused at publish."""
    registry = SerializerRegistry({"serializers": {"json": JsonSerializer}})
    backend = InMemoryBackend()
    backend.declare_queue("q")
    with pytest.raises(MessageAttributeError, match="marks a payload stored in S3"):
        QueuePublisher(registry, backend).publish("q", {"n": 1}, attributes={SIZE_ATTRIBUTE: 1})


def test_a_retried_publish_overwrites_its_own_object(
    registry: SerializerRegistry, backend: InMemoryBackend, store: InMemoryPayloadStore
) -> None:
    """The key is the message id: resending with message_id= leaves one object, not two."""
    publisher = QueuePublisher(registry, backend, payloads=store)
    message_id = publisher.publish("big", {"b": LARGE})
    publisher.publish("big", {"b": LARGE}, message_id=message_id)
    assert list(store.objects()) == [f"melange-payloads/big/{message_id}"]


def test_content_that_fits_stored_but_not_wrapped_for_a_queue_is_stored(
    registry: SerializerRegistry, backend: InMemoryBackend, store: InMemoryPayloadStore
) -> None:
    """Quotes double when the queue body escapes them: 0.8 MB stored is 1.6 MB inline."""
    quotes = '"' * 400_000
    QueuePublisher(registry, backend, payloads=store).publish("big", quotes)
    assert len(store.objects()) == 1
    assert drain(registry, backend, "big", store) == [quotes]


def test_publish_many_stores_only_the_entries_over_the_limit(
    registry: SerializerRegistry, backend: InMemoryBackend, store: InMemoryPayloadStore
) -> None:
    """One large item among small ones: one object, all delivered in order."""
    items = [{"n": 1}, {"b": LARGE}, {"n": 3}]
    QueuePublisher(registry, backend, payloads=store).publish_many("big", items)
    assert len(store.objects()) == 1
    assert drain(registry, backend, "big", store) == items


def test_the_received_attributes_do_not_show_the_size_attribute(
    registry: SerializerRegistry, backend: InMemoryBackend, store: InMemoryPayloadStore
) -> None:
    """Handlers see the attributes the publisher set, nothing of the claim check."""
    seen: list[ReceivedMessage] = []
    QueuePublisher(registry, backend, payloads=store).publish(
        "big", {"b": LARGE}, attributes={"tier": "gold"}
    )
    dispatcher = MessageDispatcher(
        registry,
        backend,
        consumers=[Consumer(on_message=lambda m: None, name="n")],
        payloads=store,
        after_consume=lambda message, received: seen.append(received),
    )
    dispatcher.process_available("big")
    [received] = seen
    assert SIZE_ATTRIBUTE not in received.attributes
    assert received.attributes["tier"] == "gold"
