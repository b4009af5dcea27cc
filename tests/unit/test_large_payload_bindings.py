"""MELANGE_LARGE_PAYLOAD_BUCKET wires the claim check into an application's graph, both halves.

On the in-memory backend the graph's payload store is in memory and both halves share it,
as they share the queues; on ``local`` and ``aws`` it is S3, reached where the backend
reaches SQS (nothing is sent here: the clients are only built).
"""

from __future__ import annotations

import asyncio

import attrs
import pytest

from melange import Application, Consumer, QueuePublisher, Subscription, TopicPublisher, consumer
from melange.aio import AsyncQueuePublisher
from melange.exceptions import MessageTooLargeError
from melange.limits import SQS_MAX_MESSAGE_BYTES
from melange.payloads import InMemoryPayloadStore
from melange.payloads.factory import PayloadStores
from melange.payloads.memory import AsyncInMemoryPayloadStore
from melange.payloads.s3 import AsyncS3PayloadStore, S3PayloadStore
from melange.settings import LargePayloadSettings, load_settings
from melange.topology.declared import Effect
from melange_bindings import MelangeBindingSpec, new_object_graph
from melange_bindings.testing import TEST_SETTINGS, new_test_graph

LARGE = "x" * (SQS_MAX_MESSAGE_BYTES + 10)
WITH_BUCKET = attrs.evolve(TEST_SETTINGS, large_payloads=LargePayloadSettings(bucket="payloads"))


def test_a_test_graph_with_a_bucket_stores_large_messages_and_drains_them() -> None:
    """The graph's publisher stores in memory; drain's dispatcher reads it back."""
    graph = new_test_graph(settings=WITH_BUCKET)
    graph.backend.declare_queue("big")
    handled: list[object] = []

    graph.provide(QueuePublisher).publish("big", {"b": LARGE})

    store = graph.provide(PayloadStores).store()
    assert isinstance(store, InMemoryPayloadStore)
    assert len(store.objects()) == 1
    assert graph.published("big") == [{"b": LARGE}]  # what the application published
    assert graph.drain("big", Consumer(on_message=handled.append, name="n")) == 1
    assert handled == [{"b": LARGE}]


def test_both_halves_of_a_memory_graph_share_the_stored_payloads() -> None:
    """What the asyncio publisher stores, the threaded dispatcher reads."""
    graph = new_test_graph(settings=WITH_BUCKET)
    graph.backend.declare_queue("big")
    handled: list[object] = []
    stores = graph.provide(PayloadStores)

    asyncio.run(graph.provide(AsyncQueuePublisher).publish("big", {"b": LARGE}))

    async_store = stores.async_store()
    assert isinstance(async_store, AsyncInMemoryPayloadStore)
    assert async_store.store is stores.store()
    graph.drain("big", Consumer(on_message=handled.append, name="n"))
    assert handled == [{"b": LARGE}]


def test_without_a_bucket_the_graphs_publishers_refuse_large_messages() -> None:
    """No MELANGE_LARGE_PAYLOAD_BUCKET: no store, and MessageTooLargeError as before."""
    graph = new_test_graph()
    graph.backend.declare_queue("big")

    assert graph.provide(PayloadStores).store() is None
    with pytest.raises(MessageTooLargeError):
        graph.provide(QueuePublisher).publish("big", {"b": LARGE})
    assert graph.provide(TopicPublisher).payloads is None


class Reader(Consumer):
    """Reads queue 'big'."""

    subscription = Subscription("big")

    @consumer
    def on_anything(self, message: dict[str, str]) -> None:
        """Take it."""


def test_declare_declares_the_payload_bucket_after_the_queues() -> None:
    """Application.declare: the queue, then the bucket (in memory: there from the start)."""
    graph = new_test_graph(settings=WITH_BUCKET)
    factory = graph.provide(Application).dispatcher_factory
    store = graph.provide(PayloadStores).store()
    assert isinstance(store, InMemoryPayloadStore)
    store.remove_bucket("payloads")

    done = Application([Reader()], [], graph.backend, factory).declare()
    again = Application([Reader()], [], graph.backend, factory).declare()

    assert [str(d) for d in done] == [
        "created  queue 'big'",
        "created  bucket 'payloads' (in memory)",
    ]
    assert again[-1].effect is Effect.AS_IS


def test_on_local_the_stores_reach_s3_beside_the_emulators_sqs() -> None:
    """MELANGE_BACKEND=local: S3 at MELANGE_ENDPOINT_URL, path-style, the emulator's keys."""
    settings = load_settings(
        environ={
            "MELANGE_BACKEND": "local",
            "MELANGE_ENDPOINT_URL": "http://127.0.0.1:4566",
            "MELANGE_PUBLISH_READ_TIMEOUT": "3",
            "MELANGE_LARGE_PAYLOAD_BUCKET": "payloads",
        }
    )
    stores = new_object_graph(melange=MelangeBindingSpec(settings=settings)).provide(PayloadStores)

    store = stores.store()
    assert isinstance(store, S3PayloadStore)
    assert store.client.meta.endpoint_url == "http://127.0.0.1:4566"
    assert store.client.meta.config.s3 == {"addressing_style": "path"}
    assert store.client.meta.config.read_timeout == 3.0
    credentials = store.client._request_signer._credentials  # what signs
    assert credentials.access_key == "melange-local"
    assert isinstance(stores.async_store(), AsyncS3PayloadStore)
    store.close()


def test_on_aws_the_store_reaches_awss_own_s3_even_with_an_sqs_endpoint() -> None:
    """MELANGE_ENDPOINT_URL on aws is SQS's (a VPC endpoint); S3 is AWS's own in the region."""
    settings = load_settings(
        environ={
            "MELANGE_BACKEND": "aws",
            "AWS_REGION": "eu-west-1",
            "MELANGE_ENDPOINT_URL": "https://vpce-sqs.example",
            "MELANGE_LARGE_PAYLOAD_BUCKET": "payloads",
        }
    )

    store = PayloadStores(settings).store()

    assert isinstance(store, S3PayloadStore)
    assert store.client.meta.endpoint_url == "https://s3.eu-west-1.amazonaws.com"
    assert store.client.meta.region_name == "eu-west-1"
    store.close()
