"""A backend that prefixes every queue and topic name, so environments can share an account.

``PrefixedBackend(backend, "staging-")`` makes ``publish("orders", ...)`` go to
``staging-orders``. Application code keeps using the short names; topic ARNs pass
through unchanged. Received messages report the short queue name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import attrs

from melange.backends.protocol import FilterPolicy, MessagingBackend
from melange.messages import AttributeValue, BatchResult, OutgoingMessage, ReceivedMessage

__all__ = ["PrefixedBackend"]


class PrefixedBackend:
    """Wraps a backend and prefixes every queue and topic name it is given.

    Args:
        backend: the backend that does the work.
        prefix: prepended to every name, e.g. ``"staging-"``.
    """

    def __init__(self, backend: MessagingBackend, prefix: str) -> None:
        self.backend = backend
        self.prefix = prefix

    def _name(self, name: str) -> str:
        return name if name.startswith("arn:") else self.prefix + name

    def _short(self, name: str) -> str:
        return name.removeprefix(self.prefix)

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
        """Declare the prefixed queue, dead-letter queue and topics."""
        self.backend.declare_queue(
            self._name(queue_name),
            dead_letter_queue=None if dead_letter_queue is None else self._name(dead_letter_queue),
            max_receive_count=max_receive_count,
            visibility_timeout=visibility_timeout,
            retention_seconds=retention_seconds,
            content_based_deduplication=content_based_deduplication,
            topics=[self._name(t) for t in topics],
            filter_policy=filter_policy,
            raw_message_delivery=raw_message_delivery,
        )

    def declare_topic(self, topic_name: str) -> None:
        """Declare the prefixed topic."""
        self.backend.declare_topic(self._name(topic_name))

    def subscribe(
        self,
        queue_name: str,
        topic_names: Sequence[str],
        *,
        filter_policy: FilterPolicy | None = None,
        raw_message_delivery: bool = False,
    ) -> None:
        """Subscribe the prefixed queue to the prefixed topics."""
        self.backend.subscribe(
            self._name(queue_name),
            [self._name(t) for t in topic_names],
            filter_policy=filter_policy,
            raw_message_delivery=raw_message_delivery,
        )

    def publish_to_queue(self, queue_name: str, message: OutgoingMessage) -> str:
        """Send to the prefixed queue."""
        return self.backend.publish_to_queue(self._name(queue_name), message)

    def publish_to_topic(self, topic_name: str, message: OutgoingMessage) -> str:
        """Publish to the prefixed topic."""
        return self.backend.publish_to_topic(self._name(topic_name), message)

    def publish_batch_to_queue(
        self, queue_name: str, messages: Sequence[OutgoingMessage]
    ) -> BatchResult:
        """Send a batch to the prefixed queue."""
        return self.backend.publish_batch_to_queue(self._name(queue_name), messages)

    def publish_batch_to_topic(
        self, topic_name: str, messages: Sequence[OutgoingMessage]
    ) -> BatchResult:
        """Publish a batch to the prefixed topic."""
        return self.backend.publish_batch_to_topic(self._name(topic_name), messages)

    def send_raw(
        self,
        queue_name: str,
        body: str,
        attributes: Mapping[str, AttributeValue],
        *,
        message_group_id: str | None = None,
        deduplication_id: str | None = None,
    ) -> str:
        """Send a raw body to the prefixed queue."""
        return self.backend.send_raw(
            self._name(queue_name),
            body,
            attributes,
            message_group_id=message_group_id,
            deduplication_id=deduplication_id,
        )

    def dead_letter_queue_of(self, queue_name: str) -> str | None:
        """Return the short name of the prefixed queue's dead-letter queue."""
        found = self.backend.dead_letter_queue_of(self._name(queue_name))
        return None if found is None else self._short(found)

    def receive(
        self,
        queue_name: str,
        *,
        max_messages: int = 10,
        wait_time_seconds: int = 0,
        visibility_timeout: int | None = None,
    ) -> list[ReceivedMessage]:
        """Receive from the prefixed queue; messages report the short name."""
        received = self.backend.receive(
            self._name(queue_name),
            max_messages=max_messages,
            wait_time_seconds=wait_time_seconds,
            visibility_timeout=visibility_timeout,
        )
        return [attrs.evolve(message, queue_name=queue_name) for message in received]

    def acknowledge(self, queue_name: str, receipt_handles: Sequence[str]) -> list[str]:
        """Delete from the prefixed queue."""
        return self.backend.acknowledge(self._name(queue_name), receipt_handles)

    def change_visibility(
        self, queue_name: str, receipt_handles: Sequence[str], timeout_seconds: int
    ) -> list[str]:
        """Change visibility on the prefixed queue."""
        return self.backend.change_visibility(
            self._name(queue_name), receipt_handles, timeout_seconds
        )

    def delete_queue(self, queue_name: str) -> None:
        """Delete the prefixed queue."""
        self.backend.delete_queue(self._name(queue_name))

    def delete_topic(self, topic_name: str) -> None:
        """Delete the prefixed topic."""
        self.backend.delete_topic(self._name(topic_name))

    def close(self) -> None:
        """Close the wrapped backend."""
        self.backend.close()
