"""Counting queues, peeking at and redriving dead letters, on the in-memory backend."""

from __future__ import annotations

import threading

import pytest

from melange.app.ops.actions import dead_letter_queue_of, peek, queue_rows, redrive
from melange.app.ops.redrive import RedriveProgress, redrive_copy
from melange.backends import InMemoryBackend
from melange.backends.inspection import MoveTask, QueueStats, inspection_of
from melange.backends.prefixed import PrefixedBackend
from melange.consuming.dead_letters import ERROR_ATTRIBUTE, dead_letter_copy
from melange.exceptions import BackendRefusedError, ConfigurationError, QueueNotFoundError
from melange.messages import Destination, Envelope, OutgoingMessage, SendOptions
from tests.support.clock import FakeClock


@pytest.fixture(name="backend")
def fixture_backend() -> InMemoryBackend:
    """Give queues ``work`` and ``work.fifo`` with their dead-letter queues."""
    backend = InMemoryBackend()
    backend.declare_queue("work", dead_letter_queue="work-dlq", max_receive_count=1)
    backend.declare_queue("work.fifo", dead_letter_queue="work-dlq.fifo", max_receive_count=1)
    return backend


def dead_letter(
    backend: InMemoryBackend, queue: str, number: int, group: str | None = None
) -> None:
    """Send a dead-letter copy to ``queue``, as the dispatcher does after a failure."""
    copy = dead_letter_copy(f'{{"n": {number}}}', {"n": number}, f"ValueError: {number}")
    dedup = f"d{number}" if group else None
    backend.send_raw(
        queue, copy.body, copy.attributes, message_group_id=group, deduplication_id=dedup
    )


def bodies(backend: InMemoryBackend, queue: str) -> list[str]:
    """Receive (and delete) everything on ``queue``; return the bodies in order."""
    found: list[str] = []
    while batch := backend.receive(queue, max_messages=10):
        backend.acknowledge(queue, [m.receipt_handle for m in batch])
        found.extend(m.body for m in batch)
    return found


def test_memory_stats_count_ready_in_flight_delayed_and_the_oldest_age() -> None:
    """The in-memory backend counts as SQS does and, unlike SQS, knows the oldest age."""
    clock = FakeClock()
    backend = InMemoryBackend(clock=clock)
    backend.declare_queue("q")
    for delay in (None, None, 30):
        envelope = Envelope(content="x", manifest=None, serializer_id=None)
        backend.publish(
            Destination.queue("q"), [OutgoingMessage(envelope, SendOptions(delay_seconds=delay))]
        )
    clock.advance(5)
    backend.receive("q", max_messages=1)

    assert backend.queue_stats("q") == QueueStats(
        depth=1, in_flight=1, delayed=1, oldest_age_seconds=5
    )


def test_purge_empties_the_queue(backend: InMemoryBackend) -> None:
    """After a purge the queue holds nothing, in flight or not."""
    dead_letter(backend, "work-dlq", 1)
    dead_letter(backend, "work-dlq", 2)
    backend.receive("work-dlq", max_messages=1)

    backend.purge("work-dlq")

    assert backend.queue_stats("work-dlq").total == 0


def test_queue_rows_show_each_queue_with_its_dead_letter_depth(backend: InMemoryBackend) -> None:
    """A row per queue, with its DLQ named by the broker's redrive policy."""
    dead_letter(backend, "work-dlq", 1)

    rows = queue_rows(backend, ["work", "work-dlq"])

    assert [(r.name, r.dead_letter_queue) for r in rows] == [
        ("work", "work-dlq"),
        ("work-dlq", None),
    ]
    assert rows[0].dead_letter_stats is not None
    assert rows[0].dead_letter_stats.depth == 1


def test_a_queue_without_a_dead_letter_queue_is_named_in_the_error(
    backend: InMemoryBackend,
) -> None:
    """Naming the DLQ itself (or any queue without a policy) says what to name instead."""
    with pytest.raises(ConfigurationError, match="'work-dlq' has no dead-letter queue"):
        dead_letter_queue_of(backend, "work-dlq")


def test_a_misspelt_queue_is_refused_with_the_closest_names() -> None:
    """``dlq show refund``: no such queue; the nearest of the prefix's queues with a DLQ."""
    inner = InMemoryBackend()
    inner.declare_queue("refunds-elsewhere")
    backend = PrefixedBackend(inner, "shop-")
    backend.declare_queue("refunds", dead_letter_queue="refunds-dlq")
    backend.declare_queue("payments")

    with pytest.raises(ConfigurationError) as refused:
        dead_letter_queue_of(backend, "refund")
    with pytest.raises(ConfigurationError) as unrelated:
        dead_letter_queue_of(backend, "zzz")

    assert str(refused.value).startswith(
        "queue 'refund' (broker name 'shop-refund') does not exist; did you mean 'refunds'? "
        "`python -m melange queues --all` lists"
    )
    assert refused.value.problems[0].expected == "one of refunds"
    assert isinstance(refused.value.__cause__, QueueNotFoundError)
    assert "no queue has a similar name" in str(unrelated.value)


