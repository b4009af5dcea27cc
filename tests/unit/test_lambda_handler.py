"""The Lambda handlers on the in-memory backend: records settled as the worker settles them.

SQS events are built from messages the in-memory backend really received
(``tests.support.lambda_events``); SNS events from the notification a queue subscribed
without raw delivery holds, which is SNS's own JSON.
"""

from __future__ import annotations

import copy
import json
import logging
from typing import Any, TypeVar

import pinject
import pytest

from melange import (
    Application,
    Consumer,
    MessageContext,
    MessageDispatcher,
    QueuePublisher,
    Reject,
    Subscription,
    TopicPublisher,
    consumer,
)
from melange.aws_lambda import sns_handler, sqs_handler
from melange.backends import InMemoryBackend
from melange.consuming.outcomes import Action
from melange.exceptions import LambdaEventError, NotificationFailedError
from melange.limits import SQS_MAX_MESSAGE_BYTES
from melange.options import AckPolicy
from melange.payloads import InMemoryPayloadStore, LargePayloads
from melange_bindings import new_test_graph
from melange_bindings.testing import TestGraph
from tests.support.lambda_events import (
    DOCUMENTED_SNS_EVENT,
    DOCUMENTED_SQS_EVENT,
    sns_event,
    sqs_event_of,
)
from tests.support.messaging import json_registry

ARN = "arn:aws:sqs:us-east-1:123456789012:orders"
TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:order-events"

C = TypeVar("C", bound=Consumer)


class Orders(Consumer):
    subscription = Subscription("orders", dead_letter_queue="orders-dlq")

    def __init__(self) -> None:
        super().__init__()
        self.handled: list[int] = []

    @consumer
    def on_order(self, order: dict[str, Any]) -> None:
        if order["n"] == 2:
            raise TimeoutError("the warehouse did not answer")
        if order["n"] == 3:
            raise Reject("order 3 is for a closed store")
        self.handled.append(order["n"])


class Billing(Consumer):
    """Reads EU orders from the topic, through a filter policy; fails on order 13."""

    subscription = Subscription(
        "billing",
        topics=["order-events"],
        filter_policy={"region": ["eu"]},
        dead_letter_queue="billing-dlq",
    )

    def __init__(self) -> None:
        super().__init__()
        self.contexts: list[tuple[int, MessageContext]] = []

    @consumer
    def on_order(self, order: dict[str, Any], context: MessageContext) -> None:
        if order["n"] == 13:
            raise TimeoutError("the ledger did not answer")
        self.contexts.append((order["n"], context))


class Audit(Consumer):
    """Reads every order from the topic, without a filter policy."""

    subscription = Subscription("audit", topics=["order-events"])

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[int] = []

    @consumer
    def on_order(self, order: dict[str, Any]) -> None:
        self.seen.append(order["n"])


class Spec(pinject.BindingSpec):  # type: ignore[misc]
    def provide_melange_consumers(
        self, orders: Orders, billing: Billing, audit: Audit
    ) -> list[Consumer]:
        return [orders, billing, audit]


@pytest.fixture(name="graph")
def fixture_graph() -> TestGraph:
    """Give a test graph with Orders on 'orders' and Billing, Audit on 'order-events', declared."""
    graph = new_test_graph(Spec(), classes=[Orders, Billing, Audit])
    graph.provide(Application).declare()
    return graph


def running(graph: TestGraph, cls: type[C]) -> C:
    """Return the application's instance of consumer class ``cls`` (the one the handler runs)."""
    [found] = [c for c in graph.provide(Application).consumers if isinstance(c, cls)]
    return found


def notification(graph: TestGraph, order: dict[str, Any], **publish: Any) -> str:
    """Publish ``order`` to the topic; return the notification 'audit' got (SNS's JSON)."""
    graph.provide(TopicPublisher).publish("order-events", order, **publish)
    [received] = graph.backend.receive("audit")
    graph.backend.acknowledge("audit", [received.receipt_handle])
    return received.body


# -- SQS ---------------------------------------------------------------------------------


def test_a_batch_reports_only_the_failed_record_and_dead_letters_the_rejected(
    graph: TestGraph,
) -> None:
    """1 succeeds (not reported), 2 fails (reported), 3 is rejected (DLQ, not reported)."""
    publisher = graph.provide(QueuePublisher)
    for n in (1, 2, 3):
        publisher.publish("orders", {"n": n})
    received = graph.backend.receive("orders")
    handler = sqs_handler(graph.graph)

    answer = handler(sqs_event_of(received, arn=ARN))

    assert answer == {"batchItemFailures": [{"itemIdentifier": received[1].broker_message_id}]}
    [dead] = graph.dead_letters("orders")
    assert (
        dead.reason
        == "rejected by tests.unit.test_lambda_handler.Orders: order 3 is for a closed store"
    )
    assert running(graph, Orders).handled == [1]


