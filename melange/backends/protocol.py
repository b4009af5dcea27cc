"""The interface every messaging backend implements.

Only melange's own value types cross it: no boto3 dict goes in or comes out. Options are
keyword-only. Every backend passes the same contract test suite (``tests/contract``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from melange.messages import (
    AttributeValue,
    BatchResult,
    OutgoingMessage,
    ReceivedMessage,
    RedrivePolicy,
)

__all__ = ["FilterPolicy", "MessagingBackend"]

#: An SNS subscription filter policy on message attributes, e.g.
#: ``{"manifest": ["myapp.events:OrderPlaced"]}``.
FilterPolicy = Mapping[str, Any]


@runtime_checkable
class MessagingBackend(Protocol):
    """Queues and topics with SQS/SNS semantics."""

    def declare_queue(
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
        """Create the queue if it is missing and bring its settings up to date; idempotent.

        A name ending in ``.fifo`` makes a FIFO queue. ``dead_letter_queue`` is created too,
        and messages received ``max_receive_count`` times move there. ``topics`` are
        declared and the queue is subscribed to each, with ``filter_policy`` if given.
        """

    def declare_topic(self, topic_name: str) -> None:
        """Create the topic if it is missing; idempotent. ``.fifo`` makes a FIFO topic."""

    def subscribe(
        self,
        queue_name: str,
        topic_names: Sequence[str],
        *,
        filter_policy: FilterPolicy | None = None,
        raw_message_delivery: bool = False,
    ) -> None:
        """Subscribe an existing queue to existing topics; idempotent."""

    def publish_to_queue(self, queue_name: str, message: OutgoingMessage) -> str:
        """Send one message to a queue and return the broker's message id."""

    def publish_to_topic(self, topic_name: str, message: OutgoingMessage) -> str:
        """Publish one message to a topic and return the broker's message id."""

    def publish_batch_to_queue(
        self, queue_name: str, messages: Sequence[OutgoingMessage]
    ) -> BatchResult:
        """Send messages in as few requests as the broker's limits allow."""

    def publish_batch_to_topic(
        self, topic_name: str, messages: Sequence[OutgoingMessage]
    ) -> BatchResult:
        """Publish messages in as few requests as the broker's limits allow."""

    def receive(
        self,
        queue_name: str,
        *,
        max_messages: int = 10,
        wait_time_seconds: int = 0,
        visibility_timeout: int | None = None,
    ) -> list[ReceivedMessage]:
        """Receive up to ``max_messages`` (1-10), waiting up to ``wait_time_seconds`` (0-20)."""

    def acknowledge(self, queue_name: str, receipt_handles: Sequence[str]) -> list[str]:
        """Delete received messages, in batches; return the handles that were not deleted."""

    def change_visibility(
        self, queue_name: str, receipt_handles: Sequence[str], timeout_seconds: int
    ) -> list[str]:
        """Set the visibility timeout of received messages; return the handles that failed."""

    def send_raw(
        self,
        queue_name: str,
        body: str,
        attributes: Mapping[str, AttributeValue],
        *,
        message_group_id: str | None = None,
        deduplication_id: str | None = None,
    ) -> str:
        """Send a body and attributes exactly as given (used to move unreadable messages).

        Unlike ``publish_to_queue`` the body is not wrapped, so a message copied to a
        dead-letter queue keeps the bytes it arrived with.
        """

    def redrive_policy(self, queue_name: str) -> RedrivePolicy | None:
        """Return the queue's dead-letter queue and receive limit, or ``None`` without one."""

    def delete_queue(self, queue_name: str) -> None:
        """Delete a queue and its messages; deleting a missing queue is not an error."""

    def delete_topic(self, topic_name: str) -> None:
        """Delete a topic and its subscriptions; deleting a missing topic is not an error."""

    def close(self) -> None:
        """Release connections; the backend is not used afterwards."""
