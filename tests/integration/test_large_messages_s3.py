"""Large messages through S3 on moto and fauxqs, on both halves, from the application's graph.

The graph is built from ``MELANGE_*`` settings alone (``MELANGE_BACKEND=local`` and
``MELANGE_LARGE_PAYLOAD_BUCKET``): its publishers store what is over the limit in S3 on
the emulator's endpoint and its dispatcher factories read it back, the threaded ones
with boto3 and the asyncio ones with aiobotocore. The faults no emulator produces (S3
that stops answering) go through the loopback ``BlackHoleProxy``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import attrs
import boto3
import pytest
from aiobotocore.session import AioSession

from melange import Consumer, MessageDispatcher, QueuePublisher, TopicPublisher
from melange.aio import AsyncMessageDispatcher, AsyncQueuePublisher, AsyncTopicPublisher
from melange.app.aio_worker import AsyncDispatcherFactory
from melange.app.application import DispatcherFactory
from melange.backends import MessagingBackend
from melange.backends.aio_protocol import AsyncMessagingBackend
from melange.backends.inspection import inspection_of
from melange.backends.sqs.options import Endpoints, RetryBudget, Timeouts, worst_case_seconds
from melange.consuming.dead_letters import dead_letter_reason
from melange.exceptions import BackendRefusedError
from melange.payloads import LargePayloads, PayloadPointer
from melange.payloads.factory import PayloadStores
from melange.payloads.s3 import AsyncS3PayloadStore, S3PayloadStore
from melange.serializers import SerializerRegistry
from melange.settings import MelangeSettings, load_settings
from melange.wire.claim_check import SIZE_ATTRIBUTE, claim_check
from melange_bindings import MelangeBindingSpec, ObjectGraph, new_object_graph
from tests.support.blocking import EventLoopThread
from tests.support.halves import HALVES, Half
from tests.support.loopback import BlackHoleProxy
from tests.support.polling import poll_until
from tests.support.servers import ServerProcess

pytestmark = pytest.mark.integration

#: Twice SQS's 1 MiB, and eight times SNS's 256 KiB.
BIG = "x" * (2 * 1024 * 1024)
LOCAL_KEYS = {"aws_access_key_id": "melange-local", "aws_secret_access_key": "melange-local"}


@pytest.fixture(name="server", params=["moto", "fauxqs"])
def fixture_server(request: pytest.FixtureRequest) -> ServerProcess:
    """Give the session's moto or fauxqs server (each serves SQS, SNS and S3 on one port)."""
    server: ServerProcess = request.getfixturevalue(f"{request.param}_server")
    return server


@pytest.fixture(name="half", params=HALVES)
def fixture_half(request: pytest.FixtureRequest) -> Half:
    """Run the test on the threaded publishers and dispatcher, then on the asyncio ones."""
    half: Half = request.param
    return half


def s3_client(server: ServerProcess) -> Any:
    """Return a plain boto3 S3 client on the server, to look at and break the bucket."""
    return boto3.client(
        "s3",
        endpoint_url=server.endpoint_url,
        region_name="us-east-1",
        config=boto3.session.Config(s3={"addressing_style": "path"}),
        **LOCAL_KEYS,
    )


@attrs.define
class Large:
    """An application's graph on an emulator with a payload bucket, on one half.

    Attributes:
        graph: built from ``MELANGE_*`` settings alone.
        settings: those settings.
        backend: the graph's sync backend (prefixed), to declare and inspect queues.
        s3: a plain S3 client on the emulator.
        bucket: the payload bucket, declared by the graph's payload store.
        half: threads or asyncio.
        loop: the event loop the asyncio half's objects live on.
    """

    graph: ObjectGraph
    settings: MelangeSettings
    backend: MessagingBackend
    s3: Any
    bucket: str
    half: Half
    loop: EventLoopThread

    def publish(self, queue: str, data: object) -> str:
        """Publish ``data`` to ``queue`` with the graph's publisher of the half."""
        if self.half == "threads":
            return self.graph.provide(QueuePublisher).publish(queue, data)
        publisher = self.graph.provide(AsyncQueuePublisher)
        return self.loop.call(publisher.publish(queue, data))

    def publish_to_topic(self, topic: str, data: object) -> str:
        """Publish ``data`` to ``topic`` with the graph's topic publisher of the half."""
        if self.half == "threads":
            return self.graph.provide(TopicPublisher).publish(topic, data)
        publisher = self.graph.provide(AsyncTopicPublisher)
        return self.loop.call(publisher.publish(topic, data))

    def dispatcher(self, handled: list[Any], **options: Any) -> Any:
        """Return the half's dispatcher from the graph's factory, recording what it handles."""
        consumer = Consumer(on_message=handled.append, name="recorder")
        factory: DispatcherFactory | AsyncDispatcherFactory
        if self.half == "threads":
            factory = self.graph.provide(DispatcherFactory)
        else:
            factory = self.graph.provide(AsyncDispatcherFactory)
        return factory(consumer, options=attrs.evolve(factory.options, **options))

    def drain(self, queue: str, **options: Any) -> list[Any]:
        """Handle what is on ``queue`` now; return what the handler got."""
        handled: list[Any] = []
        dispatcher = self.dispatcher(handled, **options)
        if self.half == "threads":
            dispatcher.process_available(queue)
        else:
            self.loop.call(dispatcher.process_available(queue))
        return handled

    def keys(self) -> list[str]:
        """Return the keys of the payload bucket's objects."""
        listed = self.s3.list_objects_v2(Bucket=self.bucket)
        return [item["Key"] for item in listed.get("Contents", [])]

    def remove_bucket(self) -> None:
        """Delete every object of the bucket, then the bucket."""
        for key in self.keys():
            self.s3.delete_object(Bucket=self.bucket, Key=key)
        self.s3.delete_bucket(Bucket=self.bucket)


