"""Foreign messages through a real SQS/SNS server (moto, fauxqs): sent as other producers send.

Each body is sent with boto3 as another service sends it, without melange's attributes: a
``{"Message": ...}`` object to a queue and through a raw-delivery topic (read as sent),
an S3 event notification to a queue and through a topic as SNS notifies (structured into
a typed handler's class), an EventBridge event (validated as a pydantic model). And a
worker whose graph binds nothing reads what a publisher's graph, binding its class, sent.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

import attrs
import boto3
import pinject
import pytest

from melange import Consumer, MessageDispatcher, QueuePublisher, Subscription, consumer
from melange.app.application import Application
from melange.backends import LocalSQSBackend, SqsBackend
from melange.serializers import JsonSerializer, SerializerRegistry, TypedJsonSerializer
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
from tests.support.polling import poll_until
from tests.support.servers import ServerProcess

pytestmark = pytest.mark.integration

CREDENTIALS = {
    "region_name": "us-east-1",
    "aws_access_key_id": "melange-local",
    "aws_secret_access_key": "melange-local",
}


@pytest.fixture(name="server", params=["moto_server", "fauxqs_server"])
def fixture_server(request: pytest.FixtureRequest) -> ServerProcess:
    """Give the session's moto server, then its fauxqs server."""
    server: ServerProcess = request.getfixturevalue(request.param)
    return server


@pytest.fixture(name="backend")
def fixture_backend(server: ServerProcess) -> Iterator[SqsBackend]:
    """Give melange's SQS backend on the server."""
    backend = LocalSQSBackend(host=server.host, port=server.port)
    yield backend
    backend.close()


@attrs.frozen
class Aws:
    """boto3 clients on the server, sending as another producer does."""

    sqs: Any
    sns: Any

    def send(self, queue: str, body: str) -> None:
        """Send ``body`` to ``queue`` with no message attribute at all."""
        url = self.sqs.get_queue_url(QueueName=queue)["QueueUrl"]
        self.sqs.send_message(QueueUrl=url, MessageBody=body)

    def publish(self, topic: str, message: str) -> None:
        """Publish ``message`` to ``topic`` with no message attribute at all."""
        arn = self.sns.create_topic(Name=topic)["TopicArn"]  # idempotent: gives the ARN
        self.sns.publish(TopicArn=arn, Message=message)


@pytest.fixture(name="aws")
def fixture_aws(server: ServerProcess) -> Iterator[Aws]:
    """Give boto3 SQS and SNS clients on the server."""
    sqs = boto3.client("sqs", endpoint_url=server.endpoint_url, **CREDENTIALS)
    sns = boto3.client("sns", endpoint_url=server.endpoint_url, **CREDENTIALS)
    yield Aws(sqs, sns)
    sqs.close()
    sns.close()


