"""melange: messaging for Python services that talk through Amazon SQS queues and SNS topics.

Importing melange never imports boto3; the SQS backends load it when first used. The
consuming side (dispatcher, consumers, deduplication) is loaded on first use too, so a
service that only publishes does not pay for it at start-up.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from melange.exceptions import MelangeError
from melange.messages import Destination, Envelope, OutgoingMessage, ReceivedMessage, SendOptions
from melange.publishers import QueuePublisher, TopicPublisher
from melange.topology import QueueSpec, SubscriptionSpec, TopicSpec

if TYPE_CHECKING:
    from melange.app import Application
    from melange.consumers import Consumer, MessageContext, SingleDispatchConsumer, consumer
    from melange.decisions import Backoff
    from melange.dedup import (
        DeduplicationCache,
        InMemoryDeduplicationCache,
        NullDeduplicationCache,
        RedisDeduplicationCache,
    )
    from melange.dispatcher import MessageDispatcher, SimpleMessageDispatcher
    from melange.options import AckPolicy, DispatcherOptions
    from melange.subscription import Subscription

__all__ = [
    "AckPolicy",
    "Application",
    "Backoff",
    "Consumer",
    "DeduplicationCache",
    "Destination",
    "DispatcherOptions",
    "Envelope",
    "InMemoryDeduplicationCache",
    "MelangeError",
    "MessageContext",
    "MessageDispatcher",
    "NullDeduplicationCache",
    "OutgoingMessage",
    "QueuePublisher",
    "QueueSpec",
    "ReceivedMessage",
    "RedisDeduplicationCache",
    "SendOptions",
    "SimpleMessageDispatcher",
    "SingleDispatchConsumer",
    "Subscription",
    "SubscriptionSpec",
    "TopicPublisher",
    "TopicSpec",
    "consumer",
]

_LAZY = {
    "AckPolicy": "melange.options",
    "Application": "melange.app",
    "Backoff": "melange.decisions",
    "DispatcherOptions": "melange.options",
    "Consumer": "melange.consumers",
    "MessageContext": "melange.consumers",
    "SingleDispatchConsumer": "melange.consumers",
    "consumer": "melange.consumers",
    "DeduplicationCache": "melange.dedup",
    "InMemoryDeduplicationCache": "melange.dedup",
    "NullDeduplicationCache": "melange.dedup",
    "RedisDeduplicationCache": "melange.dedup",
    "MessageDispatcher": "melange.dispatcher",
    "SimpleMessageDispatcher": "melange.dispatcher",
    "Subscription": "melange.subscription",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'melange' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
