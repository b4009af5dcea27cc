"""Publishers: serialize any object and send it to a queue or a topic, in either half.

A message type may supply its own message attributes (for SNS filter policies) with a
method ``melange_attributes(self)`` returning a mapping of names to ``str``, ``int``,
``float`` or ``bytes``; a ``None`` value leaves that attribute out. Both publishers send
them with every message of that type, and an ``attributes=`` argument wins per name::

    @attrs.frozen
    class OrderPlaced:
        order_id: int
        region: str

        def melange_attributes(self) -> dict[str, str]:
            return {"region": self.region}

A publish whose answer is lost (a timeout, a reset connection) may have been delivered.
Its ``BackendError`` carries the ``message_id`` it sent with, and ``publish`` takes
``message_id=`` (``publish_many`` takes ``message_ids=``), so a retry sends the same id
and deduplication (the FIFO broker's, or the consumers' cache) drops the copy.

The planning of every publish (serializing, checks, message ids, tracing) is
``melange.publishing.core``'s; the publishers here only send the plan.

Written once, for asyncio: ``scripts/unasync.py`` generates the threaded twin in the
``_sync`` package beside this one (``make unasync``). Edit this file.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

from melange.backends.aio_protocol import AsyncMessagingTransport
from melange.exceptions import BackendError, MessageTooLargeError
from melange.messages import OutgoingMessage
from melange.payloads.store import AsyncPayloadStore
from melange.publishing.core import (
    Attributes,
    PublisherCore,
    PublishPlan,
    accepted_ids,
    never_sent,
    paired,
    refused_pointers,
    send_failed,
    store_first,
    to_store,
    with_claim_check,
)
from melange.serializers.registry import SerializerRegistry
from melange.wire.claim_check import PayloadPointer

__all__ = ["AsyncQueuePublisher", "AsyncTopicPublisher"]

logger = logging.getLogger("melange.publishing")


class _Publisher(PublisherCore):
    """Sends plans through the backend's transport."""

    backend: AsyncMessagingTransport

    def __init__(
        self,
        serializer_registry: SerializerRegistry,
        backend: AsyncMessagingTransport,
        *,
        readable_by_melange7: bool = False,
        payloads: AsyncPayloadStore | None = None,
    ) -> None:
        super().__init__(serializer_registry, backend, readable_by_melange7=readable_by_melange7)
        self.payloads = payloads

    async def _send(self, plan: PublishPlan) -> list[str]:
        """Send a plan; return the message ids, or raise naming what failed.

        With a payload store, a message over the destination's limit (every message, with
        ``always``) is stored in S3 first and sent as a pointer; a message never points to
        an object that was not written. When the send then certainly delivered nothing,
        the objects are deleted (best effort); when its answer was lost they stay, for the
        message may have been delivered, and the bucket's lifecycle rule expires them.
        """
        if not plan.messages:
            return []
        messages = plan.messages
        try:
            if self.payloads is not None:
                first = store_first(self.payloads.settings.always, messages)
                if first is not None:
                    messages = await _store(self.payloads, plan, messages, limit=first)
            try:
                result = await self.backend.publish(plan.destination, messages)
            except MessageTooLargeError as exc:
                if self.payloads is None:
                    raise
                messages = await _store(self.payloads, plan, messages, limit=exc.limit)
                result = await self.backend.publish(plan.destination, messages)
        except BaseException as exc:
            send_failed(plan, exc)
            if never_sent(exc):
                await self._forget([m.claim_check.pointer for m in messages if m.claim_check])
            raise
        if result.failed:
            await self._forget(refused_pointers(messages, result))
        return accepted_ids(plan, result)

    async def _forget(self, pointers: Sequence[PayloadPointer]) -> None:
        """Delete the stored payloads of messages that were not sent; failures are logged."""
        if self.payloads is None:
            return
        for pointer in pointers:
            try:
                await self.payloads.delete(pointer)
            except BackendError as exc:
                logger.warning(
                    "could not delete %s, the payload of a message that was not sent (%s); "
                    "the bucket's lifecycle rule will expire it",
                    pointer,
                    exc,
                )


async def _store(
    payloads: AsyncPayloadStore, plan: PublishPlan, messages: list[OutgoingMessage], *, limit: int
) -> list[OutgoingMessage]:
    """Store in S3 the payloads of the messages over ``limit``; return the messages to send."""
    stored = list(messages)
    for index, body in to_store(plan.destination, messages, limit):
        message = messages[index]
        pointer = payloads.settings.pointer(plan.destination.name, message.envelope.message_id)
        await payloads.put(pointer, body)
        stored[index] = with_claim_check(message, pointer, body)
    return stored


