"""How the operations commands print: the mode chosen, tables, ages and summaries."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import attrs
import pytest

from melange.app.ops.output import (
    LETTER_HEADERS,
    LETTER_WIDTHS,
    Output,
    aligned,
    choose_mode,
    dead_letter_lines,
    format_age,
    in_flight_note,
    left_json,
    left_text,
    letter_cells,
    planned_method,
    preview,
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


#: A dead letter as ``dlq show`` meets it in a real application: long names, a long reason.
REALISTIC = DeadLetter(
    broker_message_id="51b2912c-50ac-4b21-ac75-a466030fffb5",
    reason=(
        "PaymentDeclinedError: 2500.00 EUR is over the card limit 1000.00 EUR for customer "
        "c-0042 (issuer answered 51: insufficient funds; retry after the limit is raised)"
    ),
    manifest="shop.payments.messages.events:PaymentRequestedForOrder",
    receive_count=12,
    sent_at=datetime(2026, 12, 7, 12, 9, 5, tzinfo=UTC),
    message_id="9defca88-e32a-425f-873d-ff211728321f",
    body=json.dumps({"order_id": "2fccf638-9c94-4c6b-89cd-262ab67646fb", "lines": ["x"] * 40}),
)


def test_a_dead_letter_names_the_message_id_the_logs_carry() -> None:
    """Plain text leads with melange's message_id; type, first seen, reason follow."""
    sent = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    letter = DeadLetter("b1", "ValueError: x", "shop:Job", 2, sent, message_id="m-1")
    moved = DeadLetter("b1", None, None, 2, sent)

    assert dead_letter_lines(letter, 1) == [
        "1. message_id m-1  receives 2",
        "   type: shop:Job",
        "   first seen: 2026-01-02T03:04:05+00:00",
        "   reason: ValueError: x",
    ]
    assert dead_letter_lines(moved, 2)[0] == "2. message_id (none)  receives 2"
    assert "redrive policy" in dead_letter_lines(moved, 2)[-1]


def test_plain_dead_letters_keep_to_80_columns_and_lose_no_reason() -> None:
    """A long reason wraps under itself; the body, only when asked, is cut to one line."""
    lines = dead_letter_lines(REALISTIC, 10, body=True)
    reason = [line for line in lines if line.startswith(("   reason: ", " " * 11))]

    assert max(map(len, lines)) <= 80
    assert " ".join(line.strip() for line in reason) == f"reason: {REALISTIC.reason}"
    assert lines[-1].startswith('   body: {"order_id": "2fccf638')
    assert lines[-1].endswith(f"… ({len(REALISTIC.body)} characters)")
    assert not any("body" in line for line in dead_letter_lines(REALISTIC, 10))


def test_the_dead_letter_table_stays_readable_at_80_columns() -> None:
    """On an 80-column terminal no line is wider; each id stays whole, the type wraps."""
    stream = io.StringIO()  # rich mode, without colours to measure around
    letters = [REALISTIC, attrs.evolve(REALISTIC, message_id=None, reason=None, manifest=None)]
    cells = [letter_cells(letter, n, body=True) for n, letter in enumerate(letters, 9)]

    Output("rich", stream, width=80).table(
        "shop-payments-dlq", LETTER_HEADERS, cells, widths=LETTER_WIDTHS
    )

    lines = stream.getvalue().splitlines()
    assert max(map(len, lines)) <= 80
    assert any(str(REALISTIC.message_id) in line for line in lines)
    assert any("shop.payments.messages.events:Paymen" in line for line in lines)
    assert any("(none)" in line for line in lines)
    assert "body" not in "".join(letter_cells(REALISTIC, 1))


def test_a_preview_is_one_line_within_its_width() -> None:
    """Line breaks are escaped; a long text is cut and says how long it was."""
    assert preview("a\nb", 10) == "a\\nb"
    assert preview("x" * 100, 40) == "x" * 22 + "… (100 characters)"
    assert len(preview("x" * 100, 40)) == 40


def test_the_summary_says_what_moved_what_is_left_and_to_rerun_when_interrupted() -> None:
    """The final line names both queues, the method, the counts, and asks for a rerun."""
    none = QueueStats(0, 0, 0)
    done = redrive_summary(RedriveProgress("copy", 5, moved=5), "work", "work-dlq", none, 30)
    stopped = redrive_summary(
        RedriveProgress("move-task", 5, moved=2, not_deleted=1, interrupted=True),
        "w",
        "d",
        QueueStats(3, 0, 0),
        30,
    )

    assert done == (
        "moved 5 of 5 messages from 'work-dlq' to 'work' by receive/send/delete; "
        "0 left on 'work-dlq'"
    )
    assert stopped.startswith("interrupted: moved 2 of 5")
    assert "1 sent but not deleted" in stopped
    assert stopped.endswith("3 left on 'd'; run it again to move the rest")


def test_dead_letters_in_flight_count_as_left_and_say_when_they_return() -> None:
    """What a killed redrive hid is left too: visible and in flight apart, in text and JSON."""
    hidden = QueueStats(depth=0, in_flight=20, delayed=0)

    line = redrive_summary(RedriveProgress("copy", 0), "work", "work-dlq", hidden, 31)

    assert line.endswith(
        "; 20 left on 'work-dlq': 0 visible, 20 in flight (visible again within 31 s); "
        "run it again after that to move them"
    )
    assert left_text("d", QueueStats(2, 0, 1), 30) == (
        "3 left on 'd': 2 visible, 0 in flight, 1 delayed"
    )
    assert left_json(hidden, 31) == {
        "left": 20,
        "left_visible": 0,
        "left_in_flight": 20,
        "left_delayed": 0,
        "visible_again_within_seconds": 31,
    }
    assert left_json(QueueStats(1, 0, 0), 31)["visible_again_within_seconds"] is None
    assert in_flight_note(hidden, 31) == "; 20 more in flight (visible again within 31 s)"
    assert in_flight_note(QueueStats(5, 0, 0), 31) == ""


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
