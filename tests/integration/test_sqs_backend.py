"""What only the SQS/SNS backend does: requests on the wire, policies, endpoints, errors."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from melange import MessageDispatcher, QueuePublisher, TopicPublisher
from melange.backends import AWSBackend, LocalSQSBackend, backend_from_settings
from melange.backends.sqs.backend import SqsBackend
from melange.backends.sqs.options import Endpoints, RetryBudget
from melange.backends.sqs.requests import POLICY_SID
from melange.exceptions import (
    BackendUnavailableError,
    BatchPublishError,
    ConfigurationError,
    MessageTooLargeError,
    QueueNotFoundError,
    TopicNotFoundError,
)
from melange.settings import load_settings
from tests.support.messaging import contents, json_registry, receive_all
from tests.support.polling import poll_until
from tests.support.requests import RequestLog
from tests.support.servers import MotoServer, free_port

pytestmark = pytest.mark.integration


@pytest.fixture(name="backend")
def fixture_backend(moto_server: MotoServer) -> Iterator[SqsBackend]:
    """Give an SQS backend on the session's moto server."""
    backend = LocalSQSBackend(host=moto_server.host, port=moto_server.port)
    yield backend
    backend.close()


@pytest.fixture(name="requests_sent")
def fixture_requests_sent(backend: SqsBackend) -> RequestLog:
    """Give a log of every request the backend's SQS and SNS clients send from now on."""
    log = RequestLog().watch(backend.sqs_client)
    return log.watch(backend.sns_client)


def test_publish_sends_exactly_one_request_per_message(
    backend: SqsBackend, requests_sent: RequestLog, unique: str
) -> None:
    """QueuePublisher.publish and TopicPublisher.publish make one request each, no lookups."""
    backend.declare_queue(f"{unique}-q", topics=[f"{unique}-t"])
    requests_sent.clear()
    for n in range(5):
        QueuePublisher(json_registry(), backend).publish(f"{unique}-q", {"n": n})
        TopicPublisher(json_registry(), backend).publish(f"{unique}-t", {"n": n})
    assert requests_sent.operations == ["SendMessage", "Publish"] * 5


def test_publish_many_sends_ten_entries_per_request(
    backend: SqsBackend, requests_sent: RequestLog, unique: str
) -> None:
    """25 small messages go out in three SendMessageBatch requests."""
    backend.declare_queue(f"{unique}-q")
    requests_sent.clear()
    QueuePublisher(json_registry(), backend).publish_many(f"{unique}-q", range(25))
    assert requests_sent.operations == ["SendMessageBatch"] * 3


def test_publish_many_splits_batches_by_size(
    backend: SqsBackend, requests_sent: RequestLog, unique: str
) -> None:
    """Ten 300 KB messages are split so that no request exceeds SQS's 1 MiB batch limit."""
    backend.declare_queue(f"{unique}-q")
    requests_sent.clear()
    ids = QueuePublisher(json_registry(), backend).publish_many(
        f"{unique}-q", ["x" * 300_000 for _ in range(10)]
    )
    assert requests_sent.operations == ["SendMessageBatch"] * 4  # 3 + 3 + 3 + 1
    assert len(receive_all(backend, f"{unique}-q", 10)) == len(ids) == 10


def test_batch_failure_reports_every_entry_not_accepted(backend: SqsBackend, unique: str) -> None:
    """When the queue vanishes after one batch, the 15 later entries are reported, not lost."""
    queue = f"{unique}-q"
    backend.declare_queue(queue)
    url = backend.sqs_client.get_queue_url(QueueName=queue)["QueueUrl"]
    remover = boto3.client(
        "sqs",
        endpoint_url=backend.sqs_client.meta.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )

    batches_sent = []

    def delete_queue_before_the_second_batch(**_: Any) -> None:
        batches_sent.append(1)
        if len(batches_sent) == 2:
            remover.delete_queue(QueueUrl=url)

    # before-send, not after-call: sends go straight to SQS (sqs_direct), and only the
    # before-send event is emitted for them.
    event = "before-send.sqs.SendMessageBatch"
    backend.sqs_client.meta.events.register(event, delete_queue_before_the_second_batch)
    with pytest.raises(BatchPublishError) as error:
        QueuePublisher(json_registry(), backend).publish_many(queue, range(25))
    assert [f.index for f in error.value.failures] == list(range(10, 25))
    assert len(error.value.succeeded) == 10
    assert "15 of 25 messages" in str(error.value)