def handle_until(
    dispatcher: MessageDispatcher, queue: str, seen: Sequence[Any], count: int
) -> None:
    """Run the dispatcher on what is visible until ``seen`` holds ``count`` messages."""
    poll_until(
        lambda: dispatcher.process_available(queue) + len(seen),
        lambda _: len(seen) >= count,
        message=f"{count} messages handled from {queue}",
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


def graph_registry() -> SerializerRegistry:
    """Return a registry like a graph's: json (the default) and typed_json."""
    return SerializerRegistry(
        {
            "serializers": {"json": JsonSerializer, "typed_json": TypedJsonSerializer},
            "default": "json",
        }
    )


def test_a_foreign_message_object_is_handled_as_sent_from_a_queue_and_a_raw_topic(
    backend: SqsBackend, aws: Aws, unique: str
) -> None:
    """{"Message": ...} without melange's attributes is never unwrapped, on either route."""
    queue, raw, topic = f"{unique}-q", f"{unique}-raw", f"{unique}-events"
    backend.declare_queue(queue)
    backend.declare_queue(raw, topics=[topic], raw_message_delivery=True)
    bodies = ['{"Message": "{\\"a\\":1}"}', '{"Message": "hello"}']
    for body in bodies:
        aws.send(queue, body)
        aws.publish(topic, body)
    seen: dict[str, list[Any]] = {queue: [], raw: []}

    for name in (queue, raw):
        handler = Consumer(on_message=seen[name].append)
        dispatcher = MessageDispatcher(json_registry(), backend, consumers=[handler])
        handle_until(dispatcher, name, seen[name], 2)
        assert dispatcher.stats.dead_lettered == 0

    expected = sorted(map(json.dumps, map(json.loads, bodies)))
    assert {name: sorted(map(json.dumps, got)) for name, got in seen.items()} == {
        queue: expected,
        raw: expected,
    }


def test_s3_notifications_reach_a_typed_handler_from_a_queue_and_through_sns(
    backend: SqsBackend, aws: Aws, unique: str
) -> None:
    """S3's JSON sent to a queue, and published to a topic as SNS notifies, is structured."""
    direct, notified, topic = f"{unique}-direct", f"{unique}-notified", f"{unique}-s3"
    backend.declare_queue(direct)
    backend.declare_queue(notified, topics=[topic])  # raw delivery off: SNS notifications
    aws.send(direct, S3_TEST_EVENT)
    aws.send(direct, s3_put_notification(bucket="uploads", key="photos/red+flower.jpg"))
    aws.publish(topic, s3_put_notification(bucket="archive", key="2026/report.pdf"))

    uploads = Uploads()
    dispatcher = MessageDispatcher(
        graph_registry(), backend, consumers=[uploads], foreign=read_s3_message
    )
    handle_until(dispatcher, direct, uploads.seen, 2)
    by_class = MessageDispatcher(
        graph_registry(), backend, consumers=[uploads], foreign=S3EventNotification
    )
    handle_until(by_class, notified, uploads.seen, 3)

    assert sorted(uploads.seen) == [
        "ObjectCreated:Put archive/2026/report.pdf",
        "ObjectCreated:Put uploads/photos/red+flower.jpg",
        "test event for uploads",
    ]


def test_an_eventbridge_event_reaches_a_pydantic_handler(
    backend: SqsBackend, aws: Aws, unique: str
) -> None:
    """An EventBridge event as its SQS target receives it is validated as the model named."""
    queue = f"{unique}-instances"
    backend.declare_queue(queue)
    aws.send(queue, EC2_STATE_CHANGE)
    seen: list[InstanceStateChange] = []

    class Instances(Consumer):
        @consumer
        def on_change(self, event: InstanceStateChange) -> None:
            seen.append(event)

    dispatcher = MessageDispatcher(
        json_registry(), backend, consumers=[Instances()], foreign=InstanceStateChange
    )
    handle_until(dispatcher, queue, seen, 1)

    assert [(e.detail_type, e.detail.instance_id, e.detail.state) for e in seen] == [
        ("EC2 Instance State-change Notification", "i-1234567890abcdef0", "terminated")
    ]


@attrs.frozen
class TicketReserved:
    """A message class the publisher's graph binds and the worker's does not."""

    ticket: int


class Tickets(Consumer):
    """Records reserved tickets from queue 'tickets'."""

    subscription = Subscription("tickets", dead_letter_queue="tickets-dlq")

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[TicketReserved] = []

    @consumer
    def on_reserved(self, event: TicketReserved) -> None:
        self.seen.append(event)


class PublisherSpec(pinject.BindingSpec):
    """The publisher's graph binds TicketReserved to typed JSON."""

    def provide_melange_serializer_bindings(self) -> dict[type, str]:
        """TicketReserved travels as typed JSON."""
        return {TicketReserved: "typed_json"}


class WorkerSpec(pinject.BindingSpec):
    """The worker's graph has the consumer and no bindings."""

    def __init__(self, tickets: Tickets) -> None:
        self._tickets = tickets

    def provide_melange_consumers(self) -> list[Consumer]:
        """The one consumer."""
        return [self._tickets]


def test_a_worker_reads_a_class_only_the_publishers_graph_binds(
    server: ServerProcess, unique: str
) -> None:
    """Publish on one graph, consume on another: the handler's annotation is enough."""
    environ = {
        "MELANGE_BACKEND": "local",
        "MELANGE_ENDPOINT_URL": server.endpoint_url,
        "MELANGE_PREFIX": f"{unique}-",
    }
    tickets = Tickets()
    worker_graph = new_object_graph(
        binding_specs=[WorkerSpec(tickets)], melange=MelangeBindingSpec(environ=environ)
    )
    publisher_graph = new_object_graph(
        binding_specs=[PublisherSpec()], melange=MelangeBindingSpec(environ=environ)
    )
    app = worker_graph.provide(Application)
    app.declare()
    try:
        publisher_graph.provide(QueuePublisher).publish("tickets", TicketReserved(5))
        [(queue, dispatcher)] = app.worker().queues
        handle_until(dispatcher, queue, tickets.seen, 1)
    finally:
        app.backend.close()
        publisher_graph.provide(QueuePublisher).backend.close()

    assert tickets.seen == [TicketReserved(5)]
    assert dispatcher.stats.dead_lettered == 0
