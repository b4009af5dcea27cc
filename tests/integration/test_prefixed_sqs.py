"""PrefixedBackend over the SQS backend on moto: errors name what the application types."""

from __future__ import annotations

from collections.abc import Iterator

import botocore.exceptions
import pytest

from melange.backends import LocalSQSBackend
from melange.backends.prefixed import PrefixedBackend
from melange.exceptions import QueueNotFoundError, TopicNotFoundError
from melange.messages import Destination, Envelope, OutgoingMessage
from tests.support.servers import MotoServer

pytestmark = pytest.mark.integration


@pytest.fixture(name="backend")
def fixture_backend(moto_server: MotoServer, unique: str) -> Iterator[PrefixedBackend]:
    """Give the SQS backend on moto, prefixed with a name unique to the test."""
    backend = PrefixedBackend(
        LocalSQSBackend(host=moto_server.host, port=moto_server.port), f"{unique}-"
    )
    yield backend
    backend.close()


def _message() -> OutgoingMessage:
    return OutgoingMessage(Envelope(content="{}", manifest="json", serializer_id=1))


def test_a_missing_queue_on_sqs_is_named_as_the_application_names_it(
    backend: PrefixedBackend, unique: str
) -> None:
    """SQS's QueueDoesNotExist is reported for 'refunds', with the prefixed name and its cause."""
    with pytest.raises(QueueNotFoundError) as caught:
        backend.publish(Destination.queue("refunds"), [_message()])

    error = caught.value
    assert (error.queue_name, error.broker_name) == ("refunds", f"{unique}-refunds")
    assert "backend.declare_queue('refunds')" in str(error)
    assert isinstance(error.__cause__, botocore.exceptions.ClientError)

    backend.declare_queue("refunds")  # the hint, typed as written
    backend.publish(Destination.queue("refunds"), [_message()])


def test_a_missing_topic_on_sns_is_named_as_the_application_names_it(
    backend: PrefixedBackend, unique: str
) -> None:
    """A topic SNS does not know is reported for 'refund-events', with the prefixed name."""
    with pytest.raises(TopicNotFoundError) as caught:
        backend.publish(Destination.topic("refund-events"), [_message()])

    error = caught.value
    assert (error.topic_name, error.broker_name) == ("refund-events", f"{unique}-refund-events")
    assert "backend.declare_topic('refund-events')" in str(error)
