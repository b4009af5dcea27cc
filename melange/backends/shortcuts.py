"""The keyword shortcuts applications call, written once for every backend.

``backend.declare_queue("billing", dead_letter_queue="billing-dlq", topics=["events"])``
builds the declarative values of ``melange.topology.specs`` and hands each to the backend's
``declare``; ``delete_queue``/``delete_topic`` call its ``delete``. A backend gets them
by inheriting ``BackendShortcuts`` and implementing ``declare`` and ``delete``.
"""

from __future__ import annotations

from collections.abc import Sequence

from melange.backends.protocol import FilterPolicy
from melange.limits import is_fifo
from melange.messages import Destination
from melange.topology.declared import Declared
from melange.topology.specs import Declaration, QueueSpec, SubscriptionSpec, TopicSpec

__all__ = ["BackendShortcuts", "queue_declarations"]


def queue_declarations(
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
) -> list[Declaration]:
    """Return what ``declare_queue`` declares, in order: the queue, its topics, the subscription.

    Every value is built (so checked) before the backend is asked for anything.
    """
    queue = QueueSpec(
        queue_name,
        dead_letter_queue=dead_letter_queue,
        max_receive_count=max_receive_count,
        visibility_timeout=visibility_timeout,
        retention_seconds=retention_seconds,
        # Stated on FIFO queues, so a re-declaration resets it; standard queues have none.
        content_based_deduplication=(
            content_based_deduplication
            if content_based_deduplication or is_fifo(queue_name)
            else None
        ),
    )
    declarations: list[Declaration] = [queue]
    if topics:
        subscription = SubscriptionSpec(
            queue_name,
            topics=tuple(topics),
            filter_policy=filter_policy,
            raw_message_delivery=raw_message_delivery,
        )
        # A topic given by ARN (another account's) is subscribed to, never created.
        declarations.extend(TopicSpec(t) for t in subscription.topics if not t.startswith("arn:"))
        declarations.append(subscription)
    return declarations


class BackendShortcuts:
    """``declare_queue``, ``declare_topic``, ``subscribe``, ``delete_queue``, ``delete_topic``.

    Mixed into every backend; each shortcut builds declarative values and calls the
    backend's ``declare`` or ``delete``.
    """

    def declare(self, spec: Declaration) -> Declared:  # pragma: no cover - every backend overrides
        """Declare one queue, topic or subscription (see ``MessagingAdmin``)."""
        raise NotImplementedError

    def delete(self, destination: Destination) -> None:  # pragma: no cover - overridden
        """Delete a queue or topic (see ``MessagingAdmin``)."""
        raise NotImplementedError

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

        Raises:
            DeclarationError: something SQS/SNS would refuse; nothing was declared.
        """
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
            self.declare(spec)

    def declare_topic(self, topic_name: str) -> None:
        """Create the topic if it is missing; idempotent. ``.fifo`` makes a FIFO topic."""
        self.declare(TopicSpec(topic_name))

    def subscribe(
        self,
        queue_name: str,
        topic_names: Sequence[str],
        *,
        filter_policy: FilterPolicy | None = None,
        raw_message_delivery: bool = False,
    ) -> None:
        """Subscribe an existing queue to existing topics; idempotent."""
        self.declare(
            SubscriptionSpec(
                queue_name,
                topics=tuple(topic_names),
                filter_policy=filter_policy,
                raw_message_delivery=raw_message_delivery,
            )
        )

    def delete_queue(self, queue_name: str) -> None:
        """Delete a queue and its messages; deleting a missing queue is not an error."""
        self.delete(Destination.queue(queue_name))

    def delete_topic(self, topic_name: str) -> None:
        """Delete a topic and its subscriptions; deleting a missing topic is not an error."""
        self.delete(Destination.topic(topic_name))
