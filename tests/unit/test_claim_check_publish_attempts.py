"""What a publisher with a payload store sends the backend: large content goes to S3 first.

A message whose serialized content alone is over 1 MiB fits no queue or topic: the
publisher stores it before any send, rather than having the backend build the whole
inline body (escaping megabytes of JSON once more and scanning them for characters SQS
refuses) only to refuse it. A message that may fit is still tried inline first. Content
that cannot be stored as UTF-8 text is refused with melange's ``SerializationError``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from melange import QueuePublisher, TopicPublisher
from melange.aio import AsyncInMemoryBackend, AsyncQueuePublisher, AsyncTopicPublisher
from melange.backends import InMemoryBackend
from melange.exceptions import SerializationError
from melange.limits import SQS_MAX_MESSAGE_BYTES
from melange.messages import BatchResult, Destination, OutgoingMessage
from melange.payloads import AsyncInMemoryPayloadStore, InMemoryPayloadStore, LargePayloads
from melange.serializers import JsonSerializer, SerializerRegistry
from tests.support import halves

#: Content over every destination's limit (SQS's 1 MiB is the largest).
HUGE = "x" * (SQS_MAX_MESSAGE_BYTES + 10)
#: Content over SNS's default 256 KiB but under SQS's 1 MiB.
MIDDLING = "y" * 300_000


class RecordingBackend(InMemoryBackend):
    """The in-memory backend, noting of each publish which messages carried a pointer."""

    def __init__(self) -> None:
        super().__init__()
        self.attempts: list[list[bool]] = []

    def publish(self, destination: Destination, messages: Sequence[OutgoingMessage]) -> BatchResult:
        """Note the attempt, then publish as the in-memory backend does (refusals included)."""
        self.attempts.append([message.claim_check is not None for message in messages])
        return super().publish(destination, messages)


@pytest.fixture(name="backend")
def fixture_backend() -> RecordingBackend:
    """Give a recording backend with queue 'big' and topic 'events' feeding queue 'raw'."""
    backend = RecordingBackend()
    backend.declare_queue("big")
    backend.declare_topic("events")
    backend.declare_queue("raw", topics=["events"], raw_message_delivery=True)
    return backend


def publish(
    half: halves.Half,
    backend: RecordingBackend,
    destination: str,
    items: list[object],
    store: InMemoryPayloadStore | None = None,
) -> None:
    """Publish ``items`` with ``publish_many`` through a publisher of ``half`` with a store."""
    registry = SerializerRegistry({"serializers": {"json": JsonSerializer}})
    store = store or InMemoryPayloadStore(LargePayloads(bucket="payloads"))
    to_topic = destination == "events"
    if half == "threads":
        cls = TopicPublisher if to_topic else QueuePublisher
        cls(registry, backend, payloads=store).publish_many(destination, items)
        return
    acls = AsyncTopicPublisher if to_topic else AsyncQueuePublisher
    publisher = acls(
        registry, AsyncInMemoryBackend(backend), payloads=AsyncInMemoryPayloadStore(store)
    )
    asyncio.run(publisher.publish_many(destination, items))


@pytest.mark.parametrize("half", halves.HALVES)
@pytest.mark.parametrize("destination", ["big", "events"])
def test_content_over_every_limit_is_stored_before_any_send(
    half: halves.Half, backend: RecordingBackend, destination: str
) -> None:
    """One publish, already carrying the pointer: no inline attempt the backend must refuse."""
    publish(half, backend, destination, [{"n": 1}, {"b": HUGE}])
    assert backend.attempts == [[False, True]]


@pytest.mark.parametrize("half", halves.HALVES)
def test_content_that_may_fit_is_tried_inline_first(
    half: halves.Half, backend: RecordingBackend
) -> None:
    """Under 1 MiB but over the topic's 256 KiB: refused inline, then sent as a pointer."""
    publish(half, backend, "events", [{"b": MIDDLING}])
    assert backend.attempts == [[False], [True]]


@pytest.mark.parametrize("half", halves.HALVES)
@pytest.mark.parametrize("always", [False, True], ids=["over-1-MiB", "always"])
def test_a_topic_message_that_is_no_utf8_text_is_refused_before_storing(
    half: halves.Half, backend: RecordingBackend, always: bool
) -> None:
    """A lone surrogate (JSON keeps it raw in a topic's message): SerializationError, not sent.

    S3 stores text as UTF-8, which cannot encode it; refused as melange refuses it inline,
    naming the character, rather than with a UnicodeEncodeError from the store.
    """
    store = InMemoryPayloadStore(LargePayloads(bucket="payloads", always=always))
    text = "\ud800" + ("" if always else HUGE)
    with pytest.raises(SerializationError, match=r"contains '\\ud800' at position"):
        publish(half, backend, "events", [{"b": text}], store)
    assert backend.attempts == []
    assert store.objects() == {}
