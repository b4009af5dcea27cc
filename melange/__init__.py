"""melange: messaging for Python services that talk through Amazon SQS queues and SNS topics.

Importing melange never imports boto3; the SQS backends load it when first used. The
consuming side (dispatcher, consumers, deduplication) is loaded on first use too, so a
service that only publishes does not pay for it at start-up.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from melange.exceptions import MelangeError
from melange.messages import Envelope, OutgoingMessage, ReceivedMessage, SendOptions
from melange.publishers import QueuePublisher, TopicPublisher

if TYPE_CHECKING:
    from melange.consumers import Consumer, SingleDispatchConsumer, consumer
    from melange.dedup import (
        DeduplicationCache,
        InMemoryDeduplicationCache,
        RedisDeduplicationCache,
    )
    from melange.dispatcher import MessageDispatcher, SimpleMessageDispatcher
    from melange.retry import Backoff

__all__ = [
    "Backoff",
    "Consumer",
    "DeduplicationCache",
    "Envelope",
    "InMemoryDeduplicationCache",
    "MelangeError",
    "MessageDispatcher",
    "OutgoingMessage",
    "QueuePublisher",
    "ReceivedMessage",
    "RedisDeduplicationCache",
    "SendOptions",
    "SimpleMessageDispatcher",
    "SingleDispatchConsumer",
    "TopicPublisher",
    "consumer",
]

_LAZY = {
    "Backoff": "melange.retry",
    "Consumer": "melange.consumers",
    "SingleDispatchConsumer": "melange.consumers",
    "consumer": "melange.consumers",
    "DeduplicationCache": "melange.dedup",
    "InMemoryDeduplicationCache": "melange.dedup",
    "RedisDeduplicationCache": "melange.dedup",
    "MessageDispatcher": "melange.dispatcher",
    "SimpleMessageDispatcher": "melange.dispatcher",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'melange' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
