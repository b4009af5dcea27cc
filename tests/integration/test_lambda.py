"""The Lambda handlers on moto: events whose records are messages moto really delivered.

Each test builds the application's graph on the session's moto server under a prefix of
its own, declares it, publishes through it, receives the messages as an event source
mapping receives them (every system and message attribute) and builds the event with
``melange.aws_lambda.sqs_event``, so the records have SQS's shapes, not hand-written
ones. SNS events wrap the notification a queue subscribed without raw delivery got, which
is SNS's own JSON. Where a test needs what the mapping does after an invocation (delete
what was not reported), it does that itself.

The graph has a large-payload bucket (``MELANGE_LARGE_PAYLOAD_BUCKET``) on moto's S3, so
a message over the SQS limit travels as a pointer, read back from S3 by the handler.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from typing import Any

import attrs
import boto3
import pinject
import pytest

from melange import (
    Application,
    Consumer,
    MessageContext,
    QueuePublisher,
    Reject,
    Subscription,
    TopicPublisher,
    consumer,
)
from melange.aws_lambda import sns_handler, sqs_event, sqs_handler
from melange.backends.prefixed import PrefixedBackend
from melange.consuming.dead_letters import dead_letter_reason
from melange.exceptions import NotificationFailedError
from melange_bindings import MelangeBindingSpec, ObjectGraph, new_object_graph
from tests.support.lambda_events import sns_event
from tests.support.polling import poll_until
from tests.support.servers import MotoServer

pytestmark = pytest.mark.integration

#: Seconds a retried record stays hidden: MELANGE_BACKOFF_BASE with no jitter.
BACKOFF = 2


class Orders(Consumer):
    """Order 2 fails its first receive; order 3 can never be handled; the rest succeed."""

    subscription = Subscription("orders", dead_letter_queue="orders-dlq")

    def __init__(self) -> None:
        super().__init__()
        self.handled: list[tuple[int, MessageContext]] = []
        self.sizes: list[int] = []

    @consumer
    def on_order(self, order: dict[str, Any], context: MessageContext) -> None:
        if order["n"] == 2 and context.receive_count == 1:
            raise TimeoutError("the warehouse did not answer")
        if order["n"] == 3:
            raise Reject("order 3 is for a closed store")
        self.handled.append((order["n"], context))
        self.sizes.append(len(order.get("blob", "")))


class RawEvents(Consumer):
    """Reads the topic with raw delivery: the queue holds the message itself."""

    subscription = Subscription("events-raw", topics=["order-events"], raw_message_delivery=True)

    def __init__(self) -> None:
        super().__init__()
        self.handled: list[tuple[int, MessageContext]] = []

    @consumer
    def on_event(self, event: dict[str, Any], context: MessageContext) -> None:
        self.handled.append((event["n"], context))


class EnvelopedEvents(Consumer):
    """Reads the topic without raw delivery: the queue holds SNS's notification."""

    subscription = Subscription("events-enveloped", topics=["order-events"])

    def __init__(self) -> None:
        super().__init__()
        self.handled: list[tuple[int, MessageContext]] = []

    @consumer
    def on_event(self, event: dict[str, Any], context: MessageContext) -> None:
        self.handled.append((event["n"], context))


class Steps(Consumer):
    """A FIFO queue; step 2 fails."""

    subscription = Subscription("steps.fifo")

    def __init__(self) -> None:
        super().__init__()
        self.handled: list[int] = []

    @consumer
    def on_step(self, step: dict[str, Any]) -> None:
        if step["n"] == 2:
            raise TimeoutError("step 2 did not finish")
        self.handled.append(step["n"])


class AsyncOrders(Consumer):
    """An ``async def`` handler: order 2 fails, order 3 is rejected."""

    subscription = Subscription("async-orders", dead_letter_queue="async-orders-dlq")

    def __init__(self) -> None:
        super().__init__()
        self.handled: list[int] = []

    @consumer
    async def on_order(self, order: dict[str, Any]) -> None:
        if order["n"] == 2:
            raise TimeoutError("the warehouse did not answer")
        if order["n"] == 3:
            raise Reject("order 3 is for a closed store")
        self.handled.append(order["n"])


class Alerts(Consumer):
    """High-severity alerts only, through a filter policy; alert 13 fails."""

    subscription = Subscription(
        "alerts-high", topics=["alerts"], filter_policy={"severity": ["high"]}
    )

    def __init__(self) -> None:
        super().__init__()
        self.handled: list[tuple[int, MessageContext]] = []

    @consumer
    def on_alert(self, alert: dict[str, Any], context: MessageContext) -> None:
        if alert["n"] == 13:
            raise TimeoutError("the pager did not answer")
        self.handled.append((alert["n"], context))


