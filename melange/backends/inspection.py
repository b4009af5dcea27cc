"""What operations tools ask of a backend beyond moving messages: counts, listing, purging.

``QueueInspection`` is a small protocol of its own, kept apart from ``MessagingBackend``
so that a backend (or a test double) that only moves messages stays complete. The
``python -m melange queues`` and ``dlq`` commands (``melange.app.ops``) use it; reading a
dead-letter queue's messages needs no extra operation (a receive and an immediate
release, ``melange.app.ops.actions.peek``).

``start_message_move`` is SQS's ``StartMessageMoveTask`` (2023): the broker itself moves
a dead-letter queue's messages back to their source queues. Brokers without it (the
emulators, the in-memory backend) raise ``BackendRefusedError``, and the tools move the
messages by receive, send and delete instead.

``SubscriptionInspection`` lists and removes SNS subscriptions, for ``python -m melange
declare`` to find what an application no longer states (``melange.app.ops.leftovers``).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import attrs

from melange.exceptions import BackendRefusedError

__all__ = [
    "MoveTask",
    "QueueInspection",
    "QueueStats",
    "SubscriptionInspection",
    "TopicSubscription",
    "inspection_of",
    "subscription_inspection_of",
]


@attrs.frozen
class QueueStats:
    """A queue's message counts, as the broker reports them (approximate on SQS).

    Attributes:
        depth: messages ready to be received (``ApproximateNumberOfMessages``).
        in_flight: received and not yet deleted nor visible again (``...NotVisible``).
        delayed: sent with a delay not yet over (``...Delayed``).
        oldest_age_seconds: the age of the oldest message, where the broker can tell it
            without a receive; ``None`` on SQS, which publishes it only as the CloudWatch
            metric ``ApproximateAgeOfOldestMessage``.
    """

    depth: int
    in_flight: int
    delayed: int
    oldest_age_seconds: float | None = None

    @property
    def total(self) -> int:
        """Every message the queue holds, visible, in flight or delayed."""
        return self.depth + self.in_flight + self.delayed


@attrs.frozen
class MoveTask:
    """A broker-side message move (SQS ``StartMessageMoveTask``) and how far it got.

    Attributes:
        handle: the task's handle, to cancel it with.
        status: ``RUNNING``, ``COMPLETED``, ``CANCELLING``, ``CANCELLED`` or ``FAILED``.
        moved: messages moved so far.
        to_move: messages the task set out to move, if the broker said.
        failure: why it failed, if it did.
    """

    handle: str
    status: str
    moved: int = 0
    to_move: int | None = None
    failure: str | None = None

    @property
    def finished(self) -> bool:
        """Whether the task will move no more messages."""
        return self.status in {"COMPLETED", "CANCELLED", "FAILED"}


@runtime_checkable
class QueueInspection(Protocol):
    """Counts, lists and purges queues, and starts broker-side moves where supported."""

    def queue_stats(self, queue_name: str) -> QueueStats:
        """Return the queue's message counts."""

    def list_queues(self, prefix: str = "") -> list[str]:
        """Return the names of the queues whose name starts with ``prefix``, sorted."""

    def purge(self, queue_name: str) -> None:
        """Delete every message of the queue (SQS allows one purge a minute per queue)."""

    def start_message_move(
        self, dead_letter_queue: str, destination: str, *, max_per_second: int | None = None
    ) -> MoveTask:
        """Start moving the dead-letter queue's messages to ``destination``, its source queue.

        Raises:
            BackendRefusedError: the broker does not support it (emulators, FIFO queues,
                the in-memory backend).
        """

    def message_move(self, dead_letter_queue: str) -> MoveTask | None:
        """Return the most recent move task of the dead-letter queue, if any."""

    def cancel_message_move(self, handle: str) -> None:
        """Ask the broker to stop a running move task; moved messages stay moved."""


def inspection_of(backend: object) -> QueueInspection:
    """Return ``backend`` as a ``QueueInspection``.

    Raises:
        BackendRefusedError: it does not count, list or purge queues.
    """
    if not isinstance(backend, QueueInspection):
        raise BackendRefusedError(
            f"{type(backend).__name__} cannot count, list or purge queues; use SqsBackend, "
            "InMemoryBackend or a PrefixedBackend around one of them",
            operation="inspection",
            code="UnsupportedOperation",
        )
    return backend


@attrs.frozen
class TopicSubscription:
    """One SNS subscription, as the broker lists it (names as the broker knows them).

    Attributes:
        topic_arn: the topic's ARN.
        protocol: how it delivers: ``sqs`` to a queue.
        endpoint: where it delivers: a queue's ARN, for ``sqs``.
        handle: the subscription's ARN, which ``unsubscribe`` takes; SNS lists
            ``PendingConfirmation`` for one not confirmed yet.
    """

    topic_arn: str
    protocol: str
    endpoint: str
    handle: str

    @property
    def topic(self) -> str:
        """The topic's name: the last part of its ARN."""
        return self.topic_arn.rsplit(":", 1)[-1]

    @property
    def queue(self) -> str | None:
        """The subscribed queue's name, for an ``sqs`` subscription: its ARN's last part."""
        return self.endpoint.rsplit(":", 1)[-1] if self.protocol == "sqs" else None


@runtime_checkable
class SubscriptionInspection(Protocol):
    """Lists and removes subscriptions, and names queues by ARN as subscriptions do."""

    def list_subscriptions(self) -> list[TopicSubscription]:
        """Return every subscription of the account's topics (SNS ``ListSubscriptions``)."""

    def queue_arn(self, queue_name: str) -> str:
        """Return the ARN of a queue, as a subscription's endpoint names it.

        Raises:
            QueueNotFoundError: there is no such queue.
        """

    def unsubscribe(self, subscription: TopicSubscription) -> None:
        """Delete the subscription; one already gone is not an error."""


def subscription_inspection_of(backend: object) -> SubscriptionInspection:
    """Return ``backend`` as a ``SubscriptionInspection``.

    Raises:
        BackendRefusedError: it does not list subscriptions.
    """
    if not isinstance(backend, SubscriptionInspection):
        raise BackendRefusedError(
            f"{type(backend).__name__} cannot list subscriptions; use SqsBackend or "
            "InMemoryBackend (PrefixedBackend wraps one: list on the backend it wraps)",
            operation="inspection",
            code="UnsupportedOperation",
        )
    return backend
