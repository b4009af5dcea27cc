"""How the operations commands print: ``rich`` tables and bars on a terminal, else plain text.

``--json`` prints one JSON document on stdout and nothing else there. Without ``rich``
installed (``pip install melange[cli]``), or when stdout is not a terminal, the same
information comes as plain text, one line per queue or message. The line builders are
pure functions; ``Output`` only chooses and writes.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import sys
import textwrap
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Literal, TextIO

from melange.app.ops.redrive import RedriveProgress
from melange.app.ops.reports import DeadLetter, QueueRow
from melange.backends.inspection import QueueStats
from melange.payloads.store import LargePayloads

__all__ = [
    "PEEK_NOTE",
    "Output",
    "choose_mode",
    "dead_letter_lines",
    "format_age",
    "in_flight_note",
    "large_payloads_note",
    "left_json",
    "left_text",
    "letter_cells",
    "messages",
    "planned_method",
    "preview",
    "progress_line",
    "queue_table",
    "redrive_summary",
]

Mode = Literal["json", "rich", "plain"]

QUEUE_HEADERS = (
    "queue",
    "depth",
    "in flight",
    "delayed",
    "oldest",
    "dead-letter queue",
    "dlq depth",
)
OLDEST_NOTE = (
    "oldest: 'unknown' where the broker does not report it (SQS publishes it only as the "
    "CloudWatch metric ApproximateAgeOfOldestMessage)"
)
#: The columns ``dlq show`` keeps to: a terminal's default width.
WIDTH = 80
#: The characters of a body ``dlq show --body`` shows: one line, after ``   body: ``.
BODY_WIDTH = WIDTH - len("   body: ")
#: The ``dlq show`` table's columns: the id over the type, so a UUID fits whole.
LETTER_HEADERS = ("#", "message_id / type", "receives", "reason")
#: The fixed widths of ``dlq show``'s columns that hold a UUID: 36, so it stays whole.
LETTER_WIDTHS = {1: 36}
NO_ID = "(none)"
NO_REASON = "none recorded (moved by the broker's redrive policy)"
PEEK_NOTE = (
    "shown without deleting: each message was received and released at once,\n"
    "which SQS counts in its ApproximateReceiveCount"
)


def choose_mode(as_json: bool, stream: TextIO, *, rich_installed: bool | None = None) -> Mode:
    """Return ``json`` when asked, ``rich`` on a terminal with rich installed, else ``plain``."""
    if as_json:
        return "json"
    if rich_installed is None:
        rich_installed = importlib.util.find_spec("rich") is not None
    return "rich" if rich_installed and stream.isatty() else "plain"


def messages(count: int) -> str:
    """Return ``1 message`` or ``N messages``."""
    return f"{count} message" if count == 1 else f"{count} messages"


def format_age(seconds: float | None) -> str:
    """Return an age as ``42s``, ``3m05s`` or ``2h03m``; ``unknown`` when not known."""
    if seconds is None:
        return "unknown"
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


def queue_table(rows: Sequence[QueueRow]) -> list[tuple[str, ...]]:
    """Return the ``queues`` table's cells, one tuple per queue, headers apart."""
    return [
        (
            row.name,
            str(row.stats.depth),
            str(row.stats.in_flight),
            str(row.stats.delayed),
            format_age(row.stats.oldest_age_seconds),
            row.dead_letter_queue or "-",
            "-" if row.dead_letter_stats is None else str(row.dead_letter_stats.depth),
        )
        for row in rows
    ]


def large_payloads_note(payloads: LargePayloads) -> str:
    """Return where messages over a queue's or topic's limit are stored, for ``queues``."""
    return (
        f"large messages: stored in s3://{payloads.bucket}/{payloads.key_prefix} "
        f"(expire after {payloads.expiry_days} days); a queue holds only their pointers"
    )


def payload_text(letter: DeadLetter) -> str | None:
    """Return ``2,097,152 bytes in S3 at s3://bucket/key`` for a large message, else None."""
    if letter.payload is None:
        return None
    size = "size unknown" if letter.payload_size is None else f"{letter.payload_size:,} bytes"
    return f"{size} in S3 at {letter.payload}"