def test_an_invocation_says_what_became_of_each_record(graph: TestGraph) -> None:
    """invoke: each record's action and reason, the failed and the dead-lettered."""
    publisher = graph.provide(QueuePublisher)
    for n in (1, 2, 3):
        publisher.publish("orders", {"n": n})
    received = graph.backend.receive("orders")

    invocation = sqs_handler(graph.graph).invoke(sqs_event_of(received, arn=ARN))

    assert [s.action for s in invocation.settled] == [
        Action.ACK,
        Action.RETRY,
        Action.DEAD_LETTER,
    ]
    assert [s.received.broker_message_id for s in invocation.failed] == [
        received[1].broker_message_id
    ]
    assert invocation.failed[0].reason == "TimeoutError: the warehouse did not answer"
    assert [s.received.broker_message_id for s in invocation.dead_lettered] == [
        received[2].broker_message_id
    ]


def test_when_every_record_fails_every_record_is_reported_and_nothing_raised(
    graph: TestGraph,
) -> None:
    """All fail: all reported, no exception (the batch comes back as reported records)."""
    publisher = graph.provide(QueuePublisher)
    publisher.publish("orders", {"n": 2})
    publisher.publish("orders", {"n": 2})
    received = graph.backend.receive("orders")

    answer = sqs_handler(graph.graph)(sqs_event_of(received, arn=ARN))

    assert answer == {
        "batchItemFailures": [{"itemIdentifier": m.broker_message_id} for m in received]
    }


def test_a_foreign_json_body_is_handled_and_a_text_body_dead_lettered(graph: TestGraph) -> None:
    """Another producer's JSON reaches a dict consumer; plain text is dead-lettered with why."""
    graph.backend.send_raw("orders", '{"n": 1}', {})
    graph.backend.send_raw("orders", "test", {})  # the body of AWS's sample event
    received = graph.backend.receive("orders")

    answer = sqs_handler(graph.graph)(sqs_event_of(received, arn=ARN))

    assert answer == {"batchItemFailures": []}
    assert running(graph, Orders).handled == [1]
    [dead] = graph.dead_letters("orders")
    assert dead.body == "test"
    assert dead.reason is not None and "DeserializationError" in dead.reason


def test_the_documented_sqs_event_is_refused_for_a_queue_the_app_does_not_read(
    graph: TestGraph,
) -> None:
    """AWS's sample comes from 'my-queue': refused before any record, naming what it reads."""
    with pytest.raises(LambdaEventError, match="no consumer of the application reads") as raised:
        sqs_handler(graph.graph)(DOCUMENTED_SQS_EVENT)

    assert "'orders'" in str(raised.value)
    assert raised.value.problem == "a queue the application does not read"


def test_the_documented_sqs_event_runs_when_the_app_reads_the_queue(graph: TestGraph) -> None:
    """The sample's bodies ('test') are not JSON: the DLQ copy gets each, with the reason."""
    event = copy.deepcopy(DOCUMENTED_SQS_EVENT)
    for record in event["Records"]:
        record["eventSourceARN"] = ARN
    # Its receipt handles are the sample's: the in-memory queue has no such message, so
    # the dead letters are copied and the records not reported, as on SQS.
    answer = sqs_handler(graph.graph)(event)

    assert answer == {"batchItemFailures": []}
    assert [d.body for d in graph.dead_letters("orders")] == ["test", "test"]


def test_an_event_that_is_not_sqs_is_refused(graph: TestGraph) -> None:
    """An EventBridge-shaped event: refused naming what an SQS event has."""
    with pytest.raises(LambdaEventError, match="not an SQS or SNS event"):
        sqs_handler(graph.graph)({"detail-type": "x"})


def test_an_sns_event_is_refused_by_the_sqs_handler_naming_sns_handler(graph: TestGraph) -> None:
    """A topic delivering to an sqs_handler: refused, saying to use sns_handler."""
    with pytest.raises(LambdaEventError, match=r"sns_handler\(graph\)"):
        sqs_handler(graph.graph)(DOCUMENTED_SNS_EVENT)