def test_one_policy_statement_allows_every_subscribed_topic(
    backend: SqsBackend, unique: str
) -> None:
    """A queue subscribed to three topics in two declarations has one statement naming all."""
    queue = f"{unique}-q"
    backend.declare_queue(queue, topics=[f"{unique}-a", f"{unique}-b"])
    backend.declare_queue(queue, topics=[f"{unique}-c"])
    url = backend.sqs_client.get_queue_url(QueueName=queue)["QueueUrl"]
    raw = backend.sqs_client.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])
    statements = json.loads(raw["Attributes"]["Policy"])["Statement"]
    assert [s["Sid"] for s in statements] == [POLICY_SID]
    sources = statements[0]["Condition"]["ArnEquals"]["aws:SourceArn"]
    assert sorted(arn.rsplit(":", 1)[-1] for arn in sources) == [
        f"{unique}-a",
        f"{unique}-b",
        f"{unique}-c",
    ]
    publisher = TopicPublisher(json_registry(), backend)
    for topic in ("a", "b", "c"):
        publisher.publish(f"{unique}-{topic}", {"from": topic})
    assert sorted(c["from"] for c in contents(receive_all(backend, queue, 3))) == ["a", "b", "c"]


def test_publish_timeouts_come_from_the_settings(moto_server: MotoServer) -> None:
    """MELANGE_PUBLISH_CONNECT_TIMEOUT and _READ_TIMEOUT set the publishing clients' timeouts."""
    settings = load_settings(
        environ={
            "MELANGE_BACKEND": "local",
            "MELANGE_ENDPOINT_URL": moto_server.endpoint_url,
            "MELANGE_PUBLISH_CONNECT_TIMEOUT": "1.5",
            "MELANGE_PUBLISH_READ_TIMEOUT": "3",
        }
    )
    backend = backend_from_settings(settings)
    assert isinstance(backend, SqsBackend)
    for client in (backend.sqs_client, backend.sns_client):
        config = client.meta.config
        assert (config.connect_timeout, config.read_timeout) == (1.5, 3.0)
        assert config.retries == {"mode": "standard", "total_max_attempts": 2}
    backend.close()


def test_request_hooks_on_the_sqs_client_see_receives(
    backend: SqsBackend, requests_sent: RequestLog, unique: str
) -> None:
    """Receives go through their own client, yet hooks on sqs_client count them."""
    backend.declare_queue(f"{unique}-q")
    requests_sent.clear()
    backend.receive(f"{unique}-q", wait_time_seconds=0)
    backend.receive(f"{unique}-q", wait_time_seconds=1)
    assert requests_sent.operations == ["ReceiveMessage", "ReceiveMessage"]


def test_unreachable_endpoint_raises_backend_unavailable() -> None:
    """A closed port gives BackendUnavailableError naming the operation, not a botocore error."""
    backend = LocalSQSBackend(host="127.0.0.1", port=free_port(), retries=RetryBudget(1))
    with pytest.raises(BackendUnavailableError, match="could not reach the endpoint") as error:
        backend.declare_queue("anything")
    assert error.value.operation == "GetQueueUrl"


def test_an_unreachable_endpoint_names_its_url_and_the_setting() -> None:
    """A closed port's error names the URL tried and MELANGE_ENDPOINT_URL, not STS."""
    port = free_port()
    backend = LocalSQSBackend(host="127.0.0.1", port=port, retries=RetryBudget(1))
    url = f"http://127.0.0.1:{port}/"
    registry = json_registry()
    attempts = {
        "GetQueueUrl": lambda: backend.declare_queue("anything"),
        "GetCallerIdentity": lambda: TopicPublisher(registry, backend).publish("events", {}),
    }

    for operation, attempt in attempts.items():
        with pytest.raises(BackendUnavailableError) as error:
            attempt()
        assert error.value.operation == operation
        assert error.value.endpoint_url == url
        assert url in str(error.value)
        assert "MELANGE_ENDPOINT_URL" in str(error.value)
        assert "STS" not in str(error.value)  # the endpoint is at fault, not a service of it
    backend.close()


