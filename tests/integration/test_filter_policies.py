"""Filter policies on real brokers: what melange accepts, they accept; what it refuses, early.

For each rule of ``melange.topology.filter_policy``, a policy the validator accepts is
declared on the session's moto server, then on its fauxqs server, and read back unchanged
(a second declare is "as is"), and the policy it refuses raises ``DeclarationError``
before a single request is sent. Three refused policies, the issue's nested list among
them, show the agreement the other way: moto refuses them at Subscribe when they reach it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from melange.backends import LocalSQSBackend
from melange.backends.sqs.backend import SqsBackend
from melange.exceptions import DeclarationError
from melange.topology.declared import Effect
from melange.topology.specs import QueueSpec, SubscriptionSpec, TopicSpec
from tests.support.requests import RequestLog
from tests.support.servers import FauxqsServer, MotoServer

pytestmark = pytest.mark.integration


@pytest.fixture(name="backend")
def fixture_backend(moto_server: MotoServer) -> Iterator[SqsBackend]:
    """Give an SQS backend on the session's moto server."""
    backend = LocalSQSBackend(host=moto_server.host, port=moto_server.port)
    yield backend
    backend.close()


@pytest.fixture(name="broker_backend", params=["moto", "fauxqs"])
def fixture_broker_backend(request: pytest.FixtureRequest) -> Iterator[SqsBackend]:
    """Give an SQS backend on the session's moto server, then on its fauxqs server."""
    server: MotoServer | FauxqsServer = request.getfixturevalue(f"{request.param}_server")
    backend = LocalSQSBackend(host=server.host, port=server.port)
    yield backend
    backend.close()


def _pair(rule: str, accepted: dict[str, Any], refused: dict[str, Any]) -> Any:
    return pytest.param(accepted, refused, id=rule)


PAIRS = [
    _pair("values", {"tier": ["vip", "gold"], "size": [3, 4.5]}, {"tier": [["vip"]]}),
    _pair(
        "string-operators",
        {"tier": [{"prefix": "v"}, {"suffix": "p"}, {"equals-ignore-case": "VIP"}]},
        {"tier": [{"prefix": 3}]},
    ),
    _pair(
        "anything-but",
        {
            "tier": [
                {"anything-but": ["vip", "gold"]},
                {"anything-but": {"prefix": "v"}},
                {"anything-but": {"suffix": "p"}},
            ],
            "size": [{"anything-but": [100, 500]}, {"anything-but": 7}],
        },
        {"tier": [{"anything-but": []}]},
    ),
    _pair(
        "numeric",
        {"price": [{"numeric": [">", 0, "<=", 150]}, {"numeric": ["=", 301.5]}, 100]},
        {"price": [{"numeric": ["=>", 5]}]},
    ),
    _pair(
        "numeric-range",
        {"price": [{"numeric": [">=", -5, "<", 5]}]},
        {"price": [{"numeric": [">=", 5, "<", -5]}]},
    ),
    _pair(
        "exists",
        {"trace": [{"exists": True}], "tier": [{"anything-but": "vip"}, {"exists": False}]},
        {"trace": [{"exists": "yes"}]},
    ),
    _pair(
        "or",
        {"source": ["web"], "$or": [{"tier": ["gold"]}, {"region": [{"prefix": "eu-"}]}]},
        {"source": ["web"], "$or": [{"tier": ["gold"]}]},
    ),
    _pair("five-keys", {k: ["x"] for k in "abcde"}, {k: ["x"] for k in "abcdef"}),
    _pair(
        "150-combinations",
        {"a": list(range(10)), "b": list(range(15))},
        {"a": list(range(10)), "b": list(range(16))},
    ),
    _pair("number-range", {"n": [999_999_999.5, -999_999_999]}, {"n": [1_000_000_001]}),
    _pair("strings-not-booleans", {"vip": ["true"]}, {"vip": [True]}),
    _pair("not-empty", {"tier": [{"anything-but": "x"}]}, {"tier": []}),
]


@pytest.mark.parametrize(("accepted", "refused"), PAIRS)
def test_the_broker_accepts_what_melange_accepts_and_melange_refuses_before_any_request(
    broker_backend: SqsBackend, unique: str, accepted: dict[str, Any], refused: dict[str, Any]
) -> None:
    """The accepted policy is declared and read back as is; the refused one sends nothing."""
    backend = broker_backend
    queue, topic = f"{unique}-q", f"{unique}-t"
    backend.declare(TopicSpec(topic))
    backend.declare(QueueSpec(queue))
    spec = SubscriptionSpec(queue, (topic,), filter_policy=accepted)

    assert backend.declare(spec).effect is Effect.CREATED
    assert backend.declare(spec).effect is Effect.AS_IS

    sent = RequestLog().watch(backend.sns_client).watch(backend.sqs_client)
    with pytest.raises(DeclarationError) as caught:
        backend.declare(SubscriptionSpec(queue, (topic,), filter_policy=refused))
    assert caught.value.field == "filter_policy"
    assert sent.operations == []


def test_an_empty_policy_is_no_policy_and_declares_as_is_the_second_time(
    broker_backend: SqsBackend, unique: str
) -> None:
    """filter_policy={} filters nothing: stated as None, so a redeclare finds it as stated."""
    backend = broker_backend
    queue, topic = f"{unique}-q", f"{unique}-t"
    backend.declare(TopicSpec(topic))
    backend.declare(QueueSpec(queue))
    spec = SubscriptionSpec(queue, (topic,), filter_policy={})

    assert spec.filter_policy is None
    assert backend.declare(spec).effect is Effect.CREATED
    assert backend.declare(spec).effect is Effect.AS_IS


@pytest.mark.parametrize(
    "policy",
    [{"tier": [["vip"]]}, {"trace": [{"exists": "yes"}]}, {"price": [{"numeric": ["=>", 5]}]}],
    ids=["nested-list", "exists-not-boolean", "numeric-operator"],
)
def test_moto_refuses_at_subscribe_what_melange_refuses_before_it(
    backend: SqsBackend, unique: str, policy: dict[str, Any]
) -> None:
    """Sent to moto directly, the policy is an InvalidParameter; melange refuses it first."""
    queue, topic = f"{unique}-q", f"{unique}-t"
    backend.declare(TopicSpec(topic))
    backend.declare(QueueSpec(queue))
    topic_arn = backend.sns_client.create_topic(Name=topic)["TopicArn"]
    queue_url = backend.sqs_client.get_queue_url(QueueName=queue)["QueueUrl"]
    queue_arn = backend.sqs_client.get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]

    with pytest.raises(ClientError) as refused_by_moto:
        backend.sns_client.subscribe(
            TopicArn=topic_arn,
            Protocol="sqs",
            Endpoint=queue_arn,
            Attributes={"FilterPolicy": json.dumps(policy)},
        )
    with pytest.raises(DeclarationError):
        SubscriptionSpec(queue, (topic,), filter_policy=policy)

    assert refused_by_moto.value.response["Error"]["Code"] == "InvalidParameter"
