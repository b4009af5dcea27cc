"""Envelope-shaped contents read back equal through a real SQS/SNS server, on every route.

The same adversarial contents as tests/unit/test_wire_routes.py, published through
moto_server: to a queue, and to a topic delivering to one queue as SNS notifications (raw
delivery off) and to another raw (raw delivery on).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from melange import QueuePublisher, TopicPublisher, wire
from melange.backends import LocalSQSBackend
from melange.backends.sqs.backend import SqsBackend
from melange.serializers import JsonSerializer, SerializerRegistry, TypedJsonSerializer
from tests.support.messaging import receive_all
from tests.support.servers import MotoServer
from tests.unit.test_wire_routes import ADVERSARIAL_OBJECTS, Notice

pytestmark = pytest.mark.integration


@pytest.fixture(name="backend")
def fixture_backend(moto_server: MotoServer) -> Iterator[SqsBackend]:
    """Give an SQS backend on the session's moto server."""
    backend = LocalSQSBackend(host=moto_server.host, port=moto_server.port)
    yield backend
    backend.close()


def _read_back_all(
    backend: SqsBackend, unique: str, registry: SerializerRegistry, objects: list[Any]
) -> dict[str, list[Any]]:
    """Publish every object on the three routes; return what each route's queue reads back."""
    routes = {"direct": f"{unique}-direct", "envelope": f"{unique}-env", "raw": f"{unique}-raw"}
    topic = f"{unique}-events"
    backend.declare_queue(routes["direct"])
    backend.declare_queue(routes["envelope"], topics=[topic])
    backend.declare_queue(routes["raw"], topics=[topic], raw_message_delivery=True)
    ids = []
    for obj in objects:
        ids.append(QueuePublisher(registry, backend).publish(routes["direct"], obj))
        ids.append(TopicPublisher(registry, backend).publish(topic, obj))
    result = {}
    for route, queue in routes.items():
        by_id = {}
        for received in receive_all(backend, queue, len(objects)):
            envelope = wire.unwrap(received)
            assert envelope.message_id in ids
            by_id[ids.index(envelope.message_id)] = registry.deserialize_envelope(envelope)
        result[route] = [by_id[index] for index in sorted(by_id)]
    return result


def test_adversarial_json_reads_back_equal_through_moto(backend: SqsBackend, unique: str) -> None:
    """Envelope-shaped JSON contents read back equal from a queue, a notification and raw."""
    registry = SerializerRegistry({"serializers": {"json": JsonSerializer}})

    read = _read_back_all(backend, unique, registry, ADVERSARIAL_OBJECTS)

    assert read == {route: ADVERSARIAL_OBJECTS for route in ("direct", "envelope", "raw")}


def test_typed_json_message_field_reads_back_equal_through_moto(
    backend: SqsBackend, unique: str
) -> None:
    """Typed JSON objects with fields Message, Type, TopicArn read back equal on every route."""
    registry = SerializerRegistry({"serializers": {"typed": TypedJsonSerializer([Notice])}})
    notices = [Notice("hello"), Notice('{"a": 1}'), Notice("{}"), Notice("")]

    read = _read_back_all(backend, unique, registry, notices)

    assert read == {route: notices for route in ("direct", "envelope", "raw")}