@pytest.mark.parametrize(
    "host_form", ["{host}", "http://{host}", "http://{host}:{port}", "{host}:{port}"]
)
def test_local_backend_accepts_host_with_or_without_scheme(
    moto_server: MotoServer, host_form: str, unique: str
) -> None:
    """LocalSQSBackend reaches the emulator whether the host has a scheme and port or not."""
    host = host_form.format(host=moto_server.host, port=moto_server.port)
    backend = LocalSQSBackend(host=host, port=moto_server.port)
    backend.declare_queue(f"{unique}-q")
    QueuePublisher(json_registry(), backend).publish(f"{unique}-q", {"ok": True})
    assert contents(receive_all(backend, f"{unique}-q", 1)) == [{"ok": True}]


def test_a_local_host_without_a_name_is_refused() -> None:
    """A host string with no host name is refused with a configuration error naming it."""
    assert Endpoints.local("https://sqs.example:8443").sqs_url == "https://sqs.example:8443"
    with pytest.raises(ConfigurationError, match="'http://'"):
        LocalSQSBackend(host="http://")


def test_aws_backend_without_region_asks_for_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    """AWSBackend with no region anywhere raises ConfigurationError naming AWS_REGION."""
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    with pytest.raises(ConfigurationError, match="AWS_REGION"):
        AWSBackend()