def local_settings(server: ServerProcess, unique: str, **more: str) -> MelangeSettings:
    """Return the settings reaching ``server`` under a unique prefix, with a payload bucket."""
    return load_settings(
        environ={
            "MELANGE_BACKEND": "local",
            "MELANGE_ENDPOINT_URL": server.endpoint_url,
            "MELANGE_PREFIX": f"{unique}-",
            "MELANGE_LARGE_PAYLOAD_BUCKET": f"{unique}-payloads",
            **more,
        }
    )


@pytest.fixture(name="large")
def fixture_large(
    server: ServerProcess, half: Half, unique: str, event_loop_thread: EventLoopThread
) -> Iterator[Large]:
    """Give the graph with its bucket declared; close every client afterwards."""
    settings = local_settings(server, unique)
    graph = new_object_graph(melange=MelangeBindingSpec(settings=settings))
    store = graph.provide(PayloadStores).store()
    assert isinstance(store, S3PayloadStore)
    store.declare()
    s3 = s3_client(server)
    backend: MessagingBackend = graph.provide(MessagingBackend)
    yield Large(graph, settings, backend, s3, f"{unique}-payloads", half, event_loop_thread)
    if half == "asyncio":
        event_loop_thread.call(graph.provide(AsyncDispatcherFactory).close())
    store.close()
    backend.close()
    s3.close()


def test_a_2_mib_message_to_a_queue_is_read_back_and_its_object_deleted_after_the_ack(
    large: Large,
) -> None:
    """The queue holds the pointer, the handler the object; a queue consumed once deletes it."""
    large.backend.declare_queue("big")
    message_id = large.publish("big", {"blob": BIG})
    [key] = large.keys()
    assert key == f"melange-payloads/big/{message_id}"

    assert large.drain("big", delete_payloads=True) == [{"blob": BIG}]

    assert poll_until(large.keys, lambda keys: keys == [], timeout=10) == []
    assert inspection_of(large.backend).queue_stats("big").total == 0


@pytest.mark.parametrize("raw", [True, False], ids=["raw", "enveloped"])
def test_a_2_mib_message_to_a_topic_reaches_its_queue_and_the_object_stays(
    large: Large, raw: bool
) -> None:
    """Raw delivery on and off: read back; a topic's queue leaves the object to expire."""
    large.backend.declare_topic("events")
    large.backend.declare_queue("fan", topics=["events"], raw_message_delivery=raw)

    large.publish_to_topic("events", {"blob": BIG})
    handled = poll_until(lambda: large.drain("fan"), bool, timeout=10, message="delivery")

    assert handled == [{"blob": BIG}]
    assert len(large.keys()) == 1  # the topic's other subscribers may still need it


def test_a_missing_object_is_dead_lettered_with_a_reason_naming_bucket_and_key(
    large: Large,
) -> None:
    """Expired or deleted: the message goes to the dead-letter queue, its pointer kept."""
    large.backend.declare_queue("big", dead_letter_queue="big-dlq")
    large.publish("big", {"blob": BIG})
    [key] = large.keys()
    large.s3.delete_object(Bucket=large.bucket, Key=key)

    assert large.drain("big") == []

    [dead] = large.backend.receive("big-dlq", wait_time_seconds=1)
    reason = dead_letter_reason(dead.attributes)
    assert reason is not None
    assert f"s3://{large.bucket}/{key} does not exist" in reason
    check = claim_check(dead)
    assert check is not None and check.pointer == PayloadPointer(large.bucket, key)