class AsyncQueuePublisher(_Publisher):
    """Sends objects to a queue: one consumer handles each message.

    Args:
        serializer_registry: chooses the serializer for each object's type.
        backend: the messaging backend to send through.
        readable_by_melange7: refuse, before sending, what melange 7.x consumers cannot
            read (serializers other than json and pickle); see the docs' wire-format page.
        payloads: where a message too large for the queue is stored (``melange.payloads``);
            without one, such a message raises ``MessageTooLargeError``.
    """

    async def publish(
        self,
        queue_name: str,
        data: Any,
        *,
        message_group_id: str | None = None,
        deduplication_id: str | None = None,
        delay_seconds: int | None = None,
        attributes: Attributes | None = None,
        message_id: str | None = None,
    ) -> str:
        """Send ``data`` to ``queue_name`` in one request and return its message id.

        The id is melange's own (the ``message_id`` attribute), which consumers see on
        every delivery of this message. Pass ``message_id`` to resend a message whose
        publish failed: the error's ``message_id`` names it.

        Raises:
            SerializationError: no serializer handles ``data``, or (with
                ``readable_by_melange7``) melange 7.x could not read it.
            MessageTooLargeError: the message exceeds SQS's limit and the publisher has no
                payload store; nothing was sent.
            QueueNotFoundError: the queue does not exist.
            BackendError: the request failed; ``.message_id`` names the message, which
                may have been delivered all the same.
        """
        plan = self.queue_plan(
            queue_name,
            [(data, message_id)],
            message_group_id=message_group_id,
            deduplication_id=deduplication_id,
            delay_seconds=delay_seconds,
            attributes=attributes,
        )
        [message_id] = await self._send(plan)
        return message_id

    async def publish_many(
        self,
        queue_name: str,
        items: Iterable[Any],
        *,
        message_group_id: str | None = None,
        delay_seconds: int | None = None,
        attributes: Attributes | None = None,
        message_ids: Iterable[str] | None = None,
    ) -> list[str]:
        """Send every item with the batch API (10 per request, within the size limit).

        Args:
            queue_name: the queue.
            items: the objects to send.
            message_group_id: FIFO group of every item.
            delay_seconds: delay of every item.
            attributes: message attributes of every item.
            message_ids: one id per item, in order, instead of fresh ones: to resend the
                failed entries of a ``BatchPublishError`` with their ids.

        Returns:
            The message ids, in the order of ``items``.

        Raises:
            BatchPublishError: some entries were not accepted; it lists each one with its
                index, message id and reason, and the ids of those that were.
            MessageTooLargeError: an item exceeds the limit; nothing was sent.
            ConfigurationError: ``message_ids`` does not pair one to one with ``items``.
        """
        plan = self.queue_plan(
            queue_name,
            paired(items, message_ids),
            message_group_id=message_group_id,
            delay_seconds=delay_seconds,
            attributes=attributes,
        )
        return await self._send(plan)


class AsyncTopicPublisher(_Publisher):
    """Publishes objects to a topic, which fans them out to every subscribed queue.

    Args:
        serializer_registry: chooses the serializer for each object's type.
        backend: the messaging backend to publish through.
        readable_by_melange7: refuse, before sending, what melange 7.x consumers cannot
            read (serializers other than json and pickle, and JSON objects with a
            ``Message`` key); see the docs' wire-format page.
        payloads: where a message too large for the topic is stored (``melange.payloads``);
            without one, such a message raises ``MessageTooLargeError``.
    """

    async def publish(
        self,
        topic_name: str,
        data: Any,
        *,
        subject: str | None = None,
        message_group_id: str | None = None,
        deduplication_id: str | None = None,
        attributes: Attributes | None = None,
        message_id: str | None = None,
    ) -> str:
        """Publish ``data`` to ``topic_name`` in one request and return its message id.

        Pass ``message_id`` to resend a message whose publish failed (see
        ``QueuePublisher.publish``).

        Raises:
            SerializationError: no serializer handles ``data``, or (with
                ``readable_by_melange7``) melange 7.x could not read it.
            MessageTooLargeError: the message exceeds the topic's limit and the publisher
                has no payload store; nothing was sent.
            TopicNotFoundError: the topic does not exist.
            BackendError: the request failed; ``.message_id`` names the message, which
                may have been delivered all the same.
        """
        plan = self.topic_plan(
            topic_name,
            [(data, message_id)],
            subject=subject,
            message_group_id=message_group_id,
            deduplication_id=deduplication_id,
            attributes=attributes,
        )
        [message_id] = await self._send(plan)
        return message_id

    async def publish_many(
        self,
        topic_name: str,
        items: Iterable[Any],
        *,
        subject: str | None = None,
        message_group_id: str | None = None,
        attributes: Attributes | None = None,
        message_ids: Iterable[str] | None = None,
    ) -> list[str]:
        """Publish every item with the batch API (10 per request, within the size limit).

        ``message_ids`` gives one id per item, as for ``QueuePublisher.publish_many``.

        Returns:
            The message ids, in the order of ``items``.

        Raises:
            BatchPublishError: some entries were not accepted (see ``QueuePublisher``).
            MessageTooLargeError: an item exceeds the limit; nothing was sent.
            ConfigurationError: ``message_ids`` does not pair one to one with ``items``.
        """
        plan = self.topic_plan(
            topic_name,
            paired(items, message_ids),
            subject=subject,
            message_group_id=message_group_id,
            attributes=attributes,
        )
        return await self._send(plan)