class AlertLog(Consumer):
    """Every alert, without a filter policy, as SNS's notification."""

    subscription = Subscription("alerts-all", topics=["alerts"])

    def __init__(self) -> None:
        super().__init__()
        self.handled: list[int] = []

    @consumer
    def on_alert(self, alert: dict[str, Any]) -> None:
        self.handled.append(alert["n"])


CONSUMERS = [Orders, RawEvents, EnvelopedEvents, Steps, AsyncOrders, Alerts, AlertLog]


class Spec(pinject.BindingSpec):  # type: ignore[misc]
    def provide_melange_consumers(
        self,
        orders: Orders,
        raw_events: RawEvents,
        enveloped_events: EnvelopedEvents,
        steps: Steps,
        async_orders: AsyncOrders,
        alerts: Alerts,
        alert_log: AlertLog,
    ) -> list[Consumer]:
        return [orders, raw_events, enveloped_events, steps, async_orders, alerts, alert_log]


@attrs.frozen
class OnMoto:
    """The application on moto, and what an event source mapping needs to reach its queues."""

    graph: ObjectGraph
    backend: PrefixedBackend
    prefix: str

    @property
    def client(self) -> Any:
        """boto3's SQS client, as the mapping's poller would use it."""
        return self.backend.backend.sqs_client  # type: ignore[attr-defined]

    def running(self, cls: type[Any]) -> Any:
        """Return the application's instance of consumer class ``cls``."""
        [found] = [c for c in self.graph.provide(Application).consumers if isinstance(c, cls)]
        return found

    def url(self, queue: str) -> str:
        """Return the queue's URL."""
        return str(self.client.get_queue_url(QueueName=self.prefix + queue)["QueueUrl"])

    def arn(self, queue: str) -> str:
        """Return the queue's ARN, as the mapping's eventSourceARN names it."""
        return str(self.backend.backend.queue_arn(self.prefix + queue))  # type: ignore[attr-defined]

    def receive(self, queue: str, count: int, *, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Receive ``count`` messages as the mapping does: every attribute, no deletes."""
        received: list[dict[str, Any]] = []

        def step() -> int:
            answer = self.client.receive_message(
                QueueUrl=self.url(queue),
                MaxNumberOfMessages=min(10, count - len(received)),
                WaitTimeSeconds=0,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            received.extend(answer.get("Messages", []))
            return len(received)

        poll_until(step, lambda n: n >= count, timeout=timeout, message=f"{count} on {queue}")
        return received

    def event(self, queue: str, count: int) -> dict[str, Any]:
        """Return the event a mapping on ``queue`` invokes the function with, of ``count``."""
        return sqs_event(self.receive(queue, count), queue_arn=self.arn(queue))

    def visible(self, queue: str) -> list[dict[str, Any]]:
        """Receive what is visible on ``queue`` now (and keep it hidden)."""
        answer = self.client.receive_message(
            QueueUrl=self.url(queue),
            MaxNumberOfMessages=10,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        return list(answer.get("Messages", []))

    def delete_unreported(self, queue: str, event: Mapping[str, Any], answer: Any) -> None:
        """Delete what the function did not report, as the mapping does."""
        reported = {item["itemIdentifier"] for item in answer["batchItemFailures"]}
        for record in event["Records"]:
            if record["messageId"] not in reported:
                self.client.delete_message(
                    QueueUrl=self.url(queue), ReceiptHandle=record["receiptHandle"]
                )

    def dead_letter_reasons(self, queue: str, count: int) -> list[str | None]:
        """Return the reasons of the ``count`` messages on ``queue``'s dead-letter queue."""
        messages = self.receive(f"{queue}-dlq", count)
        reasons = []
        for message in messages:
            attributes = {
                name: value.get("StringValue")
                for name, value in message.get("MessageAttributes", {}).items()
            }
            reasons.append(dead_letter_reason(attributes))
        return reasons


@pytest.fixture(name="moto")
def fixture_moto(moto_server: MotoServer, unique: str) -> Iterator[OnMoto]:
    """Give the application on moto under a prefix of this test's, declared."""
    prefix = f"{unique}-"
    environ = {
        "MELANGE_BACKEND": "local",
        "MELANGE_ENDPOINT_URL": moto_server.endpoint_url,
        "MELANGE_PREFIX": prefix,
        "MELANGE_BACKOFF_BASE": str(BACKOFF),
        "MELANGE_BACKOFF_JITTER": "0",
        "MELANGE_MAX_RECEIVE_COUNT": "3",
        "MELANGE_LARGE_PAYLOAD_BUCKET": f"{unique}-payloads",
    }
    graph = new_object_graph(
        classes=CONSUMERS, binding_specs=[Spec()], melange=MelangeBindingSpec(environ=environ)
    )
    app = graph.provide(Application)
    app.declare()
    yield OnMoto(graph, app.backend, prefix)  # type: ignore[arg-type]
    app.backend.close()


def test_a_queue_batch_reports_the_failure_and_dead_letters_the_rejected(moto: OnMoto) -> None:
    """Orders 1, 2, 3: 2 is reported (its visibility the backoff), 3 is in the DLQ with why."""
    publisher = moto.graph.provide(QueuePublisher)
    for n in (1, 2, 3):
        publisher.publish("orders", {"n": n}, attributes={"store": f"s{n}"})
    event = moto.event("orders", 3)
    by_n = {json.loads(json.loads(r["body"])["Message"])["n"]: r for r in event["Records"]}

    answer = sqs_handler(moto.graph)(event)

    assert answer == {"batchItemFailures": [{"itemIdentifier": by_n[2]["messageId"]}]}
    assert moto.dead_letter_reasons("orders", 1) == [
        "rejected by tests.integration.test_lambda.Orders: order 3 is for a closed store"
    ]
    [(n, context)] = moto.running(Orders).handled
    assert n == 1
    assert context.queue_name == "orders"
    assert context.receive_count == 1
    assert context.attributes == {"store": "s1"}
    assert context.sent_at is not None
    assert context.broker_message_id == by_n[1]["messageId"]


def test_a_failed_record_comes_back_after_the_backoff_and_then_succeeds(moto: OnMoto) -> None:
    """Reported with visibility = backoff: hidden until then, then received again and handled."""
    moto.graph.provide(QueuePublisher).publish("orders", {"n": 2})
    event = moto.event("orders", 1)
    handler = sqs_handler(moto.graph)

    first = handler(event)
    failed_at = time.monotonic()
    moto.delete_unreported("orders", event, first)

    assert first == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    assert moto.visible("orders") == []  # hidden for the backoff, not the visibility timeout
    again = moto.event("orders", 1)
    assert time.monotonic() - failed_at >= BACKOFF - 0.5
    assert again["Records"][0]["attributes"]["ApproximateReceiveCount"] == "2"
    assert handler(again) == {"batchItemFailures": []}
    [(n, context)] = moto.running(Orders).handled
    assert (n, context.receive_count) == (2, 2)


def test_a_message_over_the_sqs_limit_is_read_from_s3_and_its_object_deleted(
    moto: OnMoto, moto_server: MotoServer
) -> None:
    """2 MiB: the record holds a pointer; the handler gets the whole order; S3 is emptied."""
    big = "x" * (2 * 1024 * 1024)
    moto.graph.provide(QueuePublisher).publish("orders", {"n": 1, "blob": big})
    event = moto.event("orders", 1)
    assert len(event["Records"][0]["body"]) < 1024  # a pointer to the S3 object
    s3 = boto3.client(
        "s3",
        endpoint_url=moto_server.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="melange-local",
        aws_secret_access_key="melange-local",
    )
    bucket = f"{moto.prefix}payloads"
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 1

    answer = sqs_handler(moto.graph)(event)

    assert answer == {"batchItemFailures": []}
    [(n, _)] = moto.running(Orders).handled
    assert (n, moto.running(Orders).sizes) == (1, [len(big)])
    # No topic feeds 'orders': the object is its message's alone, deleted with it.
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0


def test_a_poison_message_reaches_the_dlq_with_its_reason(moto: OnMoto) -> None:
    """A body that is not JSON: copied to orders-dlq with the reader's reason, not reported."""
    moto.client.send_message(QueueUrl=moto.url("orders"), MessageBody="not json {")
    event = moto.event("orders", 1)

    answer = sqs_handler(moto.graph)(event)

    assert answer == {"batchItemFailures": []}
    [reason] = moto.dead_letter_reasons("orders", 1)
    assert reason is not None and reason.startswith("DeserializationError: ")


def test_a_foreign_json_body_is_handled(moto: OnMoto) -> None:
    """Another producer's JSON, without any attribute: read as a dict and handled."""
    moto.client.send_message(QueueUrl=moto.url("orders"), MessageBody='{"n": 7}')

    answer = sqs_handler(moto.graph)(moto.event("orders", 1))

    assert answer == {"batchItemFailures": []}
    assert [n for n, _ in moto.running(Orders).handled] == [7]


@pytest.mark.parametrize("queue", ["events-raw", "events-enveloped"])
def test_a_topic_fed_queue_gives_the_sns_context_only_without_raw_delivery(
    moto: OnMoto, queue: str
) -> None:
    """Raw delivery on: no subject or topic. Off: the notification's subject and topic."""
    moto.graph.provide(TopicPublisher).publish(
        "order-events", {"n": 5}, subject="placed", attributes={"region": "eu"}
    )
    event = moto.event(queue, 1)

    answer = sqs_handler(moto.graph)(event)

    assert answer == {"batchItemFailures": []}
    cls = RawEvents if queue == "events-raw" else EnvelopedEvents
    [(n, context)] = moto.running(cls).handled
    assert n == 5
    assert context.queue_name == queue
    assert context.attributes == {"region": "eu"}
    if queue == "events-raw":
        assert (context.sns_subject, context.sns_topic_arn) == (None, None)
    else:
        assert context.sns_subject == "placed"
        assert (
            context.sns_topic_arn == f"arn:aws:sns:us-east-1:123456789012:{moto.prefix}order-events"
        )


def test_a_fifo_batch_stops_at_the_first_failure_and_reports_the_rest(moto: OnMoto) -> None:
    """Steps 1, 2, 3 of one group: 1 handled; 2 fails; 2 and 3 reported, 3 not handled."""
    publisher = moto.graph.provide(QueuePublisher)
    for n in (1, 2, 3):
        publisher.publish("steps.fifo", {"n": n}, message_group_id="g")
    event = moto.event("steps.fifo", 3)
    assert all(r["attributes"]["MessageGroupId"] == "g" for r in event["Records"])

    answer = sqs_handler(moto.graph)(event)

    ids = [r["messageId"] for r in event["Records"]]
    assert answer == {"batchItemFailures": [{"itemIdentifier": i} for i in ids[1:]]}
    assert moto.running(Steps).handled == [1]


def test_async_handlers_run_and_settle_as_sync_ones(moto: OnMoto) -> None:
    """Async handlers: 1 handled, 2 reported, 3 dead-lettered; two invocations share a loop."""
    publisher = moto.graph.provide(QueuePublisher)
    handler = sqs_handler(moto.graph)
    for n in (1, 2, 3):
        publisher.publish("async-orders", {"n": n})
    event = moto.event("async-orders", 3)
    by_n = {json.loads(json.loads(r["body"])["Message"])["n"]: r for r in event["Records"]}

    answer = handler(event)
    publisher.publish("async-orders", {"n": 4})
    second = handler(moto.event("async-orders", 1))

    assert answer == {"batchItemFailures": [{"itemIdentifier": by_n[2]["messageId"]}]}
    assert second == {"batchItemFailures": []}
    assert moto.running(AsyncOrders).handled == [1, 4]
    assert moto.dead_letter_reasons("async-orders", 1) == [
        "rejected by tests.integration.test_lambda.AsyncOrders: order 3 is for a closed store"
    ]


def alert_notifications(moto: OnMoto, *alerts: tuple[int, str]) -> list[dict[str, Any]]:
    """Publish the alerts; return the notifications (SNS's JSON) 'alerts-all' got for them."""
    publisher = moto.graph.provide(TopicPublisher)
    for n, severity in alerts:
        publisher.publish(
            "alerts", {"n": n}, subject=f"alert {n}", attributes={"severity": severity}
        )
    notifications = [json.loads(m["Body"]) for m in moto.receive("alerts-all", len(alerts))]
    return sorted(notifications, key=lambda body: int(body["Subject"].split()[-1]))


def test_sns_to_lambda_routes_by_topic_and_filter_policy(moto: OnMoto) -> None:
    """A high alert reaches both queues' consumers, a low one only the unfiltered one."""
    high, low = alert_notifications(moto, (1, "high"), (2, "low"))
    handler = sns_handler(moto.graph)

    assert handler(sns_event(high)) is None
    assert handler(sns_event(low)) is None

    [(n, context)] = moto.running(Alerts).handled
    assert n == 1
    assert context.sns_subject == "alert 1"
    assert context.sns_topic_arn == high["TopicArn"]
    assert context.queue_name == "alerts-high"
    assert moto.running(AlertLog).handled == [1, 2]


def test_a_failed_sns_notification_raises_and_makes_no_sqs_request(moto: OnMoto) -> None:
    """Alert 13 fails: NotificationFailedError with the reason; no SQS call with fake handles."""
    [failing] = alert_notifications(moto, (13, "high"))
    handler = sns_handler(moto.graph)
    requests: list[str] = []
    moto.client.meta.events.register(
        "before-send.sqs", lambda request, **_: requests.append(str(request.url))
    )

    with pytest.raises(NotificationFailedError) as raised:
        handler(sns_event(failing))

    assert raised.value.failures == (
        (failing["MessageId"], "alerts-high", "TimeoutError: the pager did not answer"),
    )
    assert requests == []
    assert moto.running(AlertLog).handled == [13]
    moto.visible("alerts-high")  # the hook counts SQS requests: it sees this one
    assert len(requests) == 2  # GetQueueUrl, ReceiveMessage