def test_a_missing_bucket_stops_the_dispatcher_and_the_message_stays(large: Large) -> None:
    """No such bucket is refused for good: the dispatcher raises, nothing is acked or moved."""
    large.backend.declare_queue("big", dead_letter_queue="big-dlq")
    large.publish("big", {"blob": BIG})
    large.remove_bucket()

    with pytest.raises(BackendRefusedError, match="MELANGE_LARGE_PAYLOAD_BUCKET") as refused:
        large.drain("big")

    assert refused.value.code == "NoSuchBucket"
    assert "python -m melange declare TARGET" in str(refused.value)
    inspection = inspection_of(large.backend)
    assert inspection.queue_stats("big").total == 1
    assert inspection.queue_stats("big-dlq").total == 0


def test_the_size_attribute_and_melanges_attributes_travel_on_the_pointer(large: Large) -> None:
    """ExtendedPayloadSize gives the stored size; message_id stays for routing and logs."""
    large.backend.declare_queue("big")
    message_id = large.publish("big", {"blob": BIG})

    [received] = large.backend.receive("big", wait_time_seconds=1)

    stored = large.s3.get_object(Bucket=large.bucket, Key=large.keys()[0])["Body"].read()
    assert received.attributes[SIZE_ATTRIBUTE] == len(stored)
    assert received.attributes["message_id"] == message_id


def test_a_black_holed_s3_is_a_bounded_wait_then_a_retry(
    server: ServerProcess, half: Half, unique: str, event_loop_thread: EventLoopThread
) -> None:
    """S3 stops answering mid-consume: the read gives up within its bound, the message retries."""
    settings = local_settings(server, unique)
    graph = new_object_graph(melange=MelangeBindingSpec(settings=settings))
    backend: MessagingBackend = graph.provide(MessagingBackend)
    store = graph.provide(PayloadStores).store()
    assert isinstance(store, S3PayloadStore)
    store.declare()
    backend.declare_queue("big", dead_letter_queue="big-dlq")
    graph.provide(QueuePublisher).publish("big", {"blob": BIG})
    timeouts, retries = Timeouts(publish_connect=1.0, publish_read=1.0), RetryBudget(2)
    bound = worst_case_seconds(1.0, 1.0, 2)  # 2 x (1 + 1) + 1 = 5 s
    handled: list[Any] = []
    consumer = Consumer(on_message=handled.append, name="recorder")
    registry = graph.provide(SerializerRegistry)
    payloads = LargePayloads(bucket=f"{unique}-payloads")

    with BlackHoleProxy((server.host, server.port)) as proxy:
        endpoints = Endpoints(region="us-east-1", s3_url=f"http://127.0.0.1:{proxy.port}")
        proxy.black_hole()
        started = time.monotonic()
        if half == "threads":
            slow = S3PayloadStore(
                payloads,
                session=boto3.Session(**LOCAL_KEYS),
                endpoints=endpoints,
                timeouts=timeouts,
                retries=retries,
            )
            dispatcher: Any = MessageDispatcher(
                registry, backend, consumers=[consumer], payloads=slow
            )
            dispatcher.process_available("big")
        else:
            session = AioSession()
            session.set_credentials(LOCAL_KEYS["aws_access_key_id"], "melange-local")
            aslow = AsyncS3PayloadStore(
                payloads, session=session, endpoints=endpoints, timeouts=timeouts, retries=retries
            )
            async_backend: AsyncMessagingBackend = graph.provide(AsyncMessagingBackend)
            dispatcher = AsyncMessageDispatcher(
                registry, async_backend, consumers=[consumer], payloads=aslow
            )
            event_loop_thread.call(dispatcher.process_available("big"))
            event_loop_thread.call(aslow.close())
            event_loop_thread.call(async_backend.close())
        elapsed = time.monotonic() - started
        assert proxy.swallowed_request(b"GET /")  # the GetObject reached the black hole

    assert elapsed < bound + 3
    assert (dispatcher.stats.retried, dispatcher.stats.dead_lettered, handled) == (1, 0, [])
    assert inspection_of(backend).queue_stats("big").total == 1
    store.close()
    backend.close()


def test_an_object_that_is_not_text_is_dead_lettered(large: Large) -> None:
    """Another producer's binary object: dead-lettered with the reason, the worker unharmed."""
    large.backend.declare_queue("big", dead_letter_queue="big-dlq")
    pointer = PayloadPointer(large.bucket, "theirs/blob")
    large.s3.put_object(Bucket=large.bucket, Key=pointer.key, Body=b"\xff\xfe\x00binary")
    large.backend.send_raw("big", pointer.body(), {SIZE_ATTRIBUTE: 9})

    assert large.drain("big") == []

    [dead] = large.backend.receive("big-dlq", wait_time_seconds=1)
    reason = dead_letter_reason(dead.attributes)
    assert reason is not None
    assert reason.startswith(f"MalformedMessageError: the payload at {pointer} is not UTF-8")