def test_the_graph_can_be_given_as_a_function_returning_it(graph: TestGraph) -> None:
    """sqs_handler(build_graph) calls it once, at once."""
    calls: list[int] = []

    def build() -> Any:
        calls.append(1)
        return graph.graph

    handler = sqs_handler(build)

    assert calls == [1]
    assert handler.app.queue_names == ("orders", "billing", "audit")


# -- the dispatcher's batch settling -------------------------------------------------------


def test_on_receipt_a_batch_reports_nothing_even_when_a_handler_fails() -> None:
    """AckPolicy.ON_RECEIPT: every record is acknowledged as received, so none is reported."""
    backend = InMemoryBackend()
    backend.declare_queue("orders")
    failing = Consumer(on_message=lambda message: 1 / 0, name="failing")
    dispatcher = MessageDispatcher(
        json_registry(), backend, consumers=[failing], ack_policy=AckPolicy.ON_RECEIPT
    )
    QueuePublisher(json_registry(), backend).publish("orders", {"n": 1})

    settled = dispatcher.process_batch("orders", backend.receive("orders"))

    assert [s.action for s in settled] == [Action.ACK]
    assert not any(s.delivered_again for s in settled)


def test_a_refused_payload_leaves_the_rest_unhandled_and_keeps_what_was_settled() -> None:
    """S3 refuses for good at record 2: record 1 stays acknowledged, 2 and 3 come back."""
    backend = InMemoryBackend()
    backend.declare_queue("orders")
    store = InMemoryPayloadStore(LargePayloads(bucket="payloads"))
    handled: list[Any] = []
    dispatcher = MessageDispatcher(
        json_registry(),
        backend,
        consumers=[Consumer(on_message=handled.append, name="recorder")],
        payloads=store,
    )
    publisher = QueuePublisher(json_registry(), backend, payloads=store)
    publisher.publish("orders", {"n": 1})
    publisher.publish("orders", {"n": 2, "blob": "x" * SQS_MAX_MESSAGE_BYTES})  # stored in S3
    publisher.publish("orders", {"n": 3})
    store.remove_bucket("payloads")

    settled = dispatcher.process_batch("orders", backend.receive("orders"))

    assert [s.action for s in settled] == [Action.ACK, None, None]
    assert [s.delivered_again for s in settled] == [False, True, True]
    assert "BackendRefusedError" in settled[1].reason
    assert handled == [{"n": 1}]


def test_large_payloads_are_deleted_once_the_whole_batch_is_settled() -> None:
    """Record 2's handler still finds record 1's S3 object; both are gone after the batch."""
    backend = InMemoryBackend()
    backend.declare_queue("orders")
    store = InMemoryPayloadStore(LargePayloads(bucket="payloads"))
    seen: list[int] = []

    def handle(order: dict[str, Any]) -> None:
        seen.append(len(store.objects()))  # the objects still stored while it runs

    dispatcher = MessageDispatcher(
        json_registry(),
        backend,
        consumers=[Consumer(on_message=handle, name="large")],
        payloads=store,
        delete_payloads=True,
    )
    publisher = QueuePublisher(json_registry(), backend, payloads=store)
    for n in (1, 2):
        publisher.publish("orders", {"n": n, "blob": "x" * SQS_MAX_MESSAGE_BYTES})

    settled = dispatcher.process_batch("orders", backend.receive("orders"))

    assert [s.action for s in settled] == [Action.ACK, Action.ACK]
    assert seen == [2, 2]
    assert store.objects() == {}


def test_a_fifo_batch_stops_after_the_first_record_not_acknowledged() -> None:
    """In order: 1 handled, 2 fails and is reported, 3 is not handled and is reported."""
    backend = InMemoryBackend()
    backend.declare_queue("orders.fifo")
    handled: list[int] = []

    def handle(order: dict[str, int]) -> None:
        if order["n"] == 2:
            raise TimeoutError("no answer")
        handled.append(order["n"])

    dispatcher = MessageDispatcher(
        json_registry(), backend, consumers=[Consumer(on_message=handle, name="fifo")]
    )
    publisher = QueuePublisher(json_registry(), backend)
    for n in (1, 2, 3):
        publisher.publish("orders.fifo", {"n": n}, message_group_id="g")

    settled = dispatcher.process_batch("orders.fifo", backend.receive("orders.fifo"), in_order=True)

    assert [s.action for s in settled] == [Action.ACK, Action.RETRY, None]
    assert [s.delivered_again for s in settled] == [False, True, True]
    assert handled == [1]


