"""Foreign messages as AWS services send them, and the classes a queue reads them as.

The JSON shapes are AWS's documented ones: an S3 event notification (``Records[...]``,
each with ``eventName`` and ``s3.bucket.name`` / ``s3.object.key``), the test message S3
sends when a notification is configured (``"Event": "s3:TestEvent"``), and an EventBridge
event (``version``, ``id``, ``detail-type``, ``source``, ``account``, ``time``,
``region``, ``resources``, ``detail``). None of them carries a message attribute.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import attrs
from pydantic import BaseModel, Field


@attrs.frozen
class S3Bucket:
    """The bucket of an S3 event record."""

    name: str
    arn: str


@attrs.frozen
class S3Object:
    """The object of an S3 event record; its key is URL-encoded, as S3 sends it."""

    key: str
    size: int = 0  # absent from delete events


@attrs.frozen
class S3Entity:
    """The ``s3`` member of an S3 event record."""

    bucket: S3Bucket
    object: S3Object


@attrs.frozen
class S3EventRecord:
    """One record of an S3 event notification."""

    eventName: str  # AWS spells the keys so
    eventTime: datetime
    s3: S3Entity


@attrs.frozen
class S3EventNotification:
    """An S3 event notification, as S3 sends it to a queue or a topic."""

    Records: list[S3EventRecord]


@attrs.frozen
class S3TestEvent:
    """The message S3 sends when a notification is configured on a bucket."""

    Event: str
    Bucket: str


def read_s3_message(value: Any) -> S3EventNotification | S3TestEvent:
    """Read an S3 message's JSON as the test event or as a notification (a ``foreign``)."""
    from cattrs.preconf.json import make_converter

    converter = make_converter()
    if isinstance(value, dict) and value.get("Event") == "s3:TestEvent":
        return converter.structure(value, S3TestEvent)
    return converter.structure(value, S3EventNotification)


class InstanceState(BaseModel):
    """The detail of EC2's ``EC2 Instance State-change Notification``."""

    instance_id: str = Field(alias="instance-id")
    state: str


class InstanceStateChange(BaseModel):
    """An EventBridge event whose detail is an EC2 instance's new state."""

    id: str
    detail_type: str = Field(alias="detail-type")
    source: str
    account: str
    time: datetime
    region: str
    resources: list[str]
    detail: InstanceState


def s3_put_notification(bucket: str = "uploads", key: str = "photos/red+flower.jpg") -> str:
    """Return the JSON S3 sends for an ``ObjectCreated:Put`` of ``key`` in ``bucket``."""
    return json.dumps(
        {
            "Records": [
                {
                    "eventVersion": "2.1",
                    "eventSource": "aws:s3",
                    "awsRegion": "eu-west-1",
                    "eventTime": "2026-05-04T10:15:30.123Z",
                    "eventName": "ObjectCreated:Put",
                    "userIdentity": {"principalId": "AWS:AIDAEXAMPLE"},
                    "requestParameters": {"sourceIPAddress": "203.0.113.7"},
                    "responseElements": {
                        "x-amz-request-id": "C3D13FE58DE4C810",
                        "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5",
                    },
                    "s3": {
                        "s3SchemaVersion": "1.0",
                        "configurationId": "uploads-to-queue",
                        "bucket": {
                            "name": bucket,
                            "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                            "arn": f"arn:aws:s3:::{bucket}",
                        },
                        "object": {
                            "key": key,
                            "size": 1024,
                            "eTag": "d41d8cd98f00b204e9800998ecf8427e",
                            "sequencer": "0055AED6DCD90281E5",
                        },
                    },
                }
            ]
        }
    )


S3_TEST_EVENT = json.dumps(
    {
        "Service": "Amazon S3",
        "Event": "s3:TestEvent",
        "Time": "2026-05-04T10:00:00.000Z",
        "Bucket": "uploads",
        "RequestId": "5582815E1AEA5ADF",
        "HostId": "8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE",
    }
)

EC2_STATE_CHANGE = json.dumps(
    {
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": "EC2 Instance State-change Notification",
        "source": "aws.ec2",
        "account": "111122223333",
        "time": "2026-05-04T18:43:48Z",
        "region": "eu-west-1",
        "resources": ["arn:aws:ec2:eu-west-1:111122223333:instance/i-1234567890abcdef0"],
        "detail": {"instance-id": "i-1234567890abcdef0", "state": "terminated"},
    }
)
