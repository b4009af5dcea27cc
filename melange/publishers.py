"""Publishers: serialize any object and send it to a queue or a topic."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from melange.backends.protocol import MessagingBackend
from melange.exceptions import BatchPublishError
from melange.messages import AttributeValue, BatchResult, Envelope, OutgoingMessage, SendOptions
from melange.serializers.registry import SerializerRegistry

__all__ = ["QueuePublisher", "TopicPublisher", "build_message"]

Attributes = Mapping[str, AttributeValue]


def build_message(
    registry: SerializerRegistry,
    data: Any,
    options: SendOptions,
    attributes: Attributes | None = None,
) -> OutgoingMessage:
    """Serialize ``data`` into an outgoing message with a fresh message id."""
    serialized = registry.serialize(data)
    envelope = Envelope(
        content=serialized.content,
        manifest=serialized.manifest,
        serializer_id=serialized.serializer_id,
        attributes=attributes or {},
    )
    return OutgoingMessage(envelope=envelope, options=options)


def _accepted_ids(destination: str, result: BatchResult) -> list[str]:
    if result.failed:
        raise BatchPublishError(destination, failures=result.failed, succeeded=result.successful)
    return list(result.successful)


class QueuePublisher:
    """Sends objects to a queue: one consumer handles each message.

    Args:
        serializer_registry: chooses the serializer for each object's type.
        backend: the messaging backend to send through.
    """

    def __init__(self, serializer_registry: SerializerRegistry, backend: MessagingBackend) -> None:
        self.serializer_registry = serializer_registry
        self.backend = backend

    def publish(
        self,
        queue_name: str,
        data: Any,
        *,
        message_group_id: str | None = None,
        deduplication_id: str | None = None,
        delay_seconds: int | None = None,
        attributes: Attributes | None = None,
    ) -> str:
        """Send ``data`` to ``queue_name`` in one request and return its message id.

        The id is melange's own (the ``message_id`` attribute), which consumers see on
        every delivery of this message.

        Raises:
            SerializationError: no serializer handles ``data``.
            MessageTooLargeError: the message exceeds SQS's limit; nothing was sent.
            QueueNotFoundError: the queue does not exist.
        """
        options = SendOptions(
            message_group_id=message_group_id,
            deduplication_id=deduplication_id,
            delay_seconds=delay_seconds,
        )
        message = build_message(self.serializer_registry, data, options, attributes)
        self.backend.publish_to_queue(queue_name, message)
        return message.envelope.message_id

    def publish_many(
        self,
        queue_name: str,
        items: Iterable[Any],
        *,
        message_group_id: str | None = None,
        delay_seconds: int | None = None,
        attributes: Attributes | None = None,
    ) -> list[str]:
        """Send every item with the batch API (10 per request, within the size limit).

        Returns:
            The message ids, in the order of ``items``.

        Raises:
            BatchPublishError: some entries were not accepted; it lists each one with its
                index and reason, and the ids of those that were.
            MessageTooLargeError: an item exceeds the limit; nothing was sent.
        """
        options = SendOptions(message_group_id=message_group_id, delay_seconds=delay_seconds)
        messages = [
            build_message(self.serializer_registry, item, options, attributes) for item in items
        ]
        if not messages:
            return []
        return _accepted_ids(queue_name, self.backend.publish_batch_to_queue(queue_name, messages))


class TopicPublisher:
    """Publishes objects to a topic, which fans them out to every subscribed queue.

    Args:
        serializer_registry: chooses the serializer for each object's type.
        backend: the messaging backend to publish through.
    """

    def __init__(self, serializer_registry: SerializerRegistry, backend: MessagingBackend) -> None:
        self.serializer_registry = serializer_registry
        self.backend = backend

    def publish(
        self,
        topic_name: str,
        data: Any,
        *,
        subject: str | None = None,
        message_group_id: str | None = None,
        deduplication_id: str | None = None,
        attributes: Attributes | None = None,
    ) -> str:
        """Publish ``data`` to ``topic_name`` in one request and return its message id.

        Raises:
            SerializationError: no serializer handles ``data``.
            MessageTooLargeError: the message exceeds SNS's limit; nothing was sent.
            TopicNotFoundError: the topic does not exist.
        """
        options = SendOptions(
            message_group_id=message_group_id, deduplication_id=deduplication_id, subject=subject
        )
        message = build_message(self.serializer_registry, data, options, attributes)
        self.backend.publish_to_topic(topic_name, message)
        return message.envelope.message_id

    def publish_many(
        self,
        topic_name: str,
        items: Iterable[Any],
        *,
        subject: str | None = None,
        message_group_id: str | None = None,
        attributes: Attributes | None = None,
    ) -> list[str]:
        """Publish every item with the batch API (10 per request, within the size limit).

        Returns:
            The message ids, in the order of ``items``.

        Raises:
            BatchPublishError: some entries were not accepted (see ``QueuePublisher``).
            MessageTooLargeError: an item exceeds the limit; nothing was sent.
        """
        options = SendOptions(message_group_id=message_group_id, subject=subject)
        messages = [
            build_message(self.serializer_registry, item, options, attributes) for item in items
        ]
        if not messages:
            return []
        return _accepted_ids(topic_name, self.backend.publish_batch_to_topic(topic_name, messages))
