"""Large messages between melange and AWS's own extended clients, both ways, through S3.

AWS's Python ``amazon-sqs-extended-client`` and ``amazon-sns-extended-client`` (the
packages from PyPI, unchanged) send large messages that melange's dispatchers read, on a
queue and through a topic with raw delivery on and off; AWS's SQS extended client reads
the large messages melange's publishers send, to a queue and through a raw-delivery
topic; and a message in the Java client's default format, built by hand, reaches melange.
Every cell of the docs' interoperability table (docs/large-messages.md) names its test
here; tests/docs/test_large_messages_interop.py checks that each one exists.

The servers are the session's moto and fauxqs, each serving SQS, SNS and S3 on one
endpoint. AWS's SQS extended client cannot delete a message on fauxqs: it recovers the
receipt handle it rewrote by splitting on ``-`` (``get_original_receipt_handle``), and
fauxqs's handles are UUIDs, so the cells where AWS's client deletes run on moto, whose
handles, like SQS's, hold no ``-``.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, ClassVar, Literal

import attrs
import boto3
import pytest
from aiobotocore.session import AioSession

from melange import Consumer, MessageDispatcher, QueuePublisher, TopicPublisher
from melange.aio import AsyncMessageDispatcher
from melange.backends import LocalSQSBackend, SqsBackend
from melange.backends.sqs.aio import AsyncLocalSQSBackend
from melange.backends.sqs.options import Endpoints
from melange.payloads import LargePayloads
from melange.payloads.s3 import AsyncS3PayloadStore, S3PayloadStore
from melange.serializers import Serializer, SerializerRegistry
from melange.wire.claim_check import (
    LEGACY_POINTER_CLASS,
    LEGACY_SIZE_ATTRIBUTE,
    POINTER_CLASS,
    SIZE_ATTRIBUTE,
)
from tests.support.extended_clients import (
    CREDENTIALS,
    extended_sns_client,
    extended_sqs_client,
)
from tests.support.messaging import json_registry
from tests.support.servers import ServerProcess

pytestmark = pytest.mark.integration

Half = Literal["threads", "asyncio"]
#: Over the 256 KiB above which AWS's extended clients store a body in S3.
AWS_LARGE = 300 * 1024
#: Over SQS's 1 MiB, above which melange's QueuePublisher stores a body in S3.
MELANGE_LARGE = 1024 * 1024 + 1024


def large_document(size: int, kind: str) -> dict[str, Any]:
    """Return a JSON object of about ``size`` bytes, quotes and escapes included."""
    rows = [{"n": i, "note": 'a "quoted" row\n'} for i in range(size // 32)]
    return {"kind": kind, "rows": rows}


class TextSerializer(Serializer):
    """Reads a message's text as it is: how an application reads plain-text bodies."""

    identifier: ClassVar[int] = 77

    def manifest(self, data: Any) -> str:
        """Return ``"text"``."""
        return "text"

    def serialize(self, data: Any) -> str:
        """Return ``data``, a ``str``."""
        return str(data)

    def deserialize(self, data: str, manifest: str | None = None) -> Any:
        """Return the text."""
        return data


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
class Bucket:
    """An S3 bucket on the server, looked at with a plain boto3 client."""

    name: str
    s3: Any

    def keys(self) -> list[str]:
        """Return the keys of the objects in the bucket."""
        found = self.s3.list_objects_v2(Bucket=self.name).get("Contents", [])
        return sorted(item["Key"] for item in found)

    def text(self, key: str) -> str:
        """Return an object's content as text."""
        body = self.s3.get_object(Bucket=self.name, Key=key)["Body"]
        return str(body.read().decode())


@pytest.fixture(name="bucket")
def fixture_bucket(server: ServerProcess, unique: str) -> Iterator[Bucket]:
    """Give a new bucket on the server, shared by melange and AWS's clients."""
    s3 = boto3.client("s3", endpoint_url=server.endpoint_url, **CREDENTIALS)
    name = f"{unique}-payloads"
    s3.create_bucket(Bucket=name)
    yield Bucket(name, s3)
    s3.close()


@pytest.fixture(name="plain_sqs")
def fixture_plain_sqs(server: ServerProcess) -> Iterator[Any]:
    """Give a plain boto3 SQS client, to see what a queue holds as it is on the wire."""
    client = boto3.client("sqs", endpoint_url=server.endpoint_url, **CREDENTIALS)
    yield client
    client.close()


