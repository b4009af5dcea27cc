"""Settling a handled message's fate against the broker, and counting what was done.

``Settling`` carries out an ``Outcome`` (acknowledge, retry after a backoff, dead-letter
with the reason, release, leave) as effects, for both dispatchers; ``Settler`` drives it
with blocking calls through ``BrokerQueue``, the threaded consume path's one caller of the
backend. ``DispatcherStats`` counts what happened (and records it in the metrics).

Failures to settle are logged, never raised: the broker then delivers the message again,
which the consumers' idempotency (or the deduplication cache) absorbs. A message failing on
its last allowed receive is moved to the dead-letter queue here, with the exception as its
reason, rather than left for the broker's redrive policy to move without one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

import attrs

from melange import metrics, tracing
from melange.backends.protocol import MessagingBackend
from melange.dead_letters import dead_letter_copy
from melange.decisions import is_last_receive
from melange.effects import (
    Acknowledge,
    ChangeVisibility,
    Effect,
    LookUpRedrivePolicy,
    SendToDeadLetters,
    Steps,
    run_sync,
)
from melange.exceptions import BackendError
from melange.handling import Action, Outcome, log_fields
from melange.messages import ReceivedMessage, RedrivePolicy
from melange.options import AckPolicy, DispatcherOptions

__all__ = ["AcknowledgeOne", "BrokerQueue", "DispatcherStats", "Settler", "Settling"]

logger = logging.getLogger(__name__)


@attrs.define
class DispatcherStats:
    """Counts of what the dispatcher did, for logs, tests, benchmarks and metrics.

    Every count is also recorded in melange's metrics (``melange.metrics``), when
    OpenTelemetry is installed, labelled with ``queue_name``: each runner counts into its
    queue's stats (``for_queue``), which add to the dispatcher's.
    """

    received: int = 0
    acknowledged: int = 0
    retried: int = 0
    dead_lettered: int = 0
    released: int = 0
    left: int = 0
    queue_name: str = attrs.field(default="", repr=False, eq=False)
    _parent: DispatcherStats | None = attrs.field(default=None, repr=False, eq=False)
    _lock: threading.Lock = attrs.field(factory=threading.Lock, repr=False, eq=False)

    def count(self, name: str, amount: int = 1, *, reason: str = "") -> None:
        """Add ``amount`` to the counter ``name`` (``reason``: why dead-lettered); thread-safe."""
        self._add(name, amount)
        recorder = metrics.current()
        if recorder is not None:
            recorder.counted(self.queue_name, name, amount, reason)

    def _add(self, name: str, amount: int) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + amount)
        if self._parent is not None:
            self._parent._add(name, amount)

    def for_queue(self, queue_name: str) -> DispatcherStats:
        """Return the stats of one queue's runner, which add to these too."""
        return DispatcherStats(queue_name=queue_name, parent=self)

    def handled(self, received: ReceivedMessage, outcome: Outcome | None, seconds: float) -> None:
        """Record that handling ``received`` took ``seconds`` (``None``: it raised)."""
        recorder = metrics.current()
        if recorder is not None:
            action = "error" if outcome is None else outcome.action.value
            reason = "" if outcome is None else outcome.reason
            recorder.handled(self.queue_name, action, reason, seconds, received.sent_at)


class BrokerQueue:
    """One queue as the consume path uses it: every call it makes to the backend is here.

    Args:
        backend: the messaging backend.
        queue_name: the queue consumed.
    """

    def __init__(self, backend: MessagingBackend, queue_name: str) -> None:
        self.backend = backend
        self.name = queue_name

    def receive(
        self, max_messages: int, *, wait_time_seconds: int = 0, visibility_timeout: int
    ) -> list[ReceivedMessage]:
        """Receive up to ``max_messages``, hidden for ``visibility_timeout`` seconds."""
        began = time.monotonic()
        batch = self.backend.receive(
            self.name,
            max_messages=max_messages,
            wait_time_seconds=wait_time_seconds,
            visibility_timeout=visibility_timeout,
        )
        tracing.record_receive(self.name, batch, time.monotonic() - began)
        return batch

    def acknowledge(self, receipt_handles: Sequence[str]) -> list[str]:
        """Delete received messages; return the handles the broker refused."""
        return self.backend.acknowledge(self.name, receipt_handles)

    def change_visibility(self, receipt_handles: Sequence[str], seconds: int) -> None:
        """Hide received messages for ``seconds`` from now (0: visible at once)."""
        self.backend.change_visibility(self.name, receipt_handles, seconds)

    def redrive_policy(self) -> RedrivePolicy | None:
        """Ask the broker for the queue's redrive policy (``Settling`` keeps the answer)."""
        return self.backend.redrive_policy(self.name)


#: Sends one acknowledgement (batched by the runner); ``None``: send each at once.
AcknowledgeOne = Callable[[ReceivedMessage], object]


