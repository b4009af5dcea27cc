"""Ambiguous publish failures through a real server: the request arrives, the answer does not.

A loopback TCP proxy (``AnswerLosingProxy``) sits in front of moto_server. While it is told to
lose answers, it forwards each publish request to moto, reads moto's answer, and resets the
client connection instead of relaying it: the message is delivered, the publisher sees a
reset. Publishing again with the error's message id delivers a copy with the same melange
message id, which a deduplicating dispatcher handles once.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from melange import MessageDispatcher, QueuePublisher, TopicPublisher, wire
from melange.backends import LocalSQSBackend
from melange.backends.sqs.backend import SqsBackend
from melange.consuming.consumers import Consumer
from melange.consuming.dedup import InMemoryDeduplicationCache
from melange.exceptions import BackendError, BatchPublishError
from tests.support.loopback import AnswerLosingProxy
from tests.support.messaging import json_registry
from tests.support.polling import poll_until
from tests.support.servers import MotoServer

pytestmark = pytest.mark.integration


@pytest.fixture(name="proxy")
def fixture_proxy(moto_server: MotoServer) -> Iterator[AnswerLosingProxy]:
    """Give a proxy in front of the session's moto server, relaying answers until told not to."""
    proxy = AnswerLosingProxy((moto_server.host, moto_server.port))
    yield proxy
    proxy.close()


@pytest.fixture(name="direct")
def fixture_direct(moto_server: MotoServer) -> Iterator[SqsBackend]:
    """Give a backend talking to moto directly, to declare and to consume."""
    backend = LocalSQSBackend(host=moto_server.host, port=moto_server.port)
    yield backend
    backend.close()


@pytest.fixture(name="proxied")
def fixture_proxied(proxy: AnswerLosingProxy) -> Iterator[SqsBackend]:
    """Give a backend whose requests go through the proxy."""
    backend = LocalSQSBackend(host="127.0.0.1", port=proxy.port)
    yield backend
    backend.close()


def _copies(direct: SqsBackend, queue: str, least: int) -> list[str]:
    """Return the melange message ids on ``queue`` once at least ``least`` copies are there."""
    ids: list[str] = []

    def look() -> int:
        batch = direct.receive(queue, max_messages=10, visibility_timeout=0)
        ids.clear()
        ids.extend(wire.unwrap(m).message_id for m in batch)
        return len(batch)

    poll_until(look, lambda n: n >= least, message=f"{least} copies on {queue}")
    return ids


def _handled_once(direct: SqsBackend, queue: str) -> list[Any]:
    handled: list[Any] = []
    dispatcher = MessageDispatcher(
        json_registry(),
        direct,
        consumers=[Consumer(handled.append, name="recorder")],
        cache=InMemoryDeduplicationCache(),
    )
    dispatcher.process_available(queue)
    return handled


@pytest.mark.parametrize("route", ["queue", "topic"])
def test_a_publish_reset_after_delivery_is_resent_with_its_id(
    direct: SqsBackend, proxied: SqsBackend, proxy: AnswerLosingProxy, unique: str, route: str
) -> None:
    """A publish that raised names its id; the message arrived, and a resend is handled once."""
    queue, topic = f"{unique}-q", f"{unique}-t"
    direct.declare_queue(queue, topics=[topic])
    publisher: QueuePublisher | TopicPublisher
    publisher = QueuePublisher(json_registry(), proxied)
    destination = queue
    if route == "topic":
        publisher, destination = TopicPublisher(json_registry(), proxied), topic
    publisher.publish(destination, {"warm": "up"})  # resolves the URL/ARN through the proxy
    assert _handled_once(direct, queue) == [{"warm": "up"}]

    proxy.losing = True
    with pytest.raises(BackendError) as info:
        publisher.publish(destination, {"order": 42})
    proxy.losing = False
    message_id = info.value.message_id
    delivered = _copies(direct, queue, least=1)
    resent = publisher.publish(destination, {"order": 42}, message_id=message_id)

    assert message_id is not None
    assert proxy.lost >= 1
    assert delivered == [message_id] * len(delivered)
    assert resent == message_id
    assert _copies(direct, queue, least=len(delivered) + 1) == [message_id] * (len(delivered) + 1)
    assert _handled_once(direct, queue) == [{"order": 42}]


def test_batch_entries_reported_failed_after_delivery_are_resent_with_their_ids(
    direct: SqsBackend, proxied: SqsBackend, proxy: AnswerLosingProxy, unique: str
) -> None:
    """Entries of a reset batch are reported failed with their ids; resent, each is handled once."""
    queue = f"{unique}-q"
    direct.declare_queue(queue)
    publisher = QueuePublisher(json_registry(), proxied)
    publisher.publish(queue, {"warm": "up"})
    assert _handled_once(direct, queue) == [{"warm": "up"}]
    items = [{"n": n} for n in range(5)]

    proxy.losing = True
    with pytest.raises(BatchPublishError) as info:
        publisher.publish_many(queue, items)
    proxy.losing = False
    failures = info.value.failures
    _copies(direct, queue, least=5)
    resent = publisher.publish_many(
        queue, [items[f.index] for f in failures], message_ids=[f.message_id for f in failures]
    )

    assert [f.index for f in failures] == list(range(5))
    assert resent == [f.message_id for f in failures]
    handled = _handled_once(direct, queue)
    assert sorted(handled, key=lambda item: item["n"]) == items
