"""Publishers for asyncio: ``await publisher.publish(...)``, as the sync publishers do it.

Same arguments, return values and errors as ``melange.publishing.publishers``; the planning
(serializing, attribute and size checks, message ids, the melange 7.x check) is the sync
publishers' own (``PublisherCore``), and only the send is awaited, through an
``AsyncMessagingTransport``. Each method's documentation is on its sync twin.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from melange.backends.aio_protocol import AsyncMessagingTransport
from melange.publishing.core import (
    Attributes,
    PublisherCore,
    PublishPlan,
    accepted_ids,
    paired,
    sending,
)
from melange.serializers.registry import SerializerRegistry

__all__ = ["AsyncQueuePublisher", "AsyncTopicPublisher"]


class _AsyncPublisher(PublisherCore):
    """Sends plans through an ``AsyncMessagingTransport``."""

    backend: AsyncMessagingTransport

    def __init__(
        self,
        serializer_registry: SerializerRegistry,
        backend: AsyncMessagingTransport,
        *,
        readable_by_melange7: bool = False,
    ) -> None:
        super().__init__(serializer_registry, backend, readable_by_melange7=readable_by_melange7)

    async def _send(self, plan: PublishPlan) -> list[str]:
        if not plan.messages:
            return []
        with sending(plan):
            result = await self.backend.publish(plan.destination, plan.messages)
        return accepted_ids(plan, result)


class AsyncQueuePublisher(_AsyncPublisher):
    """Sends objects to a queue without blocking the event loop (see ``QueuePublisher``)."""

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
        """Send ``data`` to ``queue_name`` in one request (``QueuePublisher.publish``)."""
        plan = self.queue_plan(
            queue_name,
            [(data, message_id)],
            message_group_id=message_group_id,
            deduplication_id=deduplication_id,
            delay_seconds=delay_seconds,
            attributes=attributes,
        )
        return (await self._send(plan))[0]

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
        """Send every item with the batch API (``QueuePublisher.publish_many``)."""
        plan = self.queue_plan(
            queue_name,
            paired(items, message_ids),
            message_group_id=message_group_id,
            delay_seconds=delay_seconds,
            attributes=attributes,
        )
        return await self._send(plan)


class AsyncTopicPublisher(_AsyncPublisher):
    """Publishes objects to a topic without blocking the event loop (see ``TopicPublisher``)."""

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
        """Publish ``data`` to ``topic_name`` in one request (``TopicPublisher.publish``)."""
        plan = self.topic_plan(
            topic_name,
            [(data, message_id)],
            subject=subject,
            message_group_id=message_group_id,
            deduplication_id=deduplication_id,
            attributes=attributes,
        )
        return (await self._send(plan))[0]

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
        """Publish every item with the batch API (``TopicPublisher.publish_many``)."""
        plan = self.topic_plan(
            topic_name,
            paired(items, message_ids),
            subject=subject,
            message_group_id=message_group_id,
            attributes=attributes,
        )
        return await self._send(plan)