def aligned(headers: Sequence[str], cells: Sequence[Sequence[str]]) -> list[str]:
    """Return a plain-text table: columns padded, numbers right-aligned."""
    widths = [max(len(text) for text in column) for column in zip(headers, *cells, strict=False)]

    def line(values: Sequence[str]) -> str:
        parts = [
            v.rjust(w) if v.isdigit() else v.ljust(w) for v, w in zip(values, widths, strict=True)
        ]
        return "  ".join(parts).rstrip()

    return [line(headers), *(line(row) for row in cells)]


def preview(text: str, width: int) -> str:
    """Return ``text`` on one line of at most ``width`` characters, saying how long it was.

    Line breaks and other unprintable characters are shown escaped (a newline as a
    backslash and ``n``); a longer text is cut and ends with ``… (N characters)``.
    """
    flat = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    if len(flat) <= width:
        return flat
    suffix = f"… ({len(text)} characters)"
    return flat[: max(0, width - len(suffix))] + suffix


def _wrapped(label: str, text: str) -> list[str]:
    """Return ``   label: text`` wrapped to ``WIDTH``, continuation lines under the text."""
    lead = f"   {label}: "
    return textwrap.wrap(
        text,
        width=WIDTH,
        initial_indent=lead,
        subsequent_indent=" " * len(lead),
        break_on_hyphens=False,
    ) or [lead.rstrip()]


def dead_letter_lines(letter: DeadLetter, number: int, *, body: bool = False) -> list[str]:
    """Return the plain-text lines telling of one dead letter, within ``WIDTH`` columns.

    The first names melange's ``message_id``, the field the worker's log lines carry.
    """
    sent = "unknown" if letter.sent_at is None else letter.sent_at.isoformat(timespec="seconds")
    lines = [f"{number}. message_id {letter.message_id or NO_ID}  receives {letter.receive_count}"]
    lines += _wrapped("type", letter.manifest or "unknown")
    if letter.message_group_id is not None:
        lines += _wrapped("group", letter.message_group_id)
    lines += _wrapped("first seen", sent)
    lines += _wrapped("reason", letter.reason or NO_REASON)
    payload = payload_text(letter)
    if payload is not None:
        lines += _wrapped("payload", payload)
    if body:
        lines.append(f"   body: {preview(letter.body, BODY_WIDTH)}")
    return lines


def letter_cells(letter: DeadLetter, number: int, *, body: bool = False) -> tuple[str, ...]:
    """Return one row of the ``dlq show`` table (``LETTER_HEADERS``) for a terminal."""
    reason = letter.reason or NO_REASON
    payload = payload_text(letter)
    if payload is not None:
        reason += f"\npayload: {payload}"
    if body:
        reason += f"\nbody: {preview(letter.body, BODY_WIDTH)}"
    return (
        str(number),
        f"{letter.message_id or NO_ID}\n{letter.manifest or 'unknown'}",
        str(letter.receive_count),
        reason,
    )


def planned_method(method: str, *, fifo: bool) -> tuple[str, str]:
    """Return the way a redrive will try first, and how a dry run says it."""
    # FIFO dead letters are copied, although SQS's move task serves FIFO queues too
    # (since November 2023): see melange.app.ops.actions.redrive.
    if method == "copy" or fifo:
        return "copy", "by receive/send/delete"
    fallback = " (or by receive/send/delete where the broker refuses)" if method == "auto" else ""
    return "move-task", f"with StartMessageMoveTask{fallback}"


def progress_line(progress: RedriveProgress) -> str:
    """Return one line saying how many messages have moved so far."""
    return f"moved {progress.moved} of {progress.to_move} ({progress.method})"


def left_text(dead_letter_queue: str, left: QueueStats, within: int) -> str:
    """Return how many messages the dead-letter queue still holds, and in what state.

    ``0 left on 'q'`` when none is hidden; otherwise the total with the visible ones and
    those in flight (received, neither deleted nor visible again: what a killed redrive
    leaves) apart, and ``within``, the seconds until those are visible again at most.
    """
    if not left.in_flight and not left.delayed:
        return f"{left.depth} left on {dead_letter_queue!r}"
    parts = [f"{left.depth} visible", f"{left.in_flight} in flight"]
    if left.delayed:
        parts.append(f"{left.delayed} delayed")
    text = f"{left.total} left on {dead_letter_queue!r}: {', '.join(parts)}"
    if left.in_flight:
        text += f" (visible again within {within} s)"
    return text


