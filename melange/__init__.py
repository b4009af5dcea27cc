"""melange: messaging for Python services that talk through Amazon SQS queues and SNS topics.

Importing melange never imports boto3; the SQS backends load it when first used. Every
name here is loaded on first use too (kombu's way), so a service that only publishes
does not pay for the consuming side at start-up, and ``import melange`` costs next to
nothing. melange 7's names
(``SingleDispatchConsumer``, ``SimpleMessageDispatcher``) still resolve, through
``melange.compat``, with a ``DeprecationWarning`` naming the new one.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from melange.exceptions import MelangeError, Reject

if TYPE_CHECKING:
    from melange.app.application import Application

    # melange 7's names, for type checkers; at run time they warn (melange.compat).
    from melange.compat import SimpleMessageDispatcher as SimpleMessageDispatcher
    from melange.compat import SingleDispatchConsumer as SingleDispatchConsumer
    from melange.consuming.consumers import Consumer, MessageContext, consumer
    from melange.consuming.dedup import (
        DeduplicationCache,
        InMemoryDeduplicationCache,
        NullDeduplicationCache,
        RedisDeduplicationCache,
    )
    from melange.consuming.dispatcher import MessageDispatcher
    from melange.consuming.subscription import Subscription
    from melange.messages import (
        Destination,
        Envelope,
        OutgoingMessage,
        ReceivedMessage,
        SendOptions,
    )
    from melange.options import AckPolicy, Backoff, DispatcherOptions
    from melange.publishing._sync.publishers import QueuePublisher, TopicPublisher
    from melange.topology.specs import QueueSpec, SubscriptionSpec, TopicSpec

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
    "Reject",
    "SendOptions",
    "Subscription",
    "SubscriptionSpec",
    "TopicPublisher",
    "TopicSpec",
    "consumer",
]

#: Every name but ``MelangeError`` and ``Reject`` is loaded on first use, so
#: ``import melange`` costs next to nothing and a process loads only the parts it uses.
_LAZY = {
    "Destination": "melange.messages",
    "Envelope": "melange.messages",
    "OutgoingMessage": "melange.messages",
    "ReceivedMessage": "melange.messages",
    "SendOptions": "melange.messages",
    "QueuePublisher": "melange.publishing._sync.publishers",
    "TopicPublisher": "melange.publishing._sync.publishers",
    "QueueSpec": "melange.topology.specs",
    "SubscriptionSpec": "melange.topology.specs",
    "TopicSpec": "melange.topology.specs",
    "AckPolicy": "melange.options",
    "Application": "melange.app.application",
    "Backoff": "melange.options",
    "DispatcherOptions": "melange.options",
    "Consumer": "melange.consuming.consumers",
    "MessageContext": "melange.consuming.consumers",
    "consumer": "melange.consuming.consumers",
    "DeduplicationCache": "melange.consuming.dedup",
    "InMemoryDeduplicationCache": "melange.consuming.dedup",
    "NullDeduplicationCache": "melange.consuming.dedup",
    "RedisDeduplicationCache": "melange.consuming.dedup",
    "MessageDispatcher": "melange.consuming.dispatcher",
    "Subscription": "melange.consuming.subscription",
}

#: melange 7's names, resolved (with a warning) by ``melange.compat``.
_MELANGE7 = frozenset({"SimpleMessageDispatcher", "SingleDispatchConsumer"})


# Type checkers see the names above and nothing else: a misspelled name is an error
# for them, not an ``Any`` from ``__getattr__``.
if not TYPE_CHECKING:

    def __getattr__(name: str) -> Any:
        if name in _LAZY:
            return getattr(importlib.import_module(_LAZY[name]), name)
        if name in _MELANGE7:
            return importlib.import_module("melange.compat").melange7_name(name)
        raise AttributeError(f"module 'melange' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
