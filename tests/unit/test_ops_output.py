"""How the operations commands print: the mode chosen, tables, ages and summaries."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import pytest

from melange.app.ops.output import (
    Output,
    aligned,
    choose_mode,
    dead_letter_lines,
    format_age,
    planned_method,
    queue_table,
    redrive_summary,
)
from melange.app.ops.redrive import RedriveProgress
from melange.app.ops.reports import DeadLetter, QueueRow
from melange.backends.inspection import QueueStats


class Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        """Claim to be a terminal."""
        return True


def test_json_wins_then_rich_on_a_terminal_then_plain() -> None:
    """``--json`` always; rich only on a terminal with rich installed; plain text otherwise."""
    assert choose_mode(True, Terminal(), rich_installed=True) == "json"
    assert choose_mode(False, Terminal(), rich_installed=True) == "rich"
    assert choose_mode(False, Terminal(), rich_installed=False) == "plain"
    assert choose_mode(False, io.StringIO(), rich_installed=True) == "plain"


@pytest.mark.parametrize(
    ("seconds", "text"), [(None, "unknown"), (42.9, "42s"), (185, "3m05s"), (7380, "2h03m")]
)
def test_ages_read_at_a_glance(seconds: float | None, text: str) -> None:
    """Ages are seconds, minutes and seconds, or hours and minutes; unknown says so."""
    assert format_age(seconds) == text


def test_the_plain_queue_table_aligns_numbers_right() -> None:
    """Columns are padded; counts right-aligned; a queue without DLQ shows dashes."""
    rows = [
        QueueRow("work", QueueStats(12, 1, 0), "work-dlq", QueueStats(3, 0, 0)),
        QueueRow("w2", QueueStats(0, 0, 0)),
    ]

    lines = aligned(
        ("queue", "depth", "dlq", "dlq depth"),
        [(c[0], c[1], c[5], c[6]) for c in queue_table(rows)],
    )

    assert lines == [
        "queue  depth  dlq       dlq depth",
        "work      12  work-dlq          3",
        "w2         0  -         -",
    ]


def test_a_dead_letter_reads_in_two_lines() -> None:
    """One line of facts, one of the reason; a broker-moved message says why it has none."""
    sent = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    moved = DeadLetter("b1", None, None, 2, sent)

    assert dead_letter_lines(DeadLetter("b1", "ValueError: x", "shop:Job", 2, sent), 1) == [
        "1. b1  type shop:Job  receives 2  first seen 2026-01-02T03:04:05+00:00",
        "   reason: ValueError: x",
    ]
    assert "redrive policy" in dead_letter_lines(moved, 2)[-1]


def test_the_summary_says_what_moved_what_is_left_and_to_rerun_when_interrupted() -> None:
    """The final line names both queues, the method, the counts, and asks for a rerun."""
    done = redrive_summary(RedriveProgress("copy", 5, moved=5), "work", "work-dlq", 0)
    stopped = redrive_summary(
        RedriveProgress("move-task", 5, moved=2, not_deleted=1, interrupted=True), "w", "d", 3
    )

    assert done == (
        "moved 5 of 5 messages from 'work-dlq' to 'work' by receive/send/delete; "
        "0 left on 'work-dlq'"
    )
    assert stopped.startswith("interrupted: moved 2 of 5")
    assert "1 sent but not deleted" in stopped
    assert stopped.endswith("run it again to move the rest")


def test_json_mode_prints_only_the_document() -> None:
    """In JSON mode text lines and tables are left out: stdout parses as one document."""
    stream = io.StringIO()
    out = Output("json", stream)

    out.text("ignored")
    out.table("t", ("a",), [("1",)])
    out.document({"ok": True})

    assert json.loads(stream.getvalue()) == {"ok": True}


def test_plain_progress_prints_about_every_tenth() -> None:
    """Piped, a redrive of 20 prints a line every 2 messages, not one per message."""
    stream = io.StringIO()
    with Output("plain", stream).progress(20) as report:
        for moved in range(1, 21):
            report(RedriveProgress("copy", 20, moved=moved))

    assert len(stream.getvalue().splitlines()) == 10


def test_rich_mode_draws_a_table() -> None:
    """On a terminal the table is drawn by rich, with its title and cells."""
    stream = Terminal()

    Output("rich", stream).table("queues", ("queue", "depth"), [("work", "3")])

    assert "queues" in stream.getvalue()
    assert "work" in stream.getvalue()


def test_a_dry_run_names_the_way_it_would_try_first() -> None:
    """FIFO or ``copy``: receive/send/delete; otherwise the move task, with a fallback on auto."""
    assert planned_method("auto", fifo=True) == ("copy", "by receive/send/delete")
    assert planned_method("copy", fifo=False)[0] == "copy"
    assert planned_method("auto", fifo=False)[1].endswith("where the broker refuses)")
    assert planned_method("move-task", fifo=False) == ("move-task", "with StartMessageMoveTask")