def left_json(left: QueueStats, within: int) -> dict[str, int | None]:
    """Return what ``--json`` says is left: the total, then each state apart."""
    return {
        "left": left.total,
        "left_visible": left.depth,
        "left_in_flight": left.in_flight,
        "left_delayed": left.delayed,
        "visible_again_within_seconds": within if left.in_flight else None,
    }


def in_flight_note(stats: QueueStats, within: int) -> str:
    """Return ``; N more in flight (...)`` for a queue with messages in flight, else ``""``."""
    if not stats.in_flight:
        return ""
    return f"; {stats.in_flight} more in flight (visible again within {within} s)"


def redrive_summary(
    progress: RedriveProgress, source: str, dead_letter_queue: str, left: QueueStats, within: int
) -> str:
    """Return the final line of a redrive: what moved, what is left, what to do."""
    how = (
        "by the broker's move task" if progress.method == "move-task" else "by receive/send/delete"
    )
    text = (
        f"moved {progress.moved} of {messages(progress.to_move)} from {dead_letter_queue!r} "
        f"to {source!r} {how}"
    )
    if progress.not_deleted:
        text += f"; {progress.not_deleted} sent but not deleted (they will be sent again)"
    text += f"; {left_text(dead_letter_queue, left, within)}"
    if progress.interrupted:
        text = f"interrupted: {text}; run it again to move the rest"
    elif left.in_flight:
        text += "; run it again after that to move them"
    return text


class Output:
    """Writes a command's results in the chosen mode."""

    def __init__(
        self, mode: Mode, stream: TextIO | None = None, *, width: int | None = None
    ) -> None:
        self.mode = mode
        self.stream = stream or sys.stdout
        self.width = width  # rich's: the terminal's, when None

    def text(self, line: str) -> None:
        """Print a line of text (not in JSON mode, where only the document is printed)."""
        if self.mode != "json":
            print(line, file=self.stream, flush=True)

    def document(self, value: Any) -> None:
        """Print the JSON document (JSON mode only)."""
        if self.mode == "json":
            print(json.dumps(value, indent=2), file=self.stream, flush=True)

    def table(
        self,
        title: str,
        headers: Sequence[str],
        cells: Sequence[Sequence[str]],
        *,
        widths: Mapping[int, int] | None = None,
    ) -> None:
        """Print a table: a rich one on a terminal, aligned text otherwise.

        On a terminal, long cells wrap within the terminal's width; ``widths`` (by column
        index) fixes a column's width, for values that must stay whole on one line.
        """
        if self.mode == "rich":
            from rich.console import Console
            from rich.table import Table

            multiline = any("\n" in cell for row in cells for cell in row)
            table = Table(title=title, show_lines=multiline)
            for index, header in enumerate(headers):
                numeric = bool(cells) and all(row[index].isdigit() for row in cells)
                table.add_column(
                    header,
                    justify="right" if numeric else "left",
                    width=(widths or {}).get(index),
                    overflow="fold",
                )
            for row in cells:
                table.add_row(*row)
            Console(file=self.stream, width=self.width).print(table)
        elif self.mode == "plain":
            for line in aligned(headers, cells):
                self.text(line)

    @contextlib.contextmanager
    def progress(self, to_move: int) -> Iterator[Callable[[RedriveProgress], None]]:
        """Yield a function to report progress to: a rich bar, or a line every tenth."""
        if self.mode == "rich":
            from rich.progress import Progress

            with Progress(transient=False) as bar:
                task = bar.add_task("redriving", total=to_move or None)
                yield lambda p: bar.update(task, completed=p.moved, total=p.to_move or None)
            return
        step = max(1, to_move // 10)
        printed: set[int] = set()

        def report(progress: RedriveProgress) -> None:
            if progress.moved and progress.moved % step == 0 and progress.moved not in printed:
                printed.add(progress.moved)
                self.text(progress_line(progress))

        yield report
