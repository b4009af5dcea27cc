"""The pinject bindings against a real SQS/SNS server: MELANGE_BACKEND=local on moto."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import attrs
import boto3
import pinject
import pytest

from bindings import MelangeBindingSpec, ObjectGraph, new_object_graph
from melange.backends import LocalSQSBackend, SqsBackend
from melange.backends.prefixed import PrefixedBackend
from tests.contract.backend_contract import contents, receive_all
from tests.servers import MotoServer

pytestmark = pytest.mark.integration


class AppBindingSpec(pinject.BindingSpec):
    """The application's spec: plain JSON for everything."""

    def provide_melange_serializer_bindings(self) -> dict[type, str]:
        """Bind nothing: dicts go through the default JSON serializer."""
        return {}


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
        binding_specs=[AppBindingSpec()],
        classes=[OrderService, BackendUser],
        melange=MelangeBindingSpec(environ=environ),
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