def test_peek_leaves_every_message_on_the_queue(backend: InMemoryBackend) -> None:
    """Peeked messages are visible again at once: a second peek sees them all again."""
    for number in range(12):
        dead_letter(backend, "work-dlq", number)

    first = peek(backend, "work-dlq", 20)
    second = peek(backend, "work-dlq", 5)

    assert len(first) == 12
    assert len(second) == 5
    assert backend.queue_stats("work-dlq").depth == 12


def run_redrive(
    backend: object, source: str, dead: str, stop: threading.Event | None = None, **options: object
) -> tuple[RedriveProgress, list[RedriveProgress]]:
    """Redrive and return the outcome and every progress reported."""
    reports: list[RedriveProgress] = []
    outcome = redrive(
        backend,  # type: ignore[arg-type]
        source,
        dead,
        rate=options.get("rate"),  # type: ignore[arg-type]
        method=str(options.get("method", "auto")),
        stop=stop or threading.Event(),
        report=reports.append,
    )
    return outcome, reports


def test_redrive_falls_back_to_copying_and_restores_the_originals(backend: InMemoryBackend) -> None:
    """The in-memory broker has no move task: messages are copied back, without melange_error."""
    for number in range(3):
        dead_letter(backend, "work-dlq", number)

    outcome, reports = run_redrive(backend, "work", "work-dlq")

    assert outcome == RedriveProgress("copy", 3, moved=3)
    assert [r.moved for r in reports] == [0, 1, 2, 3]
    moved = backend.receive("work", max_messages=10)
    assert sorted(m.body for m in moved) == ['{"n": 0}', '{"n": 1}', '{"n": 2}']
    assert all(ERROR_ATTRIBUTE not in m.attributes for m in moved)
    assert backend.queue_stats("work-dlq").total == 0


def test_insisting_on_a_move_task_where_there_is_none_raises(backend: InMemoryBackend) -> None:
    """``--method move-task`` on a broker without it is refused, nothing moved."""
    dead_letter(backend, "work-dlq", 1)

    with pytest.raises(BackendRefusedError, match="cannot move"):
        run_redrive(backend, "work", "work-dlq", method="move-task")
    assert backend.queue_stats("work-dlq").depth == 1


def test_a_stopped_redrive_releases_what_it_received_and_a_rerun_moves_the_rest(
    backend: InMemoryBackend,
) -> None:
    """Stopped after two, the received rest is visible again; the rerun moves it, none twice."""
    for number in range(6):
        dead_letter(backend, "work-dlq", number)
    stop = threading.Event()
    reports: list[RedriveProgress] = []

    def stop_after_two(progress: RedriveProgress) -> None:
        reports.append(progress)
        if progress.moved == 2:
            stop.set()

    first = redrive(
        backend, "work", "work-dlq", rate=None, method="copy", stop=stop, report=stop_after_two
    )

    assert (first.moved, first.interrupted) == (2, True)
    assert backend.queue_stats("work-dlq").depth == 4  # released, not waiting for a timeout
    second, _ = run_redrive(backend, "work", "work-dlq")
    assert (second.moved, second.interrupted) == (4, False)
    assert sorted(bodies(backend, "work")) == sorted(f'{{"n": {n}}}' for n in range(6))


def test_a_fifo_redrive_keeps_groups_and_order(backend: InMemoryBackend) -> None:
    """FIFO dead letters go back in order, in their groups, by copy."""
    for number in range(4):
        dead_letter(backend, "work-dlq.fifo", number, group="g")

    outcome, _ = run_redrive(backend, "work.fifo", "work-dlq.fifo")

    assert outcome.method == "copy"
    assert bodies(backend, "work.fifo") == [f'{{"n": {n}}}' for n in range(4)]


def test_a_fifo_redrive_insisting_on_the_move_task_is_not_copied_quietly(
    backend: InMemoryBackend,
) -> None:
    """--method move-task on FIFO asks the broker, and its refusal is raised, not copied."""
    dead_letter(backend, "work-dlq.fifo", 1, group="g")

    with pytest.raises(BackendRefusedError, match="cannot move"):
        run_redrive(backend, "work.fifo", "work-dlq.fifo", method="move-task")
    assert backend.queue_stats("work-dlq.fifo").depth == 1


