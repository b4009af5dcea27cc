"""The keyword shortcuts of ``melange.backends.shortcuts``, awaited, for asyncio backends.

The declarations are built by the same function (``queue_declarations``) as the sync
shortcuts', so both halves declare exactly the same things for the same arguments.
"""

from __future__ import annotations

from collections.abc import Sequence

from melange.backends.protocol import FilterPolicy
from melange.backends.shortcuts import queue_declarations
from melange.messages import Destination
from melange.topology.declared import Declared
from melange.topology.specs import Declaration, SubscriptionSpec, TopicSpec

__all__ = ["AsyncBackendShortcuts"]


class AsyncBackendShortcuts:
    """``declare_queue``, ``declare_topic``, ``subscribe``, ``delete_queue``, ``delete_topic``.

    See ``BackendShortcuts`` for what each does; these await the backend's ``declare``
    and ``delete``.
    """

    async def declare(self, spec: Declaration) -> Declared:  # pragma: no cover - overridden
        """Declare one queue, topic or subscription."""
        raise NotImplementedError

    async def delete(self, destination: Destination) -> None:  # pragma: no cover - overridden
        """Delete a queue or topic."""
        raise NotImplementedError

    async def declare_queue(
        self,
        queue_name: str,
        *,
        dead_letter_queue: str | None = None,
        max_receive_count: int = 5,
        visibility_timeout: int | None = None,
        retention_seconds: int | None = None,
        content_based_deduplication: bool = False,
        topics: Sequence[str] = (),
        filter_policy: FilterPolicy | None = None,
        raw_message_delivery: bool = False,
    ) -> None:
        """Create the queue if it is missing and bring its settings up to date; idempotent."""
        for spec in queue_declarations(
            queue_name,
            dead_letter_queue=dead_letter_queue,
            max_receive_count=max_receive_count,
            visibility_timeout=visibility_timeout,
            retention_seconds=retention_seconds,
            content_based_deduplication=content_based_deduplication,
            topics=topics,
            filter_policy=filter_policy,
            raw_message_delivery=raw_message_delivery,
        ):
            await self.declare(spec)

    async def declare_topic(self, topic_name: str) -> None:
        """Create the topic if it is missing; idempotent."""
        await self.declare(TopicSpec(topic_name))

    async def subscribe(
        self,
        queue_name: str,
        topic_names: Sequence[str],
        *,
        filter_policy: FilterPolicy | None = None,
        raw_message_delivery: bool = False,
    ) -> None:
        """Subscribe an existing queue to existing topics; idempotent."""
        await self.declare(
            SubscriptionSpec(
                queue_name,
                topics=tuple(topic_names),
                filter_policy=filter_policy,
                raw_message_delivery=raw_message_delivery,
            )
        )

    async def delete_queue(self, queue_name: str) -> None:
        """Delete a queue and its messages; a missing queue is not an error."""
        await self.delete(Destination.queue(queue_name))

    async def delete_topic(self, topic_name: str) -> None:
        """Delete a topic and its subscriptions; a missing topic is not an error."""
        await self.delete(Destination.topic(topic_name))