def test_concurrent_publishers_share_one_backend(backend: SqsBackend, unique: str) -> None:
    """Eight threads publishing through one backend deliver all 80 messages."""
    backend.declare_queue(f"{unique}-q")
    publisher = QueuePublisher(json_registry(), backend)

    def publish_ten(worker: int) -> None:
        for n in range(10):
            publisher.publish(f"{unique}-q", {"worker": worker, "n": n})

    threads = [threading.Thread(target=publish_ten, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    received = contents(receive_all(backend, f"{unique}-q", 80))
    assert sorted((c["worker"], c["n"]) for c in received) == [
        (w, n) for w in range(8) for n in range(10)
    ]


def test_queue_deleted_elsewhere_is_reported_and_forgotten(
    backend: SqsBackend, unique: str
) -> None:
    """A cached URL of a deleted queue gives QueueNotFoundError, then works once redeclared."""
    queue = f"{unique}-q"
    backend.declare_queue(queue)
    publisher = QueuePublisher(json_registry(), backend)
    publisher.publish(queue, 1)
    url = backend.sqs_client.get_queue_url(QueueName=queue)["QueueUrl"]
    backend.sqs_client.delete_queue(QueueUrl=url)
    with pytest.raises(QueueNotFoundError, match=queue):
        publisher.publish(queue, 2)
    backend.declare_queue(queue)
    publisher.publish(queue, 3)
    assert contents(receive_all(backend, queue, 1)) == [3]


def test_topic_declared_elsewhere_is_found_by_name(
    moto_server: MotoServer, backend: SqsBackend, unique: str
) -> None:
    """A second backend publishes by name to a topic it never declared, looking it up once."""
    backend.declare_queue(f"{unique}-q", topics=[f"{unique}-t"])
    other = LocalSQSBackend(host=moto_server.host, port=moto_server.port)
    log = RequestLog().watch(other.sns_client)
    publisher = TopicPublisher(json_registry(), other)
    publisher.publish(f"{unique}-t", {"n": 1})
    publisher.publish(f"{unique}-t", {"n": 2})
    assert log.operations == ["GetTopicAttributes", "Publish", "Publish"]
    assert sorted(c["n"] for c in contents(receive_all(backend, f"{unique}-q", 2))) == [1, 2]


def test_dispatcher_backs_off_while_the_endpoint_is_down(unique: str) -> None:
    """Against a dead endpoint the dispatcher stays up, retries with growing pauses, stops fast."""
    backend = LocalSQSBackend(host="127.0.0.1", port=free_port(), retries=RetryBudget(1))
    log = RequestLog().watch(backend.sqs_client)  # URL lookups included
    dispatcher = MessageDispatcher(json_registry(), backend, wait_time_seconds=1)
    thread = threading.Thread(target=dispatcher.run, args=(f"{unique}-q",), daemon=True)
    thread.start()
    poll_until(lambda: len(log.operations), lambda n: n >= 3, timeout=15, message="3 attempts")
    assert thread.is_alive()
    # Pauses of about 0.5, 1 and 2 s: three attempts take over a second, a spinning loop
    # would have made hundreds.
    assert len(log.operations) < 10
    stopped_at = time.monotonic()
    dispatcher.stop()
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert time.monotonic() - stopped_at < 5


# -- topics: resolved with one request each, with their own size limit ------------------


@pytest.fixture(name="session_log")
def fixture_session_log() -> RequestLog:
    """Give a log of the requests of every client made from ``session_for`` sessions."""
    return RequestLog()


def session_for(log: RequestLog) -> boto3.Session:
    """Return a session for moto whose clients, STS's included, report requests to ``log``."""
    session = boto3.Session(
        aws_access_key_id="melange-local",
        aws_secret_access_key="melange-local",
        region_name="us-east-1",
    )
    session.events.register("before-send", log)
    return session


def test_resolving_a_topic_among_250_costs_one_request(
    moto_server: MotoServer, backend: SqsBackend, session_log: RequestLog, unique: str
) -> None:
    """With 250 topics, a fresh backend resolves each topic with one GetTopicAttributes."""
    names = [f"{unique}-{n:03}" for n in range(250)]
    arns = [backend.sns_client.create_topic(Name=name)["TopicArn"] for name in names]
    try:
        fresh = SqsBackend(
            session=session_for(session_log),
            endpoints=Endpoints(sqs_url=moto_server.endpoint_url, sts_url=moto_server.endpoint_url),
        )
        publisher = TopicPublisher(json_registry(), fresh)
        for name in (names[249], names[0], names[249]):
            publisher.publish(name, {"to": name})
        assert session_log.operations == [
            "GetCallerIdentity",  # the account, once per backend
            "GetTopicAttributes",
            "Publish",
            "GetTopicAttributes",
            "Publish",
            "Publish",
        ]
        fresh.close()
    finally:
        for arn in arns:
            backend.sns_client.delete_topic(TopicArn=arn)


def test_a_topic_arn_is_confirmed_once(
    moto_server: MotoServer, backend: SqsBackend, session_log: RequestLog, unique: str
) -> None:
    """Publishing to a topic by its ARN confirms it once, without STS or ListTopics."""
    arn = backend.sns_client.create_topic(Name=f"{unique}-t")["TopicArn"]
    fresh = SqsBackend(
        session=session_for(session_log), endpoints=Endpoints(sqs_url=moto_server.endpoint_url)
    )
    publisher = TopicPublisher(json_registry(), fresh)
    publisher.publish(arn, {"n": 1})
    publisher.publish(arn, {"n": 2})
    assert session_log.operations == ["GetTopicAttributes", "Publish", "Publish"]
    fresh.close()


def test_a_missing_topic_is_reported_after_one_request(
    moto_server: MotoServer, session_log: RequestLog, unique: str
) -> None:
    """Publishing to a topic nobody declared raises TopicNotFoundError without listing topics."""
    fresh = SqsBackend(
        session=session_for(session_log),
        endpoints=Endpoints(sqs_url=moto_server.endpoint_url, account_id="123456789012"),  # moto's
    )
    with pytest.raises(TopicNotFoundError, match=f"{unique}-missing"):
        TopicPublisher(json_registry(), fresh).publish(f"{unique}-missing", {"n": 1})
    assert session_log.operations == ["GetTopicAttributes"]
    fresh.close()


@pytest.mark.xfail(
    raises=MessageTooLargeError,
    strict=True,
    reason="moto 5 ignores the MaximumMessageSize topic attribute (GetTopicAttributes omits "
    "it, Publish refuses over 256 KiB); AWS accepts 1,024-1,048,576 bytes and checks each "
    "publish against it ('Publishing large messages with Amazon SNS'). "
    "test_sqs_faults.py::test_a_topic_allowing_1_mib_takes_a_500_kb_publish covers melange",
)
def test_a_topic_allowing_1_mib_takes_what_a_default_topic_refuses(
    backend: SqsBackend, requests_sent: RequestLog, unique: str
) -> None:
    """A topic set to 1 MiB takes a 500 KB publish that a default topic refuses unsent."""
    backend.declare_topic(f"{unique}-default")
    backend.sns_client.create_topic(
        Name=f"{unique}-large", Attributes={"MaximumMessageSize": "1048576"}
    )
    publisher = TopicPublisher(json_registry(), backend)
    requests_sent.clear()
    with pytest.raises(MessageTooLargeError):
        publisher.publish(f"{unique}-default", "x" * 500_000)
    assert requests_sent.operations == []
    publisher.publish(f"{unique}-large", "x" * 500_000)
    assert requests_sent.operations == ["GetTopicAttributes", "Publish"]
