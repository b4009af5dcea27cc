"""The interfaces every messaging backend implements: moving messages, and administration.

Two small protocols: ``MessagingTransport`` moves messages (what publishers and the
dispatcher use) and ``MessagingAdmin`` makes queues, topics and subscriptions exist from
the declarative values of ``melange.topology.specs``. ``MessagingBackend`` is both, plus the
keyword shortcuts applications call (``declare_queue("billing", topics=[...])``), which
every backend inherits from ``BackendShortcuts`` rather than writing them again.

Only melange's own value types cross them: no boto3 dict goes in or comes out. Options
are keyword-only. Every backend passes the same contract test suite (``tests/contract``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

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

__all__ = ["FilterPolicy", "MessagingAdmin", "MessagingBackend", "MessagingTransport"]

FilterPolicy = Mapping[str, Any]
"""An SNS subscription filter policy on message attributes, e.g.
``{"manifest": ["myapp.events:OrderPlaced"]}``."""


@runtime_checkable
class MessagingTransport(Protocol):
    """Sends, receives and settles messages on queues and topics with SQS/SNS semantics."""

    def publish(self, destination: Destination, messages: Sequence[OutgoingMessage]) -> BatchResult:
        """Send messages to a queue or topic.

        One message is sent in one request (SQS SendMessage, SNS Publish), and a failure
        raises. Several are sent in as few batch requests as the broker's limits allow;
        every message is checked before any is sent, and the entries the broker did not
        accept are reported in the result rather than raised.

        Returns:
            The accepted messages' ``Envelope.message_id`` in input order, and the failures.
        """

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

        Unlike ``publish`` the body is not wrapped, so a message copied to a dead-letter
        queue keeps the bytes it arrived with. Returns the broker's message id.
        """

    def redrive_policy(self, queue_name: str) -> RedrivePolicy | None:
        """Return the queue's dead-letter queue and receive limit, or ``None`` without one."""

    def close(self) -> None:
        """Release connections; the backend is not used afterwards."""


@runtime_checkable
class MessagingAdmin(Protocol):
    """Makes queues, topics and subscriptions exist as declared, or removes them."""

    def declare(self, spec: Declaration) -> Declared:
        """Make the declared queue, topic or subscription exist as stated; idempotent.

        A queue's dead-letter queue is created (with default settings) if it is missing;
        a subscription's queue and topics must exist. Settings a spec leaves ``None``
        stay as the broker has them.

        Returns:
            Whether it was created, changed (and which settings), or already as stated.
        """

    def delete(self, destination: Destination) -> None:
        """Delete a queue (and its messages) or a topic (and its subscriptions).

        Deleting what does not exist is not an error.
        """


@runtime_checkable
class MessagingBackend(MessagingTransport, MessagingAdmin, Protocol):
    """A whole backend: the transport, the administration and the keyword shortcuts."""

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
        """Declare a queue, its dead-letter queue, its topics and its subscription to them."""

    def declare_topic(self, topic_name: str) -> None:
        """Declare a topic; ``.fifo`` makes a FIFO topic."""

    def subscribe(
        self,
        queue_name: str,
        topic_names: Sequence[str],
        *,
        filter_policy: FilterPolicy | None = None,
        raw_message_delivery: bool = False,
    ) -> None:
        """Subscribe an existing queue to existing topics; idempotent."""

    def delete_queue(self, queue_name: str) -> None:
        """Delete a queue and its messages; deleting a missing queue is not an error."""

    def delete_topic(self, topic_name: str) -> None:
        """Delete a topic and its subscriptions; deleting a missing topic is not an error."""
