"""The consume path's pure decisions: how much to receive, what to extend, how to split a batch.

And which acknowledgements are still owed, and when a stopping runner stops waiting for them.
"""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from melange.consuming.decisions import (
    MAX_BATCHES_AHEAD,
    SHUTDOWN_GRACE_SECONDS,
    AckBatch,
    StopDeadline,
    due_for_extension,
    messages_ahead,
    next_mean,
    receive_allowance,
    shares,
    units_of_work,
)
from melange.messages import ReceivedMessage

# -- receive_allowance ------------------------------------------------------------------


@pytest.mark.parametrize(("workers", "held"), [(1, 1), (4, 4), (4, 7)])
@pytest.mark.parametrize("mean", [None, 100.0])
def test_nothing_is_received_while_every_worker_is_busy_and_no_batch_fits(
    workers: int, held: int, mean: float | None
) -> None:
    """With every worker busy and no room for a full batch ahead, the allowance is 0."""
    allowance = receive_allowance(
        workers=workers,
        held=held,
        max_messages=10,
        visibility_timeout=30,
        mean_handling_seconds=mean,
    )
    assert allowance == 0


@pytest.mark.parametrize(
    ("workers", "held", "expected"),
    [(1, 1, 10), (1, 10, 10), (1, 11, 0), (4, 7, 10), (4, 11, 0), (10, 10, 10), (10, 11, 0)],
)
def test_a_full_batch_is_received_ahead_of_busy_workers(
    workers: int, held: int, expected: int
) -> None:
    """With fast handlers, one full batch (no more) waits beyond what the workers hold.

    Fewer workers than a batch hold a whole batch between them (each takes its share), so
    the batch received ahead comes on top of that batch, not of one message per worker.
    """
    allowance = receive_allowance(
        workers=workers,
        held=held,
        max_messages=10,
        visibility_timeout=30,
        mean_handling_seconds=0.01,
    )
    assert allowance == expected


@pytest.mark.parametrize(
    ("workers", "held", "max_messages", "expected"),
    [(4, 0, 10, 4), (4, 3, 10, 1), (20, 5, 10, 10), (20, 0, 3, 3)],
)
def test_before_any_handling_time_one_message_per_free_worker(
    workers: int, held: int, max_messages: int, expected: int
) -> None:
    """Without a mean handling time, ``workers - held`` is allowed, at most ``max_messages``."""
    allowance = receive_allowance(
        workers=workers,
        held=held,
        max_messages=max_messages,
        visibility_timeout=30,
        mean_handling_seconds=None,
    )
    assert allowance == expected


@pytest.mark.parametrize(("workers", "held"), [(1, 0), (2, 1), (8, 3)])
def test_instant_handling_allows_a_full_receive(workers: int, held: int) -> None:
    """A mean handling time of 0 allows up to ``max_messages`` while a worker is free."""
    allowance = receive_allowance(
        workers=workers,
        held=held,
        max_messages=10,
        visibility_timeout=30,
        mean_handling_seconds=0.0,
    )
    assert allowance == 10


@pytest.mark.parametrize(("held", "expected"), [(0, 2), (1, 0)])
def test_the_allowance_fits_in_half_the_visibility_timeout(held: int, expected: int) -> None:
    """At 1 s per message, a 2 s timeout and one worker, 2 may be held (1 + floor(1 * 1 / 1))."""
    allowance = receive_allowance(
        workers=1,
        held=held,
        max_messages=10,
        visibility_timeout=2,
        mean_handling_seconds=1.0,
    )
    assert allowance == expected


def test_slow_handling_allows_one_per_free_worker() -> None:
    """When 4 workers together cannot start one extra message in half the timeout, none queue."""
    allowance = receive_allowance(
        workers=4,
        held=1,
        max_messages=10,
        visibility_timeout=30,
        mean_handling_seconds=61.0,  # 4 * 15 / 61 < 1
    )
    assert allowance == 3


#: Mean handling times that are multiples of 1/1024 s, exact in binary, so the bound below is
#: exact arithmetic (with a mean like 1.1 s, rounding at an integer may go either way by one).
binary_exact_means = st.integers(min_value=1, max_value=10**8).map(lambda k: k / 1024)


