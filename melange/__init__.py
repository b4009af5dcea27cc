"""melange: messaging for Python services that talk through Amazon SQS queues and SNS topics.

Importing melange never imports boto3; the SQS backends load it when first used.
"""

from melange.consumers import Consumer, SingleDispatchConsumer, consumer
from melange.dedup import DeduplicationCache, InMemoryDeduplicationCache, RedisDeduplicationCache
from melange.dispatcher import MessageDispatcher, SimpleMessageDispatcher
from melange.exceptions import MelangeError
from melange.messages import Envelope, OutgoingMessage, ReceivedMessage, SendOptions
from melange.publishers import QueuePublisher, TopicPublisher
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
