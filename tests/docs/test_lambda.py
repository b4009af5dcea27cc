"""The Lambda page: its template grants what melange calls, and agrees with the application.

The SAM template (``docs/snippets/lambda/template.yaml``) is read as CloudFormation YAML.
Its queues must be the example's as its ``Subscription`` states them, so that ``python -m
melange declare`` finds them as they are; its mapping must ask for partial batch
responses; its policy must grant every SQS and SNS action melange makes while the
example's function handles a batch on moto (a success, a retry and a dead letter), which
a hook on the backend's clients records. The session the page shows is run by
``tests/examples/test_lambda_app.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from examples.lambda_app.app import INVOICES, InvoiceRequested, graph
from melange import Application, QueuePublisher
from melange.aws_lambda import sqs_event, sqs_handler
from melange.settings import load_settings
from tests.docs.run_snippets import page
from tests.support.polling import poll_until
from tests.support.servers import MotoServer

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "docs" / "snippets" / "lambda" / "template.yaml"


class CloudFormationLoader(yaml.SafeLoader):
    """Reads CloudFormation's short forms (``!GetAtt A.Arn``, ``!Ref X``, ``!Sub s``)."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value = loader.construct_scalar(node) if isinstance(node, yaml.ScalarNode) else None
    return {suffix: value}


CloudFormationLoader.add_multi_constructor("!", _tag)


@pytest.fixture(name="template", scope="module")
def fixture_template() -> dict[str, Any]:
    """Give the page's SAM template, read."""
    loaded: dict[str, Any] = yaml.load(TEMPLATE.read_text(), Loader=CloudFormationLoader)  # noqa: S506
    return loaded


def granted(template: dict[str, Any]) -> set[str]:
    """Return every action the function's policy statements allow."""
    function = template["Resources"]["InvoicingFunction"]["Properties"]
    actions: set[str] = set()
    for policy in function["Policies"]:
        for statement in policy["Statement"]:
            listed = statement["Action"]
            actions.update([listed] if isinstance(listed, str) else listed)
    return actions


def test_the_page_shows_the_function_the_template_and_the_session() -> None:
    """The page includes the function module, the template and the session it runs."""
    text = page("lambda.md")
    for included in (
        "examples/lambda_app/function.py",
        "examples/lambda_app/app.py",
        "lambda/template.yaml",
        "lambda/local_session.out",
    ):
        assert f'--8<-- "{included}"' in text