@pytest.fixture(name="publisher_store")
def fixture_publisher_store(server: ServerProcess) -> Iterator[Callable[..., S3PayloadStore]]:
    """Give a maker of melange's S3 stores on the server (for publishers), closed after."""
    made: list[S3PayloadStore] = []

    def make(settings: LargePayloads) -> S3PayloadStore:
        made.append(sync_store(server, settings))
        return made[-1]

    yield make
    for store in made:
        store.close()


def payload_settings(bucket: Bucket, **options: Any) -> LargePayloads:
    """Return melange's large-payload settings on the test's bucket."""
    return LargePayloads(bucket=bucket.name, **options)


def sync_store(server: ServerProcess, settings: LargePayloads) -> S3PayloadStore:
    """Return melange's S3 payload store (threads) on the server."""
    session = boto3.Session(
        aws_access_key_id=CREDENTIALS["aws_access_key_id"],
        aws_secret_access_key=CREDENTIALS["aws_secret_access_key"],
    )
    return S3PayloadStore(
        settings, session=session, endpoints=Endpoints.local(server.host, server.port)
    )


def async_store(server: ServerProcess, settings: LargePayloads) -> AsyncS3PayloadStore:
    """Return melange's S3 payload store (asyncio, aiobotocore) on the server."""
    session = AioSession()
    session.set_credentials(CREDENTIALS["aws_access_key_id"], CREDENTIALS["aws_secret_access_key"])
    return AsyncS3PayloadStore(
        settings, session=session, endpoints=Endpoints.local(server.host, server.port)
    )


def consume(
    half: Half,
    server: ServerProcess,
    queue: str,
    count: int,
    settings: LargePayloads,
    *,
    registry: SerializerRegistry | None = None,
    delete_payloads: bool = False,
) -> tuple[list[Any], int]:
    """Handle ``count`` messages of ``queue`` with melange on ``half``; return them, dead letters.

    Fails unless ``count`` are handled within 20 s.
    """
    registry = registry or json_registry()
    handled: list[Any] = []
    recorder = Consumer(on_message=handled.append, name="recorder")
    deadline = time.monotonic() + 20
    if half == "threads":
        backend = LocalSQSBackend(host=server.host, port=server.port)
        store = sync_store(server, settings)
        try:
            dispatcher = MessageDispatcher(
                registry,
                backend,
                consumers=[recorder],
                payloads=store,
                delete_payloads=delete_payloads,
            )
            while len(handled) < count and time.monotonic() < deadline:
                dispatcher.process_available(queue)
            dead = dispatcher.stats.dead_lettered
        finally:
            store.close()
            backend.close()
    else:

        async def run() -> int:
            store = async_store(server, settings)
            async with AsyncLocalSQSBackend(host=server.host, port=server.port) as backend:
                dispatcher = AsyncMessageDispatcher(
                    registry,
                    backend,
                    consumers=[recorder],
                    payloads=store,
                    delete_payloads=delete_payloads,
                )
                while len(handled) < count and time.monotonic() < deadline:
                    await dispatcher.process_available(queue)
                await store.close()
                return dispatcher.stats.dead_lettered

        dead = asyncio.run(run())
    assert len(handled) == count, f"{len(handled)} of {count} handled from {queue}"
    return handled, dead


def queue_url(client: Any, queue: str) -> str:
    """Return the URL of ``queue``."""
    return str(client.get_queue_url(QueueName=queue)["QueueUrl"])


def receive_one(client: Any, queue: str) -> dict[str, Any]:
    """Receive one message of ``queue`` with ``client`` (AWS's or plain), waiting up to 5 s."""
    url = queue_url(client, queue)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        response = client.receive_message(
            QueueUrl=url, MessageAttributeNames=["All"], WaitTimeSeconds=1
        )
        if response.get("Messages"):
            message: dict[str, Any] = response["Messages"][0]
            return message
    raise AssertionError(f"no message on {queue} within 5 s")


def peek(client: Any, queue: str) -> dict[str, Any]:
    """Receive one message of ``queue`` and make it visible again at once."""
    message = receive_one(client, queue)
    client.change_message_visibility(
        QueueUrl=queue_url(client, queue),
        ReceiptHandle=message["ReceiptHandle"],
        VisibilityTimeout=0,
    )
    return message