@given(
    workers=st.integers(min_value=1, max_value=64),
    held=st.integers(min_value=0, max_value=100),
    max_messages=st.integers(min_value=1, max_value=10),
    visibility_timeout=st.integers(min_value=0, max_value=43_200),
    mean=st.none() | st.just(0.0) | binary_exact_means,
)
def test_the_allowance_never_overfills_the_workers(
    workers: int, held: int, max_messages: int, visibility_timeout: int, mean: float | None
) -> None:
    """The allowance is 0 to ``max_messages`` and, once timed, never holds more than can start."""
    allowance = receive_allowance(
        workers=workers,
        held=held,
        max_messages=max_messages,
        visibility_timeout=visibility_timeout,
        mean_handling_seconds=mean,
    )
    assert 0 <= allowance <= max_messages
    in_hand = max(workers, max_messages)  # fewer workers than a batch share a whole one
    assert held + allowance <= max(held, in_hand + max_messages)  # at most one batch ahead
    if held >= workers:
        assert allowance in (0, max_messages)  # only a full batch ahead of busy workers
    if mean is not None and mean > 0:
        startable = workers + math.floor(workers * Fraction(visibility_timeout, 2) / Fraction(mean))
        assert held + allowance <= max(held, startable)


def test_a_tiny_mean_handling_time_allows_a_full_receive() -> None:
    """A mean handling time of 1e-308 s behaves like instant handling, not an OverflowError."""
    allowance = receive_allowance(
        workers=1,
        held=0,
        max_messages=10,
        visibility_timeout=30,
        mean_handling_seconds=1e-308,
    )
    assert allowance == 10


@pytest.mark.parametrize(("held", "expected"), [(11, 10), (31, 10), (32, 0)])
def test_receives_overlap_handling_when_the_broker_is_slower_than_the_handler(
    held: int, expected: int
) -> None:
    """At 30 us per message and 1 ms per receive, up to 4 batches wait for one worker.

    Without the receive time the worker would idle through every receive: one batch ahead
    allows no receive while that batch is being handled (held 11 would give 0).
    """
    allowance = receive_allowance(
        workers=1,
        held=held,
        max_messages=10,
        visibility_timeout=30,
        mean_handling_seconds=0.00003,
        mean_receive_seconds=0.001,
    )
    assert allowance == expected


def test_slow_handlers_wait_for_little_more_than_one_batch() -> None:
    """At 10 ms per message, 16 workers finish 1.6 messages in a 1 ms receive: 12 ahead."""
    assert (
        messages_ahead(
            workers=16,
            max_messages=10,
            visibility_timeout=30,
            mean_handling_seconds=0.01,
            mean_receive_seconds=0.001,
        )
        == 12
    )


@given(
    workers=st.integers(min_value=1, max_value=64),
    held=st.integers(min_value=0, max_value=200),
    max_messages=st.integers(min_value=1, max_value=10),
    visibility_timeout=st.integers(min_value=0, max_value=43_200),
    mean=st.just(0.0) | binary_exact_means,
    receive=st.floats(min_value=0.0, max_value=30.0),
)
def test_receiving_ahead_stays_within_the_visibility_timeout_and_four_batches(
    workers: int,
    held: int,
    max_messages: int,
    visibility_timeout: int,
    mean: float,
    receive: float,
) -> None:
    """Whatever the receive time, at most 4 batches wait, all startable in half the timeout."""
    allowance = receive_allowance(
        workers=workers,
        held=held,
        max_messages=max_messages,
        visibility_timeout=visibility_timeout,
        mean_handling_seconds=mean,
        mean_receive_seconds=receive,
    )
    assert 0 <= allowance <= max_messages
    assert held + allowance <= max(held, workers + MAX_BATCHES_AHEAD * max_messages)
    if mean > 0:
        startable = workers + math.floor(workers * Fraction(visibility_timeout, 2) / Fraction(mean))
        assert held + allowance <= max(held, startable, workers)


# -- due_for_extension ------------------------------------------------------------------


def test_a_lease_half_a_timeout_old_is_due_and_a_fresher_one_is_not() -> None:
    """Handles extended exactly half a timeout ago (or earlier) are due; fresher ones are not."""
    now = 1_000.0
    started = [("old", now - 20.0), ("half", now - 15.0), ("fresh", now - 14.9), ("new", now)]
    assert due_for_extension(started, now=now, visibility_timeout=30) == ["old", "half"]


