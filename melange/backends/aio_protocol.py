"""The awaitable twins of ``melange.backends.protocol``: what every asyncio backend implements.

The same two small protocols, ``AsyncMessagingTransport`` (moving messages) and
``AsyncMessagingAdmin`` (declaring queues, topics and subscriptions), with the same
arguments, values, return values and errors; only the calls are awaited. The meaning of
each method is documented once, on the synchronous protocol.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol, runtime_checkable

from melange.backends.protocol import FilterPolicy
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

__all__ = ["AsyncMessagingAdmin", "AsyncMessagingBackend", "AsyncMessagingTransport"]


@runtime_checkable
class AsyncMessagingTransport(Protocol):
    """Sends, receives and settles messages (see ``MessagingTransport`` for each method)."""

    async def publish(
        self, destination: Destination, messages: Sequence[OutgoingMessage]
    ) -> BatchResult:
        """Send messages to a queue or topic (``MessagingTransport.publish``)."""

    async def receive(
        self,
        queue_name: str,
        *,
        max_messages: int = 10,
        wait_time_seconds: int = 0,
        visibility_timeout: int | None = None,
    ) -> list[ReceivedMessage]:
        """Receive up to ``max_messages``, waiting without blocking the event loop."""

    async def acknowledge(self, queue_name: str, receipt_handles: Sequence[str]) -> list[str]:
        """Delete received messages; return the handles that were not deleted."""

    async def change_visibility(
        self, queue_name: str, receipt_handles: Sequence[str], timeout_seconds: int
    ) -> list[str]:
        """Set the visibility timeout of received messages; return the handles that failed."""

    async def send_raw(
        self,
        queue_name: str,
        body: str,
        attributes: Mapping[str, AttributeValue],
        *,
        message_group_id: str | None = None,
        deduplication_id: str | None = None,
    ) -> str:
        """Send a body and attributes exactly as given (``MessagingTransport.send_raw``)."""

    async def redrive_policy(self, queue_name: str) -> RedrivePolicy | None:
        """Return the queue's dead-letter queue and receive limit, or ``None`` without one."""

    async def close(self) -> None:
        """Release connections; the backend is not used afterwards."""


@runtime_checkable
class AsyncMessagingAdmin(Protocol):
    """Makes queues, topics and subscriptions exist as declared (``MessagingAdmin``)."""

    async def declare(self, spec: Declaration) -> Declared:
        """Make the declared queue, topic or subscription exist as stated; idempotent."""

    async def delete(self, destination: Destination) -> None:
        """Delete a queue or topic; deleting what does not exist is not an error."""


@runtime_checkable
class AsyncMessagingBackend(AsyncMessagingTransport, AsyncMessagingAdmin, Protocol):
    """A whole asyncio backend: transport, administration and the keyword shortcuts."""

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
        """Declare a queue, its dead-letter queue, its topics and its subscription to them."""

    async def declare_topic(self, topic_name: str) -> None:
        """Declare a topic; ``.fifo`` makes a FIFO topic."""

    async def subscribe(
        self,
        queue_name: str,
        topic_names: Sequence[str],
        *,
        filter_policy: FilterPolicy | None = None,
        raw_message_delivery: bool = False,
    ) -> None:
        """Subscribe an existing queue to existing topics; idempotent."""

    async def delete_queue(self, queue_name: str) -> None:
        """Delete a queue and its messages."""

    async def delete_topic(self, topic_name: str) -> None:
        """Delete a topic and its subscriptions."""
