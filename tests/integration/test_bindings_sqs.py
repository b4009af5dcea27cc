"""The pinject bindings against a real SQS/SNS server: MELANGE_BACKEND=local on moto.

The graphs here have no application spec at all: melange's bindings need none.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import attrs
import boto3
import pytest

from melange import TopicPublisher, wire
from melange.backends import LocalSQSBackend, MessagingBackend, SqsBackend
from melange.backends.prefixed import PrefixedBackend
from melange.serializers import SerializerRegistry
from melange_bindings import MelangeBindingSpec, ObjectGraph, new_object_graph
from tests.support.messaging import assert_empty, contents, receive_all
from tests.support.servers import MotoServer

pytestmark = pytest.mark.integration


@attrs.frozen
class OrderPlaced:
    """An event whose region travels as a message attribute, for filter policies."""

    order_id: int
    region: str

    def melange_attributes(self) -> dict[str, str]:
        """Expose the region to SNS filter policies."""
        return {"region": self.region}


class OrderService:
    """An application service that publishes; pinject injects both publishers by name."""

    def __init__(self, queue_publisher: Any, topic_publisher: Any) -> None:
        self.queue_publisher = queue_publisher
        self.topic_publisher = topic_publisher


class BackendUser:
    """Asks for the messaging backend only."""

    def __init__(self, messaging_backend: Any) -> None:
        self.messaging_backend = messaging_backend


@attrs.frozen
class LocalGraph:
    """A graph built from MELANGE_* variables pointing at moto, and its prefix."""

    graph: ObjectGraph
    prefix: str
    backend: PrefixedBackend


@pytest.fixture(name="local_graph")
def fixture_local_graph(moto_server: MotoServer, unique: str) -> Iterator[LocalGraph]:
    """Give a graph with MELANGE_BACKEND=local on the moto server and a unique prefix."""
    prefix = f"{unique}-"
    environ = {
        "MELANGE_BACKEND": "local",
        "MELANGE_ENDPOINT_URL": moto_server.endpoint_url,
        "MELANGE_PREFIX": prefix,
    }
    graph = new_object_graph(
        classes=[OrderService, BackendUser], melange=MelangeBindingSpec(environ=environ)
    )
    backend = graph.provide(BackendUser).messaging_backend
    yield LocalGraph(graph=graph, prefix=prefix, backend=backend)
    backend.close()


def test_the_provided_backend_is_a_prefixed_sqs_backend(local_graph: LocalGraph) -> None:
    """MELANGE_BACKEND=local with a prefix gives a PrefixedBackend over a LocalSQSBackend."""
    backend = local_graph.backend

    assert isinstance(backend, PrefixedBackend)
    assert isinstance(backend.backend, LocalSQSBackend)
    assert isinstance(backend.backend, SqsBackend)
    assert backend.prefix == local_graph.prefix


def test_a_provided_service_publishes_through_moto(local_graph: LocalGraph) -> None:
    """The service's queue and topic publishers really send through the moto server."""
    local_graph.backend.declare_queue("orders", topics=["order-events"])
    service = local_graph.graph.provide(OrderService)

    service.queue_publisher.publish("orders", {"order": 1})
    service.topic_publisher.publish("order-events", {"order": 2})

    received = receive_all(local_graph.backend, "orders", 2)
    assert sorted(contents(received), key=lambda c: c["order"]) == [{"order": 1}, {"order": 2}]
    assert {m.queue_name for m in received} == {"orders"}  # short names come back


def test_the_queue_on_moto_carries_the_prefix(
    local_graph: LocalGraph, moto_server: MotoServer
) -> None:
    """The real queue name on the server is the prefix plus the name the code uses."""
    local_graph.backend.declare_queue("orders")
    local_graph.graph.provide(OrderService).queue_publisher.publish("orders", {"order": 3})
    client = boto3.client(
        "sqs",
        endpoint_url=moto_server.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="melange-local",
        aws_secret_access_key="melange-local",
    )
    try:
        url = client.get_queue_url(QueueName=f"{local_graph.prefix}orders")["QueueUrl"]
        listed = client.list_queues(QueueNamePrefix=local_graph.prefix).get("QueueUrls", [])
        raw = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
    finally:
        client.close()

    assert url.endswith(f"/{local_graph.prefix}orders")
    assert listed == [url]
    assert len(raw.get("Messages", [])) == 1


def test_a_typed_event_reaches_only_the_queue_its_own_attribute_passes(
    local_graph: LocalGraph, moto_server: MotoServer, request: pytest.FixtureRequest
) -> None:
    """provide(TopicPublisher) publishes an event whose region SNS's filter policies route."""
    backend = local_graph.backend
    backend.declare_queue("eu-orders", topics=["order-events"], filter_policy={"region": ["eu"]})
    backend.declare_queue("us-orders", topics=["order-events"], filter_policy={"region": ["us"]})
    # Typed events by default: the graph needs no spec binding OrderPlaced either.
    graph = new_object_graph(
        melange=MelangeBindingSpec(
            environ={
                "MELANGE_BACKEND": "local",
                "MELANGE_ENDPOINT_URL": moto_server.endpoint_url,
                "MELANGE_PREFIX": local_graph.prefix,
                "MELANGE_DEFAULT_SERIALIZER": "typed_json",
            }
        )
    )
    publisher = graph.provide(TopicPublisher)
    request.addfinalizer(graph.provide(MessagingBackend).close)

    publisher.publish("order-events", OrderPlaced(1, "us"))
    publisher.publish_many("order-events", [OrderPlaced(2, "eu"), OrderPlaced(3, "us")])

    registry = graph.provide(SerializerRegistry)
    us = [
        registry.deserialize_envelope(wire.unwrap(m)) for m in receive_all(backend, "us-orders", 2)
    ]
    eu = [
        registry.deserialize_envelope(wire.unwrap(m)) for m in receive_all(backend, "eu-orders", 1)
    ]
    assert sorted(us, key=lambda e: e.order_id) == [OrderPlaced(1, "us"), OrderPlaced(3, "us")]
    assert eu == [OrderPlaced(2, "eu")]
    assert_empty(backend, "eu-orders")
    assert_empty(backend, "us-orders")
