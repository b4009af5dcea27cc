"""A prefixing wrapper for asyncio backends: ``PrefixedBackend``, awaited.

Every renaming decision (broker names, error and result translation, the dead-letter
queue's name) is ``melange.backends.prefixed.Prefix``'s; this only awaits the backend.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import attrs

from melange.backends.aio_protocol import AsyncMessagingBackend
from melange.backends.aio_shortcuts import AsyncBackendShortcuts
from melange.backends.prefixed import Prefix
from melange.messages import (
    AttributeValue,
    BatchResult,
    Destination,
    OutgoingMessage,
    ReceivedMessage,
    RedrivePolicy,
)
from melange.topology.declared import Declared
from melange.topology.specs import Declaration

__all__ = ["AsyncPrefixedBackend"]


class AsyncPrefixedBackend(AsyncBackendShortcuts):
    """Wraps an asyncio backend and prefixes every queue and topic name (``PrefixedBackend``).

    Args:
        backend: the asyncio backend that does the work.
        prefix: prepended to every name, e.g. ``"staging-"``.
    """

    def __init__(self, backend: AsyncMessagingBackend, prefix: str) -> None:
        self.backend = backend
        self.prefix = prefix
        self._prefix = Prefix(prefix)

    async def declare(self, spec: Declaration) -> Declared:
        """Declare the queue, topic or subscription under the prefixed names."""
        with self._prefix.as_given(*self._prefix.names_in(spec)):  # renaming may refuse
            done = await self.backend.declare(spec.renamed(self._prefix.broker))
        return done.renamed(spec, self._prefix.short)

    async def delete(self, destination: Destination) -> None:
        """Delete the prefixed queue or topic."""
        with self._prefix.as_given(destination.name):
            await self.backend.delete(destination.renamed(self._prefix.broker))

    async def publish(
        self, destination: Destination, messages: Sequence[OutgoingMessage]
    ) -> BatchResult:
        """Publish to the prefixed destination; failure reasons name it without the prefix."""
        with self._prefix.as_given(destination.name):
            result = await self.backend.publish(destination.renamed(self._prefix.broker), messages)
        return self._prefix.result(result, destination)

    async def send_raw(
        self,
        queue_name: str,
        body: str,
        attributes: Mapping[str, AttributeValue],
        *,
        message_group_id: str | None = None,
        deduplication_id: str | None = None,
    ) -> str:
        """Send a raw body to the prefixed queue."""
        with self._prefix.as_given(queue_name):
            return await self.backend.send_raw(
                self._prefix.broker(queue_name),
                body,
                attributes,
                message_group_id=message_group_id,
                deduplication_id=deduplication_id,
            )

    async def redrive_policy(self, queue_name: str) -> RedrivePolicy | None:
        """Return the prefixed queue's redrive policy, naming its DLQ without the prefix."""
        with self._prefix.as_given(queue_name):
            found = await self.backend.redrive_policy(self._prefix.broker(queue_name))
        return self._prefix.policy(found)

    async def receive(
        self,
        queue_name: str,
        *,
        max_messages: int = 10,
        wait_time_seconds: int = 0,
        visibility_timeout: int | None = None,
    ) -> list[ReceivedMessage]:
        """Receive from the prefixed queue; messages report the short name."""
        with self._prefix.as_given(queue_name):
            received = await self.backend.receive(
                self._prefix.broker(queue_name),
                max_messages=max_messages,
                wait_time_seconds=wait_time_seconds,
                visibility_timeout=visibility_timeout,
            )
        return [attrs.evolve(message, queue_name=queue_name) for message in received]

    async def acknowledge(self, queue_name: str, receipt_handles: Sequence[str]) -> list[str]:
        """Delete from the prefixed queue."""
        with self._prefix.as_given(queue_name):
            return await self.backend.acknowledge(self._prefix.broker(queue_name), receipt_handles)

    async def change_visibility(
        self, queue_name: str, receipt_handles: Sequence[str], timeout_seconds: int
    ) -> list[str]:
        """Change visibility on the prefixed queue."""
        with self._prefix.as_given(queue_name):
            return await self.backend.change_visibility(
                self._prefix.broker(queue_name), receipt_handles, timeout_seconds
            )

    async def close(self) -> None:
        """Close the wrapped backend."""
        await self.backend.close()