def test_a_fifo_copy_sent_twice_is_dropped_by_deduplication(backend: InMemoryBackend) -> None:
    """A copy re-sent after an interruption (sent, not deleted) is a duplicate SQS drops."""
    dead_letter(backend, "work-dlq.fifo", 1, group="g")
    message = backend.receive("work-dlq.fifo", visibility_timeout=0)[0]

    for _ in range(2):
        copy = redrive_copy(message, "work.fifo")
        backend.send_raw(
            "work.fifo",
            copy.body,
            copy.attributes,
            message_group_id=copy.message_group_id,
            deduplication_id=copy.deduplication_id,
        )

    assert backend.queue_stats("work.fifo").depth == 1


def test_a_prefixed_backend_inspects_and_lists_by_the_applications_names() -> None:
    """Through a prefix: short names listed, counted, purged; other prefixes not listed."""
    inner = InMemoryBackend()
    inner.declare_queue("other-work")
    backend = PrefixedBackend(inner, "shop-")
    backend.declare_queue("work", dead_letter_queue="work-dlq")
    dead_letter(inner, "shop-work-dlq", 1)

    assert backend.list_queues() == ["work", "work-dlq"]
    assert backend.queue_stats("work-dlq").depth == 1
    assert dead_letter_queue_of(backend, "work") == "work-dlq"
    backend.purge("work-dlq")
    assert inner.queue_stats("shop-work-dlq").total == 0


def test_a_backend_without_inspection_is_refused_by_name() -> None:
    """A backend that only moves messages is named in the refusal."""

    class MovesOnly:
        """Stands for a third-party backend implementing only MessagingBackend."""

    with pytest.raises(BackendRefusedError, match="MovesOnly cannot count"):
        inspection_of(MovesOnly())


class MovingBackend(InMemoryBackend):
    """An in-memory broker that moves messages itself, as SQS's StartMessageMoveTask does."""

    def __init__(self, *, finishes: bool = True) -> None:
        super().__init__()
        self.finishes = finishes
        self.started: tuple[str, str, int | None] | None = None
        self.cancelled: list[str] = []
        self.task = MoveTask("h1", "RUNNING")

    def start_message_move(
        self, dead_letter_queue: str, destination: str, *, max_per_second: int | None = None
    ) -> MoveTask:
        """Move everything at once when told to finish; else leave the task running."""
        self.started = (dead_letter_queue, destination, max_per_second)
        moved = 0
        while self.finishes and (batch := self.receive(dead_letter_queue, max_messages=10)):
            for message in batch:
                self.send_raw(destination, message.body, message.attributes)
                self.acknowledge(dead_letter_queue, [message.receipt_handle])
                moved += 1
        if self.finishes:
            self.task = MoveTask("h1", "COMPLETED", moved=moved, to_move=moved)
        return MoveTask("h1", "RUNNING")

    def message_move(self, dead_letter_queue: str) -> MoveTask | None:
        """Return the task as it stands."""
        return self.task

    def cancel_message_move(self, handle: str) -> None:
        """Record the cancellation."""
        self.cancelled.append(handle)
        self.task = MoveTask(handle, "CANCELLING", moved=self.task.moved)


@pytest.fixture(name="fast_polls")
def fixture_fast_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    """Look at move tasks every 10 ms instead of every second."""
    monkeypatch.setattr("melange.app.ops.actions.MOVE_TASK_POLL_SECONDS", 0.01)


@pytest.mark.usefixtures("fast_polls")
def test_where_the_broker_can_move_messages_the_redrive_lets_it() -> None:
    """A broker with a move task gets source, destination and rate; copying never starts."""
    backend = MovingBackend()
    backend.declare_queue("work", dead_letter_queue="work-dlq")
    for number in range(3):
        dead_letter(backend, "work-dlq", number)

    outcome, reports = run_redrive(backend, "work", "work-dlq", rate=2.4)

    assert outcome == RedriveProgress("move-task", 3, moved=3)
    assert backend.started == ("work-dlq", "work", 2)
    assert reports[-1].moved == 3
    assert backend.queue_stats("work").depth == 3


@pytest.mark.usefixtures("fast_polls")
def test_a_stopped_move_task_is_cancelled() -> None:
    """SIGINT during a broker-side move cancels the task and reports the interruption."""
    backend = MovingBackend(finishes=False)
    backend.declare_queue("work", dead_letter_queue="work-dlq")
    dead_letter(backend, "work-dlq", 1)
    stop = threading.Event()
    stop.set()

    outcome, _ = run_redrive(backend, "work", "work-dlq", stop=stop)

    assert outcome.interrupted
    assert backend.cancelled == ["h1"]


def test_a_fifo_dead_letter_queue_is_given_to_the_move_task_too() -> None:
    """SQS's move task serves FIFO dead-letter queues (since November 2023): asked first."""
    backend = MovingBackend()
    backend.declare_queue("work.fifo", dead_letter_queue="work-dlq.fifo")
    dead_letter(backend, "work-dlq.fifo", 1, group="g")

    outcome, _ = run_redrive(backend, "work.fifo", "work-dlq.fifo")

    assert outcome.method == "move-task"
    assert backend.started is not None
