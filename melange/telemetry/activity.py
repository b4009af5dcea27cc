"""Whether a worker is alive and ready, from what its queue runners last did.

Each running queue runner (threaded or asyncio) registers a ``QueueActivity`` in
``RUNNING`` while it runs, and stamps it as its poll loop turns: after every receive,
before every backoff (with the time the backoff ends), and while it waits for room.
``liveness`` and ``readiness`` are pure functions of those values and the clock, served
over HTTP by ``melange.telemetry.health``; ``melange.telemetry.metrics`` reads how many
messages each queue has in flight from ``RUNNING``.

Alive: every queue's poll loop is running and has completed a receive or a backoff
recently, that is within the long-poll wait plus ``LIVENESS_GRACE_SECONDS`` of when it was
due; a loop waiting for room (every worker busy with a message) is alive as long as it
waits. Ready: every queue was found and the broker answered its last receive.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

import attrs

__all__ = [
    "LIVENESS_GRACE_SECONDS",
    "RUNNING",
    "HealthReport",
    "QueueActivity",
    "RunningQueues",
    "is_live",
    "liveness",
    "readiness",
]

#: How late (beyond the long-poll wait) a poll loop may be before the worker is not alive.
LIVENESS_GRACE_SECONDS = 10.0


@attrs.define
class QueueActivity:
    """What one running queue's poll loop last did, stamped by its runner.

    Args:
        queue_name: the queue consumed.
        wait_time_seconds: the long-poll wait of its receives.
        in_flight: returns how many of its messages are being handled now.
        due_at: monotonic time by which the loop is expected back from what it is doing.
        answered: whether the broker answered its last receive.
        waiting_for_room: whether the loop waits for a worker to finish a message.
    """

    queue_name: str
    wait_time_seconds: float
    in_flight: Callable[[], int] = attrs.field(default=lambda: 0, repr=False)
    due_at: float = attrs.field(factory=time.monotonic)
    answered: bool = False
    waiting_for_room: bool = False

    def received(self) -> None:
        """A receive returned (possibly empty): the broker answered."""
        self.due_at = time.monotonic()
        self.answered = True

    def backing_off(self, seconds: float) -> None:
        """A receive failed; the loop pauses ``seconds`` before the next one."""
        self.due_at = time.monotonic() + seconds
        self.answered = False

    def waiting(self, waiting: bool) -> None:
        """The loop starts (``True``) or stops waiting for room to receive more."""
        self.due_at = time.monotonic()
        self.waiting_for_room = waiting


def is_live(now: float, activity: QueueActivity) -> bool:
    """Return whether a poll loop turned recently enough to be considered running."""
    late = now - activity.due_at
    return activity.waiting_for_room or late <= activity.wait_time_seconds + LIVENESS_GRACE_SECONDS


@attrs.frozen
class HealthReport:
    """An answer to a health check: whether all is well, and one line per queue."""

    ok: bool
    lines: tuple[str, ...]

    def text(self) -> str:
        """The report as the HTTP body: ``ok`` or ``unavailable``, then a line per queue."""
        return "\n".join(("ok" if self.ok else "unavailable", *self.lines)) + "\n"


def liveness(expected: Sequence[str], running: Sequence[QueueActivity], now: float) -> HealthReport:
    """Return whether every expected queue has a poll loop that turned recently."""
    by_name = {a.queue_name: a for a in running}
    lines, ok = [], True
    for name in expected:
        activity = by_name.get(name)
        if activity is None:
            lines.append(f"{name}: not running")
            ok = False
        elif not is_live(now, activity):
            lines.append(f"{name}: poll loop silent for {now - activity.due_at:.0f} s")
            ok = False
        else:
            lines.append(f"{name}: polling")
    return HealthReport(ok, tuple(lines))


def readiness(expected: Sequence[str], running: Sequence[QueueActivity]) -> HealthReport:
    """Return whether every expected queue was found and the broker answered it last."""
    by_name = {a.queue_name: a for a in running}
    lines, ok = [], True
    for name in expected:
        activity = by_name.get(name)
        answered = activity is not None and activity.answered
        lines.append(f"{name}: {'ready' if answered else 'no answer from the broker yet'}")
        ok = ok and answered
    return HealthReport(ok, tuple(lines))


class RunningQueues:
    """The queues running in this process, each registered by its runner while it runs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: list[QueueActivity] = []

    def register(self, activity: QueueActivity) -> None:
        """Add a runner's activity, as it starts."""
        with self._lock:
            self._running.append(activity)

    def unregister(self, activity: QueueActivity) -> None:
        """Remove a runner's activity, as it stops."""
        with self._lock:
            self._running = [a for a in self._running if a is not activity]

    def snapshot(self) -> list[QueueActivity]:
        """Return the activities registered now."""
        with self._lock:
            return list(self._running)

    def in_flight(self) -> list[tuple[str, int]]:
        """Return ``(queue name, messages being handled)`` for each running queue."""
        return [(a.queue_name, a.in_flight()) for a in self.snapshot()]


#: Every queue runner of this process registers here while it runs.
RUNNING = RunningQueues()