class Settling:
    """Carrying out ``Outcome``s on one queue, as effects, counted in ``stats``.

    Shared by both halves: the threaded ``Settler`` below and the asyncio runner drive it.
    It remembers the queue's redrive policy once the broker gave it.

    Args:
        queue_name: the queue the messages came from.
        stats: the counters to update.
        options: the dispatcher's options (backoff, ack policy).
    """

    def __init__(self, queue_name: str, stats: DispatcherStats, options: DispatcherOptions) -> None:
        self.queue_name = queue_name
        self.stats = stats
        self.options = options
        self._policy: tuple[RedrivePolicy | None] | None = None

    def settle(self, received: ReceivedMessage, outcome: Outcome) -> Steps[None]:
        """Acknowledge, retry, dead-letter, release or leave ``received`` as ``outcome`` says."""
        if self.options.ack_policy is AckPolicy.ON_RECEIPT:
            if outcome.action is not Action.ACK:
                logger.error(
                    "message %s was acknowledged on receipt (AckPolicy.ON_RECEIPT) and then "
                    "failed: %s",
                    received.broker_message_id,
                    outcome.reason,
                    extra=log_fields(received, outcome.message_id),
                )
            return
        try:
            yield from self._apply(received, outcome)
        except BackendError as exc:
            logger.warning(
                "could not settle message %s (%s); it will be delivered again",
                received.broker_message_id,
                exc,
                extra=log_fields(received, outcome.message_id),
            )

    def _apply(self, received: ReceivedMessage, outcome: Outcome) -> Steps[None]:
        action = outcome.action
        last = action is Action.RETRY and (yield from self._on_last_receive(received, outcome))
        if action is Action.DEAD_LETTER or last:
            yield from self._dead_letter(received, outcome)
        elif action is Action.ACK:
            yield from self._acknowledge(received)
        elif action is Action.RETRY:
            self.stats.count("retried")
            yield ChangeVisibility((received.receipt_handle,), outcome.delay)
        elif action is Action.RELEASE:
            yield from self.release([received])
        elif action is Action.LEAVE:
            self.stats.count("left")

    def _acknowledge(self, received: ReceivedMessage) -> Steps[None]:
        deleted = yield Acknowledge(received)
        if deleted:  # None: batched, counted when the batch goes out
            self.stats.count("acknowledged")

    def _redrive_policy(self) -> Steps[RedrivePolicy | None]:
        if self._policy is None:  # asked when first needed: a broker down at start only delays it
            self._policy = ((yield LookUpRedrivePolicy()),)
        return self._policy[0]

    def _on_last_receive(self, received: ReceivedMessage, outcome: Outcome) -> Steps[bool]:
        try:
            policy = yield from self._redrive_policy()
        except BackendError as exc:  # unknown: retry, and leave the last word to the broker
            logger.warning(
                "could not read the redrive policy of %r (%s)",
                self.queue_name,
                exc,
                extra=log_fields(received, outcome.message_id),
            )
            return False
        return is_last_receive(received.receive_count, policy)

    def _dead_letter(self, received: ReceivedMessage, outcome: Outcome) -> Steps[None]:
        reason = outcome.reason
        fields = {**log_fields(received, outcome.message_id), "reason": reason}
        policy = yield from self._redrive_policy()
        if policy is None:
            logger.error(
                "message %s on %r is to be dead-lettered (%s) but the queue has no dead-letter "
                "queue; leaving it for redelivery: declare one with dead_letter_queue=...",
                received.broker_message_id,
                self.queue_name,
                reason,
                extra=fields,
            )
            delay = self.options.backoff.delay(received.receive_count)
            yield ChangeVisibility((received.receipt_handle,), delay)
            return
        logger.error(
            "message %s on %r (receive %d) is dead-lettered (%s); moving it to %r",
            received.broker_message_id,
            self.queue_name,
            received.receive_count,
            reason,
            policy.dead_letter_queue,
            extra={**fields, "dead_letter_queue": policy.dead_letter_queue},
        )
        copy = dead_letter_copy(received.body, received.attributes, reason)
        group = received.message_group_id
        yield SendToDeadLetters(
            policy.dead_letter_queue,
            copy.body,
            copy.attributes,
            message_group_id=group,
            deduplication_id=received.broker_message_id if group else None,  # FIFO needs one
        )
        yield from self._acknowledge(received)
        self.stats.count("dead_lettered", reason=reason)

    def release(self, messages: Sequence[ReceivedMessage]) -> Steps[None]:
        """Make received messages visible again at once (visibility 0)."""
        if not messages:
            return
        handles = tuple(m.receipt_handle for m in messages)
        try:
            yield ChangeVisibility(handles, 0)
            self.stats.count("released", len(handles))
        except BackendError as exc:
            logger.warning("could not release %d messages (%s)", len(handles), exc)


class Settler:
    """Carries out ``Outcome``s on one queue with blocking calls (the threaded dispatcher).

    Args:
        queue: the queue the messages came from.
        stats: the counters to update.
        options: the dispatcher's options (backoff, ack policy).
        acknowledge: sends one acknowledgement, batched; by default each is sent at once.
    """

    def __init__(
        self,
        queue: BrokerQueue,
        stats: DispatcherStats,
        options: DispatcherOptions,
        acknowledge: AcknowledgeOne | None = None,
    ) -> None:
        self.queue = queue
        self.stats = stats
        self.settling = Settling(queue.name, stats, options)
        self._acknowledge = acknowledge

    def settle(self, received: ReceivedMessage, outcome: Outcome) -> None:
        """Acknowledge, retry, dead-letter, release or leave ``received`` as ``outcome`` says."""
        run_sync(self.settling.settle(received, outcome), self._perform)

    def release(self, messages: Sequence[ReceivedMessage]) -> None:
        """Make received messages visible again at once (visibility 0)."""
        run_sync(self.settling.release(messages), self._perform)

    def _perform(self, effect: Effect) -> object:
        if isinstance(effect, Acknowledge):
            if self._acknowledge is not None:
                self._acknowledge(effect.received)
                return None
            return not self.queue.acknowledge([effect.received.receipt_handle])
        if isinstance(effect, ChangeVisibility):
            self.queue.change_visibility(list(effect.receipt_handles), effect.seconds)
            return None
        if isinstance(effect, LookUpRedrivePolicy):
            return self.queue.redrive_policy()
        if isinstance(effect, SendToDeadLetters):
            return self.queue.backend.send_raw(
                effect.queue_name,
                effect.body,
                effect.attributes,
                message_group_id=effect.message_group_id,
                deduplication_id=effect.deduplication_id,
            )
        raise TypeError(f"Settler cannot perform {effect!r}")
