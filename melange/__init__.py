"""melange: messaging for Python services that talk through Amazon SQS queues and SNS topics.

Importing melange never imports boto3; the SQS backends load it when first used.
"""

from melange.exceptions import MelangeError
from melange.messages import Envelope, OutgoingMessage, ReceivedMessage, SendOptions
from melange.publishers import QueuePublisher, TopicPublisher

__all__ = [
    "Envelope",
    "MelangeError",
    "OutgoingMessage",
    "QueuePublisher",
    "ReceivedMessage",
    "SendOptions",
    "TopicPublisher",
]