def test_a_fifo_batch_stops_after_a_dead_lettered_record_as_the_worker_does() -> None:
    """Step 1 rejected: dead-lettered, not reported; 2 and 3 not handled, reported."""
    backend = InMemoryBackend()
    backend.declare_queue("steps.fifo", dead_letter_queue="steps-dlq.fifo")
    handled: list[int] = []

    def handle(step: dict[str, int]) -> None:
        if step["n"] == 1:
            raise Reject("step 1 is malformed")
        handled.append(step["n"])

    dispatcher = MessageDispatcher(
        json_registry(), backend, consumers=[Consumer(on_message=handle, name="steps")]
    )
    publisher = QueuePublisher(json_registry(), backend)
    for n in (1, 2, 3):
        publisher.publish("steps.fifo", {"n": n}, message_group_id="g")

    settled = dispatcher.process_batch("steps.fifo", backend.receive("steps.fifo"), in_order=True)

    assert [s.action for s in settled] == [Action.DEAD_LETTER, None, None]
    assert [s.delivered_again for s in settled] == [False, True, True]
    assert handled == []
    assert backend.message_count("steps-dlq.fifo") == 1


# -- SNS straight to the function ---------------------------------------------------------


def test_a_notification_goes_to_the_queues_whose_filter_policy_matches(graph: TestGraph) -> None:
    """An EU order: billing (filter eu) and audit (no filter) both handle it, with SNS's context."""
    body = notification(graph, {"n": 1}, attributes={"region": "eu"}, subject="placed")

    answer = sns_handler(graph.graph)(sns_event(body))

    assert answer is None
    [(n, context)] = running(graph, Billing).contexts
    assert n == 1
    assert context.sns_subject == "placed"
    assert context.sns_topic_arn is not None and context.sns_topic_arn.endswith(":order-events")
    assert context.queue_name == "billing"
    assert context.attributes == {"region": "eu"}
    assert running(graph, Audit).seen == [1]


def test_a_notification_the_filter_policy_refuses_skips_that_queue(graph: TestGraph) -> None:
    """A US order: only audit handles it; billing's policy lets only EU orders through."""
    body = notification(graph, {"n": 2}, attributes={"region": "us"})

    sns_handler(graph.graph)(sns_event(body))

    assert running(graph, Billing).contexts == []
    assert running(graph, Audit).seen == [2]


def test_a_failed_notification_raises_naming_the_reason_and_calls_no_queue(
    graph: TestGraph, caplog: pytest.LogCaptureFixture
) -> None:
    """Billing fails: NotificationFailedError names it; nothing is retried or moved on a queue."""
    body = notification(graph, {"n": 13}, attributes={"region": "eu"})
    message_id = json.loads(body)["MessageId"]

    with caplog.at_level(logging.WARNING), pytest.raises(NotificationFailedError) as raised:
        sns_handler(graph.graph)(sns_event(body))

    assert raised.value.failures == (
        (message_id, "billing", "TimeoutError: the ledger did not answer"),
    )
    assert raised.value.topic_arn.endswith(":order-events")
    assert "could not settle" not in caplog.text  # no visibility change on a queue
    assert graph.dead_letters("billing") == []
    assert running(graph, Audit).seen == [13]  # the other queue's consumers ran


def test_an_unreadable_notification_raises_with_the_reason(graph: TestGraph) -> None:
    """AWS's sample SNS event, on a topic the app reads: its Binary value is not base64."""
    event = copy.deepcopy(DOCUMENTED_SNS_EVENT)
    event["Records"][0]["Sns"]["TopicArn"] = TOPIC_ARN

    with pytest.raises(NotificationFailedError, match="not base64") as raised:
        sns_handler(graph.graph)(event)

    assert {queue for _, queue, _ in raised.value.failures} == {"billing", "audit"}


def test_a_notification_from_a_topic_no_queue_reads_is_refused(graph: TestGraph) -> None:
    """AWS's sample comes from 'sns-lambda', which no queue subscribes to: a clear error."""
    with pytest.raises(LambdaEventError, match="no queue of the application is subscribed"):
        sns_handler(graph.graph)(DOCUMENTED_SNS_EVENT)


def test_an_sqs_event_is_refused_by_the_sns_handler_naming_sqs_handler(graph: TestGraph) -> None:
    """A mapping invoking an sns_handler: refused, saying to use sqs_handler."""
    with pytest.raises(LambdaEventError, match=r"sqs_handler\(graph\)"):
        sns_handler(graph.graph)(DOCUMENTED_SQS_EVENT)
