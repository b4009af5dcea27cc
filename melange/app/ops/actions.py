"""The operations commands' I/O: counting queues, peeking at and moving dead letters.

Thin shells around a backend (``MessagingBackend`` and ``QueueInspection``); every
decision is in ``melange.app.ops.redrive`` and ``reports``. A redrive never deletes a dead
letter before the source queue accepted its copy, and stops between two messages when
told to (the ``stop`` event that SIGINT and SIGTERM set), releasing what it received and
had not moved: after an interruption and a rerun no message is lost, and only a message
whose copy was accepted but whose delete did not happen can arrive twice.
"""

from __future__ import annotations

import contextlib
import difflib
import logging
import threading
import time
from collections.abc import Callable, Sequence

import attrs

from melange.app.ops.redrive import (
    RedriveProgress,
    pause_before,
    redrive_batch_size,
    redrive_copy,
    redrive_visibility,
    should_continue,
)
from melange.app.ops.reports import QueueRow
from melange.backends.inspection import MoveTask, QueueInspection, inspection_of
from melange.backends.protocol import MessagingBackend
from melange.exceptions import (
    BackendError,
    BackendUnavailableError,
    ConfigurationError,
    MelangeError,
    Problem,
    QueueNotFoundError,
    describe_name,
)
from melange.messages import ReceivedMessage

__all__ = [
    "closest_queues",
    "dead_letter_queue_of",
    "peek",
    "queue_rows",
    "redrive",
    "unknown_queue",
]

logger = logging.getLogger("melange.app.ops")

#: Seconds a peeked message stays hidden before it is released (at once, normally).
PEEK_VISIBILITY = 30
#: Seconds between two looks at a broker-side move task.
MOVE_TASK_POLL_SECONDS = 1.0

Report = Callable[[RedriveProgress], None]


def dead_letter_queue_of(backend: MessagingBackend, queue: str) -> str:
    """Return the dead-letter queue the queue's redrive policy names.

    Raises:
        ConfigurationError: the queue has no redrive policy, or there is no such queue
            (then the message suggests the backend's queues with the closest names).
    """
    try:
        policy = backend.redrive_policy(queue)
    except QueueNotFoundError as exc:
        raise unknown_queue(exc, closest_queues(backend, queue)) from exc
    if policy is None:
        raise ConfigurationError(
            f"queue {queue!r} has no dead-letter queue (no RedrivePolicy); name the queue "
            "whose dead letters you mean, not the dead-letter queue itself",
            problems=[Problem("queue", queue, "a queue with a dead-letter queue")],
        )
    return policy.dead_letter_queue


def closest_queues(backend: MessagingBackend, name: str) -> list[str]:
    """Return up to three of the backend's queues named most like ``name`` (``difflib``).

    Those with a dead-letter queue come first, as the ``dlq`` commands need one: a typo
    of ``payments`` suggests ``payments``, not ``payments-dlq``.
    """
    close = difflib.get_close_matches(name, inspection_of(backend).list_queues(), n=5, cutoff=0.6)
    with_dead_letters = [queue for queue in close if _has_dead_letter_queue(backend, queue)]
    return (with_dead_letters or close)[:3]


def _has_dead_letter_queue(backend: MessagingBackend, queue: str) -> bool:
    try:
        return backend.redrive_policy(queue) is not None
    except QueueNotFoundError:  # deleted since it was listed
        return False


def unknown_queue(missing: QueueNotFoundError, close: Sequence[str]) -> ConfigurationError:
    """Return the error for a queue name the broker does not know, suggesting ``close``."""
    name = missing.queue_name
    if close:
        hint = f"did you mean {' or '.join(map(repr, close))}?"
        expected = f"one of {', '.join(close)}"
    else:
        hint = "no queue has a similar name;"
        expected = "an existing queue"
    return ConfigurationError(
        f"queue {describe_name(name, missing.broker_name)} does not exist; {hint} "
        "`python -m melange queues --all` lists the queues of the MELANGE_* settings "
        "(check MELANGE_PREFIX and MELANGE_ENV if yours is not there)",
        problems=[Problem("queue", name, expected)],
    )


def queue_rows(backend: MessagingBackend, names: Sequence[str]) -> list[QueueRow]:
    """Return each queue's counts and its dead-letter queue's, as the broker states them."""
    inspection = inspection_of(backend)
    rows = []
    for name in names:
        policy = backend.redrive_policy(name)
        dead = None if policy is None else policy.dead_letter_queue
        rows.append(
            QueueRow(
                name=name,
                stats=inspection.queue_stats(name),
                dead_letter_queue=dead,
                dead_letter_stats=None if dead is None else inspection.queue_stats(dead),
            )
        )
    return rows


def peek(backend: MessagingBackend, queue: str, limit: int) -> list[ReceivedMessage]:
    """Return up to ``limit`` messages of the queue, leaving them on it.

    SQS has no read that leaves a message untouched: each is received (which counts in
    its ``ApproximateReceiveCount``) and made visible again at once.
    """
    seen: dict[str, ReceivedMessage] = {}
    handles: list[str] = []
    try:
        while len(seen) < limit:
            batch = backend.receive(
                queue,
                max_messages=min(10, limit - len(seen)),
                wait_time_seconds=1,
                visibility_timeout=PEEK_VISIBILITY,
            )
            if not batch:
                break
            for message in batch:
                handles.append(message.receipt_handle)
                seen.setdefault(message.broker_message_id, message)
    finally:
        _release(backend, queue, handles)
    return list(seen.values())[:limit]