def test_the_mapping_reports_batch_item_failures(template: dict[str, Any]) -> None:
    """The SQS event: the invoices queue, a batch size, ReportBatchItemFailures."""
    function = template["Resources"]["InvoicingFunction"]["Properties"]
    mapping = function["Events"]["Invoices"]

    assert mapping["Type"] == "SQS"
    assert mapping["Properties"]["Queue"] == {"GetAtt": "Invoices.Arn"}
    assert mapping["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["Properties"]["BatchSize"] == 10
    assert function["Handler"] == "examples.lambda_app.function.handler"


def test_the_queues_are_the_subscriptions(template: dict[str, Any]) -> None:
    """Names, redrive policy and visibility timeout: as the consumer's Subscription states."""
    app = graph(load_settings(environ={})).provide(Application)
    [queue] = app.topology.queues
    resources = template["Resources"]
    declared = resources["Invoices"]["Properties"]
    dead = resources["InvoicesDeadLetters"]["Properties"]

    assert declared["QueueName"] == queue.name == INVOICES
    assert dead["QueueName"] == queue.spec.dead_letter_queue
    assert declared["RedrivePolicy"] == {
        "deadLetterTargetArn": {"GetAtt": "InvoicesDeadLetters.Arn"},
        "maxReceiveCount": queue.spec.max_receive_count,
    }
    assert declared["VisibilityTimeout"] == queue.spec.visibility_timeout
    timeout = template["Resources"]["InvoicingFunction"]["Properties"]["Timeout"]
    assert declared["VisibilityTimeout"] >= 6 * timeout  # AWS's advice


@pytest.fixture(name="environment")
def fixture_environment(moto_server: MotoServer, unique: str) -> dict[str, str]:
    """Give the example's settings on moto under this test's prefix."""
    return {
        "MELANGE_BACKEND": "local",
        "MELANGE_ENDPOINT_URL": moto_server.endpoint_url,
        "MELANGE_PREFIX": f"{unique}-",
        "MELANGE_LARGE_PAYLOAD_BUCKET": f"{unique}-payloads",
    }


def sqs_recorder(made: list[str]) -> Any:
    """Return a ``before-send`` hook appending each SQS request's operation to ``made``.

    melange sends its hot SQS requests itself (``sqs_direct``), through this event only.
    """

    def record(request: Any, **_: Any) -> None:
        target = request.headers["X-Amz-Target"]  # SQS's JSON protocol: AmazonSQS.<Operation>
        text = target.decode() if isinstance(target, bytes) else target
        made.append(f"sqs:{text.rpartition('.')[2]}")

    return record


def api_recorder(made: list[str], service: str) -> Any:
    """Return a ``before-call`` hook appending each call's ``service:Operation`` to ``made``."""

    def record(model: Any, **_: Any) -> None:
        made.append(f"{service}:{model.name}")

    return record


@pytest.fixture(name="queued")
def fixture_queued(environment: dict[str, str]) -> Iterator[list[dict[str, Any]]]:
    """Give four requests (ordinary, slow, bad, large) as the mapping receives them, on moto."""
    app_graph = graph(load_settings(environ=environment))
    app = app_graph.provide(Application)
    app.declare()
    publisher = app_graph.provide(QueuePublisher)
    for order_id, amount in (
        ("o-1", "10.00"),
        ("o-2-slow", "20.00"),
        ("o-3", "-1.00"),
        ("o-4" + "4" * 2 * 1024 * 1024, "30.00"),  # over the limit: through S3, both ways
    ):
        publisher.publish(INVOICES, InvoiceRequested(order_id, Decimal(amount), "eu"))
    client: Any = app.backend.backend.sqs_client  # type: ignore[attr-defined]
    url = client.get_queue_url(QueueName=environment["MELANGE_PREFIX"] + INVOICES)["QueueUrl"]
    messages: list[dict[str, Any]] = []

    def receive() -> int:
        answer = client.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages.extend(answer.get("Messages", []))
        return len(messages)

    poll_until(receive, lambda n: n >= 4, message="the four requests")
    yield messages
    app.backend.close()


def test_the_policy_grants_every_action_melange_makes(
    template: dict[str, Any], queued: list[dict[str, Any]], environment: dict[str, str]
) -> None:
    """A cold function's batch (success, retry, dead letter, S3): every action is granted."""
    function_graph = graph(load_settings(environ=environment))  # as a new execution environment
    handler = sqs_handler(function_graph)
    inner: Any = handler.app.backend.backend  # type: ignore[attr-defined]
    arn = inner.queue_arn(environment["MELANGE_PREFIX"] + INVOICES)  # the mapping knows it
    made: list[str] = []
    inner.sqs_client.meta.events.register("before-send.sqs", sqs_recorder(made))
    inner.sns_client.meta.events.register("before-call.sns", api_recorder(made, "sns"))
    s3: Any = handler.app.dispatcher_factory.payloads.client  # type: ignore[union-attr]
    s3.meta.events.register("before-call.s3", api_recorder(made, "s3"))

    answer = handler(sqs_event(queued, queue_arn=arn))

    assert len(answer["batchItemFailures"]) == 1
    actions = {operation.removesuffix("Batch") for operation in made}
    assert {
        "sqs:ChangeMessageVisibility",
        "sqs:SendMessage",
        "sns:Publish",
        "s3:GetObject",
        "s3:PutObject",
        "s3:DeleteObject",
    } <= actions
    assert actions <= granted(template), sorted(actions - granted(template))
    mapping = {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}
    assert mapping <= granted(template)
    # Nothing is granted that neither the mapping nor melange uses, but what makes S3
    # answer a missing object with 404 rather than 403.
    assert granted(template) - actions - mapping == {"s3:ListBucket"}
