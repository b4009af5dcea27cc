"""The hot SQS requests sent directly (``sqs_direct``) behave as the same requests through botocore.

Each behaviour runs with ``direct_requests`` on (the default) and off, on the session's moto
and fauxqs servers; what the two paths share (errors, timeouts, retries) is also covered by
``test_sqs_faults.py`` and the contract suites, which run with the default.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from melange import wire
from melange.backends import LocalSQSBackend, backend_from_settings
from melange.backends.sqs.backend import SqsBackend
from melange.backends.sqs.direct import retry_pause, should_retry
from melange.exceptions import QueueNotFoundError
from melange.messages import AttributeValue, Destination, Envelope, OutgoingMessage
from melange.settings import load_settings
from tests.support.messaging import receive_all
from tests.support.polling import poll_until
from tests.support.requests import RequestLog
from tests.support.servers import FauxqsServer, MotoServer

pytestmark = pytest.mark.integration

#: A config directory with no .env files: the settings come from the test's environ alone.
EMPTY_CONFIG = Path(__file__).parent / "no-such-config-dir"

ATTRIBUTES: dict[str, AttributeValue] = {
    "raw": b"\x00\xffbinary\n",
    "count": 42,
    "label": "caf\u00e9",
}


@pytest.fixture(name="backend", params=["moto-direct", "moto-botocore", "fauxqs-direct"])
def fixture_backend(request: pytest.FixtureRequest) -> Iterator[SqsBackend]:
    """Give a backend on moto or fauxqs, sending the hot requests directly or not."""
    server_name, path = request.param.split("-")
    server: MotoServer | FauxqsServer = request.getfixturevalue(f"{server_name}_server")
    backend = LocalSQSBackend(server.host, server.port, direct_requests=path == "direct")
    yield backend
    backend.close()


def outgoing(content: str) -> OutgoingMessage:
    """Return a message carrying ``content`` and the binary, number and text attributes."""
    return OutgoingMessage(envelope=Envelope(content, "m", 1, attributes=ATTRIBUTES))


def test_binary_number_and_text_attributes_round_trip(backend: SqsBackend, unique: str) -> None:
    """Attributes sent with SendMessage and SendMessageBatch are received with their types."""
    backend.declare_queue(unique)
    backend.publish(Destination.queue(unique), [outgoing("one")])
    backend.publish(Destination.queue(unique), [outgoing("two"), outgoing("three")])
    received = receive_all(backend, unique, 3)  # acknowledges them: DeleteMessageBatch
    assert sorted(wire.unwrap(m).content for m in received) == ["one", "three", "two"]
    for message in received:
        assert {k: message.attributes[k] for k in ATTRIBUTES} == ATTRIBUTES
    assert backend.receive(unique) == []  # the acknowledgements were accepted


def test_changed_visibility_hides_and_releases(backend: SqsBackend, unique: str) -> None:
    """ChangeMessageVisibilityBatch to 0 makes a received message visible again at once."""
    backend.declare_queue(unique)
    backend.publish(Destination.queue(unique), [outgoing("again")])
    first = poll_until(lambda: backend.receive(unique, visibility_timeout=60), timeout=10)
    assert backend.receive(unique) == []
    assert backend.change_visibility(unique, [first[0].receipt_handle], 0) == []
    again = poll_until(lambda: backend.receive(unique), timeout=10, message="the release")
    assert again[0].broker_message_id == first[0].broker_message_id
    assert again[0].receive_count == 2


def test_request_counters_on_the_client_see_every_request(backend: SqsBackend, unique: str) -> None:
    """A ``before-send`` hook on ``sqs_client`` counts direct requests as botocore's own."""
    backend.declare_queue(unique)
    log = RequestLog().watch(backend.sqs_client)
    backend.publish(Destination.queue(unique), [outgoing("counted")])
    received = poll_until(lambda: backend.receive(unique), timeout=10)
    backend.acknowledge(unique, [received[0].receipt_handle])
    counts = log.take()
    assert counts["SendMessage"] == 1
    assert counts["DeleteMessageBatch"] == 1
    assert counts["ReceiveMessage"] >= 1


def test_a_missing_queue_is_reported_by_name(backend: SqsBackend, unique: str) -> None:
    """A receive from a queue deleted behind the backend's back raises QueueNotFoundError."""
    backend.declare_queue(unique)
    assert backend.receive(unique) == []  # caches the queue's URL
    url = backend.sqs_client.get_queue_url(QueueName=unique)["QueueUrl"]
    backend.sqs_client.delete_queue(QueueUrl=url)
    with pytest.raises(QueueNotFoundError, match=unique):
        backend.receive(unique)


@pytest.mark.parametrize(
    ("codes", "status", "retried"),
    [
        (("", ""), 500, True),
        (("", ""), 503, True),
        (("RequestThrottled", ""), 400, True),
        (("ThrottlingException", "Throttling"), 400, True),
        (("InternalError", ""), 400, True),
        (("OverLimit", ""), 403, False),  # heals as messages settle: the dispatcher backs off
        (("AccessDenied", ""), 403, False),
        (("QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue"), 400, False),
        (("415", ""), 415, False),
    ],
)
def test_retried_at_once_as_botocore_standard_mode(
    codes: tuple[str, ...], status: int, retried: bool
) -> None:
    """Throttling, transient codes and 5xx are retried by the request; nothing else is."""
    assert should_retry(codes, status) is retried


def test_retry_pauses_are_jittered_up_to_a_doubling_cap() -> None:
    """The pause before a retry is at most 1, 2, 4 ... seconds, capped at 20."""
    assert [retry_pause(n, lambda: 1.0) for n in (1, 2, 3, 6, 9)] == [1.0, 2.0, 4.0, 20.0, 20.0]
    assert retry_pause(3, lambda: 0.5) == 2.0


@pytest.mark.parametrize(("setting", "botocore_sees_the_call"), [("false", True), ("true", False)])
def test_the_setting_routes_sends_through_botocore_or_not(
    moto_server: MotoServer, unique: str, setting: str, botocore_sees_the_call: bool
) -> None:
    """MELANGE_SQS_DIRECT_REQUESTS=false sends through botocore: its after-call hooks fire."""
    environ = {
        "MELANGE_BACKEND": "local",
        "MELANGE_ENDPOINT_URL": moto_server.endpoint_url,
        "MELANGE_SQS_DIRECT_REQUESTS": setting,
    }
    backend = backend_from_settings(load_settings(environ=environ, config_dir=EMPTY_CONFIG))
    assert isinstance(backend, SqsBackend)
    backend.declare_queue(unique)
    after_calls = RequestLog()
    backend.sqs_client.meta.events.register("after-call.sqs.SendMessage", after_calls)
    backend.publish(Destination.queue(unique), [outgoing("routed")])
    assert after_calls.count("SendMessage") == (1 if botocore_sees_the_call else 0)
    assert len(receive_all(backend, unique, 1)) == 1
    backend.close()