def redrive(
    backend: MessagingBackend,
    source: str,
    dead_letter_queue: str,
    *,
    rate: float | None,
    method: str,
    stop: threading.Event,
    report: Report,
) -> RedriveProgress:
    """Move the dead-letter queue's messages back to ``source``; return how far it got.

    ``method`` ``auto`` asks the broker to move them (``StartMessageMoveTask``, which
    serves FIFO queues too since November 2023), and moves them by receive, send and
    delete where the broker refuses; ``move-task`` and ``copy`` insist on one way.
    """
    inspection = inspection_of(backend)
    to_move = inspection.queue_stats(dead_letter_queue).depth
    if method != "copy":
        moved = _move_with_task(
            inspection, source, dead_letter_queue, to_move, rate, stop, report, method
        )
        if moved is not None:
            return moved
    return _move_by_copy(backend, source, dead_letter_queue, to_move, rate, stop, report)


def _move_with_task(
    inspection: QueueInspection,
    source: str,
    dead_letter_queue: str,
    to_move: int,
    rate: float | None,
    stop: threading.Event,
    report: Report,
    method: str,
) -> RedriveProgress | None:
    """Let the broker move the messages; ``None`` when it cannot (and ``method`` allows)."""
    per_second = None if rate is None else max(1, min(500, round(rate)))
    try:
        task = inspection.start_message_move(dead_letter_queue, source, max_per_second=per_second)
    except BackendUnavailableError:
        raise
    except BackendError as exc:
        # Refused (AWS) or an emulator's 500 for an operation it lacks (moto):
        # copying is correct wherever the broker's move is not, so it is the fallback.
        if method == "move-task":
            raise
        logger.info("the broker cannot move messages itself (%s); copying them instead", exc)
        return None
    progress = RedriveProgress("move-task", to_move)
    while True:
        interrupted = stop.wait(MOVE_TASK_POLL_SECONDS)
        if interrupted:
            inspection.cancel_message_move(task.handle)
        current: MoveTask = inspection.message_move(dead_letter_queue) or task
        progress = attrs.evolve(progress, moved=current.moved, interrupted=interrupted)
        report(progress)
        if current.status == "FAILED":
            raise BackendError(
                f"the broker's move from {dead_letter_queue!r} failed: {current.failure}",
                operation="StartMessageMoveTask",
            )
        if interrupted or current.finished:
            return progress


def _move_by_copy(
    backend: MessagingBackend,
    source: str,
    dead_letter_queue: str,
    to_move: int,
    rate: float | None,
    stop: threading.Event,
    report: Report,
) -> RedriveProgress:
    """Receive a few, send each to ``source``, delete it once the send was accepted."""
    progress = RedriveProgress("copy", to_move)
    report(progress)
    size = redrive_batch_size(rate)
    visibility = redrive_visibility(size, rate)
    started = time.monotonic()
    empty = False
    while should_continue(progress, empty):
        batch = backend.receive(
            dead_letter_queue, max_messages=size, wait_time_seconds=1, visibility_timeout=visibility
        )
        empty = not batch
        progress = _move_batch(
            backend, source, dead_letter_queue, batch, progress, stop, report, started, rate
        )
    return progress


def _move_batch(
    backend: MessagingBackend,
    source: str,
    dead_letter_queue: str,
    batch: Sequence[ReceivedMessage],
    progress: RedriveProgress,
    stop: threading.Event,
    report: Report,
    started: float,
    rate: float | None,
) -> RedriveProgress:
    """Move a received batch one message at a time; release what is left when stopped."""
    for index, message in enumerate(batch):
        handled = progress.moved + progress.not_deleted
        rest = [m.receipt_handle for m in batch[index:]]
        if handled >= progress.to_move:  # what was dead-lettered since the start waits
            _release(backend, dead_letter_queue, rest)
            return progress
        if stop.wait(pause_before(handled, started, time.monotonic(), rate)):
            _release(backend, dead_letter_queue, rest)
            return attrs.evolve(progress, interrupted=True)
        copy = redrive_copy(message, source)
        try:
            backend.send_raw(
                source,
                copy.body,
                copy.attributes,
                message_group_id=copy.message_group_id,
                deduplication_id=copy.deduplication_id,
            )
        except MelangeError:
            _release(backend, dead_letter_queue, rest)
            raise
        # Deleted only now that the copy was accepted: a crash here duplicates, never loses.
        if backend.acknowledge(dead_letter_queue, [message.receipt_handle]):
            progress = attrs.evolve(progress, not_deleted=progress.not_deleted + 1)
        else:
            progress = attrs.evolve(progress, moved=progress.moved + 1)
        report(progress)
    return progress


def _release(backend: MessagingBackend, queue: str, handles: Sequence[str]) -> None:
    """Make received messages visible again at once; they reappear later if this fails."""
    if not handles:
        return
    with contextlib.suppress(MelangeError):
        failed = backend.change_visibility(queue, handles, 0)
        if failed:
            logger.warning(
                "%d messages of %r stay hidden until their receive expires", len(failed), queue
            )
