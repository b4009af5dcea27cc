import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import attrs
import pinject
from cattrs.preconf.json import make_converter

from melange import Application, Consumer, MessageContext, Subscription, consumer
from melange.backends import InMemoryBackend
from melange_bindings import MelangeBindingSpec, new_object_graph


# S3's JSON, as attrs classes: the keys S3 writes are the field names, the rest is ignored.
@attrs.frozen
class S3Bucket:
    name: str


@attrs.frozen
class S3Object:
    key: str  # URL-encoded, as S3 sends it: "red flower.jpg" is "red+flower.jpg"
    size: int = 0  # delete events have none


@attrs.frozen
class S3Entity:
    bucket: S3Bucket
    object: S3Object


@attrs.frozen
class S3EventRecord:
    eventName: str
    eventTime: datetime
    s3: S3Entity


@attrs.frozen
class S3EventNotification:
    Records: list[S3EventRecord]


class Thumbnails(Consumer):
    # Messages without melange's attributes (S3's) are structured into S3EventNotification.
    subscription = Subscription(
        "uploads", dead_letter_queue="uploads-dlq", foreign=S3EventNotification
    )

    @consumer
    def on_upload(self, event: S3EventNotification) -> None:
        for record in event.Records:
            s3 = record.s3
            print(f"thumbnail {s3.bucket.name}/{s3.object.key} ({record.eventName})")


# S3's test message is no notification, so Thumbnails dead-letters it (below). A function
# reads each message as the one or the other.
@attrs.frozen
class S3TestEvent:
    Event: str
    Bucket: str


converter = make_converter()


def s3_message(value: Any) -> S3EventNotification | S3TestEvent:
    if value.get("Event") == "s3:TestEvent":
        return converter.structure(value, S3TestEvent)
    return converter.structure(value, S3EventNotification)


class Gallery(Consumer):
    subscription = Subscription("gallery", foreign=s3_message)

    @consumer
    def on_upload(self, event: S3EventNotification, context: MessageContext) -> None:
        print(f"gallery: add {event.Records[0].s3.object.key} from {context.queue_name!r}")

    @consumer
    def on_test(self, event: S3TestEvent) -> None:
        print(f"gallery: S3 can notify about bucket {event.Bucket}")


class UploadsSpec(pinject.BindingSpec):
    def provide_melange_consumers(
        self, thumbnails: Thumbnails, gallery: Gallery
    ) -> Sequence[Consumer]:
        return [thumbnails, gallery]


backend = InMemoryBackend()
graph = new_object_graph(
    classes=[Thumbnails, Gallery],
    binding_specs=[UploadsSpec()],
    melange=MelangeBindingSpec(backend=backend),
)
app = graph.provide(Application)
app.declare()

# What S3 sends to a queue: first a test message, when the notification is configured,
# then one notification per event. send_raw sends a body as it is, with no attributes.
s3_test_event = {
    "Service": "Amazon S3",
    "Event": "s3:TestEvent",
    "Time": "2026-05-04T10:00:00.000Z",
    "Bucket": "photos",
    "RequestId": "5582815E1AEA5ADF",
    "HostId": "8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE",
}
put = {
    "Records": [
        {
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "awsRegion": "eu-west-1",
            "eventTime": "2026-05-04T10:15:30.123Z",
            "eventName": "ObjectCreated:Put",
            "s3": {
                "s3SchemaVersion": "1.0",
                "bucket": {"name": "photos", "arn": "arn:aws:s3:::photos"},
                "object": {"key": "2026/red+flower.jpg", "size": 52311, "eTag": "d41d8cd9"},
            },
        }
    ]
}
for queue in ("uploads", "gallery"):
    backend.send_raw(queue, json.dumps(s3_test_event), {})
    backend.send_raw(queue, json.dumps(put), {})

for queue, dispatcher in app.worker().queues:  # what `python -m melange worker` runs
    dispatcher.process_available(queue)
for dead in backend.receive("uploads-dlq"):
    print(f"uploads-dlq: {dead.attributes['melange_error']}")