def depth(client: Any, queue: str) -> tuple[int, int]:
    """Return how many messages ``queue`` holds: visible, and in flight."""
    attributes = client.get_queue_attributes(
        QueueUrl=queue_url(client, queue),
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return (
        int(attributes["ApproximateNumberOfMessages"]),
        int(attributes["ApproximateNumberOfMessagesNotVisible"]),
    )


def pointer(body: str) -> tuple[str, str, str]:
    """Return the pointer class, bucket and key of a claim check's body."""
    kind, where = json.loads(body)
    return kind, where["s3BucketName"], where["s3Key"]


# -- AWS's clients write, melange reads ------------------------------------------------


@pytest.mark.parametrize("half", ["threads", "asyncio"])
def test_aws_sqs_client_large_json_reaches_melange(
    half: Half, server: ServerProcess, backend: SqsBackend, bucket: Bucket, unique: str
) -> None:
    """A body over 256 KiB, and a small one sent always through S3, reach melange's handler."""
    queue = f"{unique}-orders"
    backend.declare_queue(queue)
    large, small = large_document(AWS_LARGE, "large"), {"kind": "small"}
    aws = extended_sqs_client(server.endpoint_url, bucket.name)
    always = extended_sqs_client(server.endpoint_url, bucket.name, always_through_s3=True)
    aws.send_message(QueueUrl=queue_url(aws, queue), MessageBody=json.dumps(large))
    always.send_message(QueueUrl=queue_url(always, queue), MessageBody=json.dumps(small))
    assert len(bucket.keys()) == 2

    handled, dead = consume(half, server, queue, 2, payload_settings(bucket), delete_payloads=True)

    assert sorted(handled, key=lambda m: m["kind"]) == [large, small]
    assert dead == 0
    assert bucket.keys() == []  # a queue no topic feeds: deleted once acknowledged
    assert depth(backend.sqs_client, queue) == (0, 0)


@pytest.mark.parametrize("half", ["threads", "asyncio"])
def test_aws_sqs_client_large_text_reaches_melange_as_text(
    half: Half, server: ServerProcess, backend: SqsBackend, bucket: Bucket, unique: str
) -> None:
    """A plain-text body over 256 KiB reaches a handler as the text AWS's client sent."""
    queue = f"{unique}-lines"
    backend.declare_queue(queue)
    text = "line of plain text, not JSON\n" * (AWS_LARGE // 29 + 1)
    aws = extended_sqs_client(server.endpoint_url, bucket.name)
    aws.send_message(QueueUrl=queue_url(aws, queue), MessageBody=text)
    registry = SerializerRegistry({"serializers": {"text": TextSerializer}})

    handled, dead = consume(half, server, queue, 1, payload_settings(bucket), registry=registry)

    assert handled == [text]
    assert dead == 0


def test_with_raw_delivery_off_the_pointer_is_the_notification_s_message(
    server: ServerProcess, backend: SqsBackend, bucket: Bucket, plain_sqs: Any, unique: str
) -> None:
    """SNS delivers AWS's pointer as the notification's Message, its size among its attributes.

    With raw delivery on, the queue holds the pointer as its body and the size as a
    message attribute, as a direct send to the queue does.
    """
    topic, raw, enveloped = f"{unique}-events", f"{unique}-raw", f"{unique}-enveloped"
    backend.declare_queue(raw, topics=[topic], raw_message_delivery=True)
    backend.declare_queue(enveloped, topics=[topic])
    document = json.dumps(large_document(AWS_LARGE, "published"))
    aws = extended_sns_client(server.endpoint_url, bucket.name)
    aws.publish(TopicArn=aws.create_topic(Name=topic)["TopicArn"], Message=document)
    [key] = bucket.keys()
    size = len(document.encode())

    raw_message = peek(plain_sqs, raw)
    assert pointer(raw_message["Body"]) == (POINTER_CLASS, bucket.name, key)
    assert raw_message["MessageAttributes"] == {
        SIZE_ATTRIBUTE: {"DataType": "Number", "StringValue": str(size)}
    }
    notification_message = peek(plain_sqs, enveloped)
    assert "MessageAttributes" not in notification_message  # all of it is in the body
    notification = json.loads(notification_message["Body"])
    assert notification["Type"] == "Notification"
    assert pointer(notification["Message"]) == (POINTER_CLASS, bucket.name, key)
    assert notification["MessageAttributes"] == {
        SIZE_ATTRIBUTE: {"Type": "Number", "Value": str(size)}
    }
    assert bucket.text(key) == document
    # AWS's SQS client looks for the size among the SQS message's attributes only: it
    # hands over the notification, pointer inside, which is why raw delivery is asked for.
    aws_sqs = extended_sqs_client(server.endpoint_url, bucket.name, delete_payload_from_s3=False)
    seen_by_aws = json.loads(receive_one(aws_sqs, enveloped)["Body"])
    assert pointer(seen_by_aws["Message"]) == (POINTER_CLASS, bucket.name, key)


@pytest.mark.parametrize("half", ["threads", "asyncio"])
def test_aws_sns_client_large_message_reaches_melange_with_raw_delivery_on_and_off(
    half: Half, server: ServerProcess, backend: SqsBackend, bucket: Bucket, unique: str
) -> None:
    """Through a topic, both subscribers read the payload; the object stays for the others."""
    topic, raw, enveloped = f"{unique}-events", f"{unique}-raw", f"{unique}-enveloped"
    backend.declare_queue(raw, topics=[topic], raw_message_delivery=True)
    backend.declare_queue(enveloped, topics=[topic])
    large, small = large_document(AWS_LARGE, "large"), {"kind": "small"}
    aws = extended_sns_client(server.endpoint_url, bucket.name)
    always = extended_sns_client(server.endpoint_url, bucket.name, always_through_s3=True)
    arn = aws.create_topic(Name=topic)["TopicArn"]
    aws.publish(TopicArn=arn, Message=json.dumps(large))
    always.publish(TopicArn=arn, Message=json.dumps(small))
    keys = bucket.keys()
    assert len(keys) == 2

    for queue in (raw, enveloped):
        handled, dead = consume(half, server, queue, 2, payload_settings(bucket))
        assert sorted(handled, key=lambda m: m["kind"]) == [large, small], queue
        assert dead == 0
    assert bucket.keys() == keys  # a topic's: left to the bucket's lifecycle rule


# -- a message in the Java client's format, built by hand --------------------------------


def java_pointer(pointer_class: str, bucket: str, key: str) -> str:
    """Return a pointer as the Java client writes it: Jackson's class-wrapped array, compact."""
    return f'["{pointer_class}",{{"s3BucketName":"{bucket}","s3Key":"{key}"}}]'


@pytest.mark.parametrize(
    "pointer_class",
    [POINTER_CLASS, LEGACY_POINTER_CLASS],
    ids=["java-1.1-and-2.x-default", "java-1.0"],
)
@pytest.mark.parametrize("half", ["threads", "asyncio"])
def test_java_client_default_format_reaches_melange(
    half: Half,
    pointer_class: str,
    server: ServerProcess,
    backend: SqsBackend,
    bucket: Bucket,
    plain_sqs: Any,
    unique: str,
) -> None:
    """SQSLargePayloadSize and either pointer class, as Java's clients write by default, is read.

    amazon-sqs-java-extended-client-lib 1.1.0 and later (2.x included) write
    ``SQSLargePayloadSize`` unless configured ``withLegacyReservedAttributeNameDisabled()``,
    and the pointer class of payloadoffloading-common; 1.0.x wrote its own
    ``MessageS3Pointer``. The object's key is a bare UUID, as theirs are.
    """
    queue = f"{unique}-java"
    backend.declare_queue(queue)
    document = json.dumps(large_document(AWS_LARGE, "from java"))
    key = str(uuid.uuid4())
    bucket.s3.put_object(Bucket=bucket.name, Key=key, Body=document.encode())
    plain_sqs.send_message(
        QueueUrl=queue_url(plain_sqs, queue),
        MessageBody=java_pointer(pointer_class, bucket.name, key),
        MessageAttributes={
            LEGACY_SIZE_ATTRIBUTE: {"DataType": "Number", "StringValue": str(len(document))}
        },
    )

    handled, dead = consume(half, server, queue, 1, payload_settings(bucket), delete_payloads=True)

    assert handled == [json.loads(document)]
    assert dead == 0
    assert bucket.keys() == []


# -- melange writes, AWS's clients read -------------------------------------------------


def test_melange_writes_extended_payload_size_and_the_current_pointer_class(
    backend: SqsBackend,
    bucket: Bucket,
    plain_sqs: Any,
    publisher_store: Callable[..., S3PayloadStore],
    unique: str,
) -> None:
    """On the wire, a QueuePublisher's large message is AWS's pointer and ExtendedPayloadSize.

    The object holds the body the message would have had inline, and melange's own
    attributes travel beside the size.
    """
    queue = f"{unique}-orders"
    backend.declare_queue(queue)
    document = large_document(MELANGE_LARGE, "from melange")
    publisher = QueuePublisher(
        json_registry(), backend, payloads=publisher_store(payload_settings(bucket))
    )
    message_id = publisher.publish(queue, document)

    message = peek(plain_sqs, queue)
    [key] = bucket.keys()
    assert key == f"melange-payloads/{queue}/{message_id}"
    assert pointer(message["Body"]) == (POINTER_CLASS, bucket.name, key)
    stored = bucket.text(key)
    assert json.loads(stored) == document  # the content itself, not melange's queue wrapper
    attributes = message["MessageAttributes"]
    assert attributes[SIZE_ATTRIBUTE] == {
        "DataType": "Number",
        "StringValue": str(len(stored.encode())),
    }
    assert LEGACY_SIZE_ATTRIBUTE not in attributes
    assert attributes["message_id"]["StringValue"] == message_id
    assert attributes["manifest"]["StringValue"] == "json"


#: AWS's SQS extended client deletes on moto only (see the module's docstring).
ON_MOTO = pytest.mark.parametrize("server", ["moto_server"], indirect=True)


@ON_MOTO
@pytest.mark.parametrize("always", [False, True], ids=["over-1-MiB", "always"])
def test_aws_sqs_client_reads_and_deletes_melange_queue_message(
    always: bool,
    server: ServerProcess,
    backend: SqsBackend,
    bucket: Bucket,
    publisher_store: Callable[..., S3PayloadStore],
    unique: str,
) -> None:
    """AWS's receive_message gives melange's content; its delete_message deletes the object."""
    queue = f"{unique}-orders"
    backend.declare_queue(queue)
    document = large_document(1024 if always else MELANGE_LARGE, "from melange")
    settings = payload_settings(bucket, always=always)
    publisher = QueuePublisher(json_registry(), backend, payloads=publisher_store(settings))
    message_id = publisher.publish(queue, document)
    assert len(bucket.keys()) == 1
    aws = extended_sqs_client(server.endpoint_url, bucket.name)

    message = receive_one(aws, queue)

    assert json.loads(message["Body"]) == document  # the payload, not melange's wrapper
    attributes = message["MessageAttributes"]
    assert sorted(attributes) == ["manifest", "message_id", "serializer_id"]
    assert attributes["message_id"]["StringValue"] == message_id
    aws.delete_message(QueueUrl=queue_url(aws, queue), ReceiptHandle=message["ReceiptHandle"])
    assert bucket.keys() == []
    assert depth(backend.sqs_client, queue) == (0, 0)


def test_aws_sqs_client_reads_melange_topic_message_from_a_raw_queue(
    server: ServerProcess,
    backend: SqsBackend,
    bucket: Bucket,
    publisher_store: Callable[..., S3PayloadStore],
    unique: str,
) -> None:
    """A TopicPublisher's large message reaches AWS's client on a raw-delivery queue as sent."""
    topic, raw = f"{unique}-events", f"{unique}-raw"
    backend.declare_queue(raw, topics=[topic], raw_message_delivery=True)
    document = large_document(AWS_LARGE, "from melange")
    publisher = TopicPublisher(
        json_registry(), backend, payloads=publisher_store(payload_settings(bucket))
    )
    message_id = publisher.publish(topic, document)
    [key] = bucket.keys()
    aws = extended_sqs_client(server.endpoint_url, bucket.name, delete_payload_from_s3=False)

    message = receive_one(aws, raw)

    assert json.loads(message["Body"]) == document
    assert message["MessageAttributes"]["message_id"]["StringValue"] == message_id
    assert SIZE_ATTRIBUTE not in message["MessageAttributes"]
    assert bucket.keys() == [key]  # a topic's object: AWS's client was told to leave it
