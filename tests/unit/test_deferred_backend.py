"""``DeferredBackend``: built at the first request, so a Lambda batch that succeeds builds none."""

from __future__ import annotations

from typing import Any

import pinject
import pytest

from melange import Application, Consumer, QueuePublisher, Subscription, consumer
from melange.aws_lambda import sqs_handler
from melange.backends import InMemoryBackend
from melange.backends.deferred import DeferredBackend
from melange.exceptions import ConfigurationError, Problem
from melange.serializers import JsonSerializer, SerializerRegistry
from melange_bindings import MelangeBindingSpec, new_object_graph
from tests.support.lambda_events import sqs_event_of

ARN = "arn:aws:sqs:us-east-1:123456789012:orders"


class Builds:
    """Builds an in-memory backend over one store, counting the builds."""

    def __init__(self, store: InMemoryBackend) -> None:
        self.store = store
        self.count = 0

    def __call__(self) -> InMemoryBackend:
        self.count += 1
        return self.store


@pytest.fixture(name="store")
def fixture_store() -> InMemoryBackend:
    """Give an in-memory backend with queue 'orders' (DLQ 'orders-dlq')."""
    store = InMemoryBackend()
    store.declare_queue("orders", dead_letter_queue="orders-dlq")
    return store


def test_it_builds_at_the_first_request_once_and_sends_every_call_there(
    store: InMemoryBackend,
) -> None:
    """Nothing is built until a request; then one backend takes every call."""
    builds = Builds(store)
    backend = DeferredBackend(builds, "memory")
    assert (builds.count, backend.built) == (0, False)

    QueuePublisher(SerializerRegistry({"serializers": {"json": JsonSerializer}}), backend).publish(
        "orders", {"n": 1}
    )
    [received] = backend.receive("orders")
    assert backend.acknowledge("orders", [received.receipt_handle]) == []
    backend.declare_queue("refunds")

    assert (builds.count, backend.built) == (1, True)
    assert store.message_count("orders") == 0
    assert backend.message_count("refunds") == 0  # the built backend's own method
    assert "InMemoryBackend" in repr(backend)


def test_closing_it_unbuilt_builds_nothing(store: InMemoryBackend) -> None:
    """close() before any request has nothing to close and builds nothing."""
    builds = Builds(store)
    backend = DeferredBackend(builds, "memory")

    backend.close()

    assert builds.count == 0
    assert repr(backend) == "DeferredBackend(memory: not built yet)"


def test_a_build_that_fails_fails_the_request_and_is_tried_again(store: InMemoryBackend) -> None:
    """The build's error is the request's; the next request builds again."""
    attempts: list[str] = []

    def build() -> InMemoryBackend:
        attempts.append("build")
        if len(attempts) == 1:
            raise ConfigurationError(
                "no AWS region is configured", problems=[Problem("AWS_REGION", None, "a region")]
            )
        return store

    backend = DeferredBackend(build, "MELANGE_BACKEND=aws")
    with pytest.raises(ConfigurationError, match="no AWS region"):
        backend.redrive_policy("orders")

    assert backend.redrive_policy("orders") is not None
    assert attempts == ["build", "build"]


class Orders(Consumer):
    subscription = Subscription("orders", dead_letter_queue="orders-dlq")

    @consumer
    def on_order(self, order: dict[str, Any]) -> None:
        if order["n"] == 2:
            raise TimeoutError("the warehouse did not answer")


class Spec(pinject.BindingSpec):
    def provide_melange_consumers(self, orders: Orders) -> list[Consumer]:
        return [orders]


def test_a_lambda_batch_builds_the_backend_only_when_a_record_fails(
    store: InMemoryBackend,
) -> None:
    """Succeeded records are left to the event source mapping; a failure's backoff builds it."""
    publisher = QueuePublisher(SerializerRegistry({"serializers": {"json": JsonSerializer}}), store)
    builds = Builds(store)
    graph = new_object_graph(
        classes=[Orders],
        binding_specs=[Spec()],
        melange=MelangeBindingSpec(environ={}, backend=DeferredBackend(builds, "memory")),
    )
    handler = sqs_handler(graph)
    assert graph.provide(Application).queue_names == ("orders",)

    publisher.publish("orders", {"n": 1})
    assert handler(sqs_event_of(store.receive("orders"), arn=ARN)) == {"batchItemFailures": []}
    assert builds.count == 0

    publisher.publish("orders", {"n": 2})
    [failing] = store.receive("orders")
    answer = handler(sqs_event_of([failing], arn=ARN))

    assert answer == {"batchItemFailures": [{"itemIdentifier": failing.broker_message_id}]}
    assert builds.count == 1