def test_nothing_is_due_when_nothing_runs() -> None:
    """With no started messages, nothing is due for extension."""
    assert due_for_extension([], now=1_000.0, visibility_timeout=30) == []


# -- next_mean and units_of_work ---------------------------------------------------------


def test_the_handling_time_estimate_starts_at_the_first_time_and_follows_recent_ones() -> None:
    """The first handler's time is the estimate; later ones move it a fifth of the way."""
    assert next_mean(None, 2.0) == 2.0
    assert next_mean(2.0, 7.0) == pytest.approx(3.0)


def test_a_standard_batch_is_one_unit_per_message_and_a_fifo_batch_one_per_group() -> None:
    """Each message is its own unit, except on FIFO queues, where a group stays together."""

    def received(handle: str, group: str | None = None) -> ReceivedMessage:
        return ReceivedMessage("q", handle, handle, "{}", message_group_id=group)

    batch = [received("1", "a"), received("2", "b"), received("3", "a")]
    assert units_of_work("q", batch) == [[batch[0]], [batch[1]], [batch[2]]]
    assert units_of_work("q.fifo", batch) == [[batch[0], batch[2]], [batch[1]]]


# -- shares -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("units", "workers", "sizes"),
    [(10, 1, [10]), (10, 4, [3, 3, 2, 2]), (10, 16, [1] * 10), (3, 3, [1, 1, 1]), (0, 4, [])],
)
def test_units_are_dealt_into_at_most_one_share_per_worker(
    units: int, workers: int, sizes: list[int]
) -> None:
    """Fewer workers than units: several units per share; otherwise one unit each."""
    batch = [[ReceivedMessage("q", f"m{n}", f"m{n}", "{}")] for n in range(units)]
    dealt = shares(batch, workers)
    assert [len(share) for share in dealt] == sizes
    assert sorted(unit[0].receipt_handle for share in dealt for unit in share) == sorted(
        unit[0].receipt_handle for unit in batch
    )


# -- AckBatch: what is owed -------------------------------------------------------------


def test_handles_count_as_unacknowledged_until_their_delete_is_answered() -> None:
    """Taken handles stay owed until ``sent``; handles put back go first with the pending."""
    batch = AckBatch()
    batch.push("h1", "m1")
    batch.push("h2", "m2")
    assert batch.take() == ["h1", "h2"]
    batch.push("h3", "m3")
    assert batch.unacknowledged() == ["m1", "m2", "m3"]  # being deleted, then pending
    batch.put_back(["h1", "h2"])
    assert batch.take() == ["h1", "h2", "h3"]
    batch.sent(["h1", "h2", "h3"])
    assert batch.unacknowledged() == []


def test_a_handle_without_its_message_id_is_named_by_itself() -> None:
    """With no broker id given, ``unacknowledged`` names the receipt handle."""
    batch = AckBatch()
    batch.push("h1")
    assert batch.unacknowledged() == ["h1"]


# -- StopDeadline -------------------------------------------------------------------------


def test_the_stop_deadline_is_the_long_poll_wait_and_the_grace_after_stop() -> None:
    """Stopped at 100 s with a 20 s long poll, nothing waits on the network past 125 s."""
    deadline = StopDeadline.at_stop(100.0, 20)
    assert deadline.at == 120.0 + SHUTDOWN_GRACE_SECONDS
    assert deadline.remaining(110.0) == 10.0 + SHUTDOWN_GRACE_SECONDS
    assert deadline.remaining(200.0) == 0.0


@given(
    wait=st.integers(0, 20),
    handlers=st.floats(0, 3_600, allow_nan=False),
    spent=st.floats(0, 1, allow_nan=False),
)
def test_stop_returns_within_the_wait_the_handlers_and_the_grace(
    wait: int, handlers: float, spent: float
) -> None:
    """Whenever the handlers finish, the deadline is within wait + handlers + grace of stop.

    And the acknowledgements they leave get some of the grace (``spent`` of it elapsed).
    """
    stopped = 1_000.0
    deadline = StopDeadline.at_stop(stopped, wait).after_handlers(stopped + handlers)
    assert deadline.at <= stopped + wait + handlers + SHUTDOWN_GRACE_SECONDS
    now = stopped + handlers + spent * SHUTDOWN_GRACE_SECONDS
    assert deadline.remaining(now) >= (1 - spent) * SHUTDOWN_GRACE_SECONDS - 1e-9
