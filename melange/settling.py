"""Settling handled messages with the broker: acknowledge, retry, dead-letter, release.

The dispatcher decides (``handling.py``); this carries the decision out. Failures to
settle are logged, never raised: the broker then delivers the message again, which the
consumers' idempotency (or the deduplication cache) absorbs.

A message that fails on its last allowed receive is moved to the dead-letter queue here,
with the exception as its reason, rather than left for the broker's redrive policy to
move without one; so every dead letter carries a reason, is counted and logged at ERROR.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

import attrs

from melange.backends.protocol import MessagingBackend
from melange.dead_letters import dead_letter_copy
from melange.exceptions import BackendError
from melange.flow import AckBatcher
from melange.handling import Action, Outcome
from melange.messages import ReceivedMessage, RedrivePolicy
from melange.retry import Backoff, is_last_receive

__all__ = ["DispatcherStats", "Settler"]

logger = logging.getLogger("melange.dispatcher")


@attrs.define
class DispatcherStats:
    """Counts of what the dispatcher did, for logs, tests and benchmarks."""

    received: int = 0
    acknowledged: int = 0
    retried: int = 0
    dead_lettered: int = 0
    released: int = 0
    left: int = 0
    _lock: threading.Lock = attrs.field(factory=threading.Lock, repr=False, eq=False)

    def count(self, name: str, amount: int = 1) -> None:
        """Add ``amount`` to the counter ``name``; safe from any thread."""
        with self._lock:
            setattr(self, name, getattr(self, name) + amount)


class Settler:
    """Carries out ``Outcome``s against the backend and counts them in ``stats``.

    Args:
        backend: the messaging backend.
        stats: the counters to update.
        backoff: the delay for messages to dead-letter on a queue without a DLQ.
        early_ack: messages were acknowledged on receipt; only log failures.
    """

    def __init__(
        self,
        backend: MessagingBackend,
        stats: DispatcherStats,
        backoff: Backoff,
        *,
        early_ack: bool,
    ) -> None:
        self.backend = backend
        self.stats = stats
        self.backoff = backoff
        self.early_ack = early_ack
        self._redrive_policies: dict[str, RedrivePolicy | None] = {}

    def settle(
        self,
        queue_name: str,
        acks: AckBatcher | None,
        received: ReceivedMessage,
        outcome: Outcome,
    ) -> None:
        """Acknowledge, retry, dead-letter or leave ``received`` as ``outcome`` says.

        With ``acks`` the acknowledgement is batched; without, it is sent at once.
        """
        if self.early_ack:
            if outcome.action is not Action.ACK:
                logger.error(
                    "message %s was acknowledged on receipt (early_ack) and then failed: %s",
                    received.broker_message_id,
                    outcome.reason,
                )
            return
        try:
            self._apply(queue_name, acks, received, outcome)
        except BackendError as exc:
            logger.warning(
                "could not settle message %s (%s); it will be delivered again",
                received.broker_message_id,
                exc,
            )

    def _apply(
        self,
        queue_name: str,
        acks: AckBatcher | None,
        received: ReceivedMessage,
        outcome: Outcome,
    ) -> None:
        if outcome.action is Action.DEAD_LETTER:
            self._dead_letter(queue_name, acks, received, outcome.reason)
        elif outcome.action is Action.ACK:
            self._acknowledge(queue_name, acks, received)
        elif outcome.action is Action.RETRY and self._on_last_receive(queue_name, received):
            self._dead_letter(queue_name, acks, received, outcome.reason)
        elif outcome.action is Action.RETRY:
            self.stats.count("retried")
            self.backend.change_visibility(queue_name, [received.receipt_handle], outcome.delay)
        elif outcome.action is Action.RELEASE:
            self.release(queue_name, [received])
        elif outcome.action is Action.LEAVE:
            self.stats.count("left")

    def _acknowledge(
        self, queue_name: str, acks: AckBatcher | None, received: ReceivedMessage
    ) -> None:
        if acks is not None:
            acks.add(received.receipt_handle)
        elif not self.backend.acknowledge(queue_name, [received.receipt_handle]):
            self.stats.count("acknowledged")

    def _redrive_policy(self, queue_name: str) -> RedrivePolicy | None:
        # Looked up when first needed, so a broker that is down at start only delays this.
        if queue_name not in self._redrive_policies:
            self._redrive_policies[queue_name] = self.backend.redrive_policy(queue_name)
        return self._redrive_policies[queue_name]

    def _on_last_receive(self, queue_name: str, received: ReceivedMessage) -> bool:
        try:
            policy = self._redrive_policy(queue_name)
        except BackendError as exc:  # unknown: retry, and leave the last word to the broker
            logger.warning("could not read the redrive policy of %r (%s)", queue_name, exc)
            return False
        return is_last_receive(received.receive_count, policy)

    def _dead_letter(
        self, queue_name: str, acks: AckBatcher | None, received: ReceivedMessage, reason: str
    ) -> None:
        policy = self._redrive_policy(queue_name)
        if policy is None:
            logger.error(
                "message %s on %r is to be dead-lettered (%s) but the queue has no dead-letter "
                "queue; leaving it for redelivery: declare one with dead_letter_queue=...",
                received.broker_message_id,
                queue_name,
                reason,
            )
            delay = self.backoff.delay(received.receive_count)
            self.backend.change_visibility(queue_name, [received.receipt_handle], delay)
            return
        logger.error(
            "message %s on %r (receive %d) is dead-lettered (%s); moving it to %r",
            received.broker_message_id,
            queue_name,
            received.receive_count,
            reason,
            policy.dead_letter_queue,
        )
        copy = dead_letter_copy(received.body, received.attributes, reason)
        self.backend.send_raw(
            policy.dead_letter_queue,
            copy.body,
            copy.attributes,
            message_group_id=received.message_group_id,
            deduplication_id=received.broker_message_id if received.message_group_id else None,
        )
        self._acknowledge(queue_name, acks, received)
        self.stats.count("dead_lettered")

    def release(self, queue_name: str, messages: Sequence[ReceivedMessage]) -> None:
        """Make received messages visible again at once (visibility 0)."""
        if not messages:
            return
        handles = [m.receipt_handle for m in messages]
        try:
            self.backend.change_visibility(queue_name, handles, 0)
            self.stats.count("released", len(handles))
        except BackendError as exc:
            logger.warning("could not release %d messages (%s)", len(handles), exc)
