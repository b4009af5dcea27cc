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
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Literal, TextIO

from melange.app.ops.redrive import RedriveProgress
from melange.app.ops.reports import DeadLetter, QueueRow

__all__ = [
    "PEEK_NOTE",
    "Output",
    "choose_mode",
    "dead_letter_lines",
    "format_age",
    "messages",
    "planned_method",
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
PEEK_NOTE = (
    "shown without deleting: each message was received and released at once, which "
    "SQS counts in its ApproximateReceiveCount"
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


def aligned(headers: Sequence[str], cells: Sequence[Sequence[str]]) -> list[str]:
    """Return a plain-text table: columns padded, numbers right-aligned."""
    widths = [max(len(text) for text in column) for column in zip(headers, *cells, strict=False)]

    def line(values: Sequence[str]) -> str:
        parts = [
            v.rjust(w) if v.isdigit() else v.ljust(w) for v, w in zip(values, widths, strict=True)
        ]
        return "  ".join(parts).rstrip()

    return [line(headers), *(line(row) for row in cells)]


def dead_letter_lines(letter: DeadLetter, number: int) -> list[str]:
    """Return the plain-text lines telling of one dead-lettered message."""
    sent = "unknown" if letter.sent_at is None else letter.sent_at.isoformat(timespec="seconds")
    lines = [
        f"{number}. {letter.broker_message_id}  type {letter.manifest or 'unknown'}  "
        f"receives {letter.receive_count}  first seen {sent}"
    ]
    if letter.message_group_id is not None:
        lines.append(f"   group: {letter.message_group_id}")
    reason = letter.reason or "none recorded (moved by the broker's redrive policy)"
    lines.append(f"   reason: {reason}")
    return lines


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


def redrive_summary(
    progress: RedriveProgress, source: str, dead_letter_queue: str, left: int
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
    text += f"; {left} left on {dead_letter_queue!r}"
    if progress.interrupted:
        text = f"interrupted: {text}; run it again to move the rest"
    return text


class Output:
    """Writes a command's results in the chosen mode."""

    def __init__(self, mode: Mode, stream: TextIO | None = None) -> None:
        self.mode = mode
        self.stream = stream or sys.stdout

    def text(self, line: str) -> None:
        """Print a line of text (not in JSON mode, where only the document is printed)."""
        if self.mode != "json":
            print(line, file=self.stream, flush=True)

    def document(self, value: Any) -> None:
        """Print the JSON document (JSON mode only)."""
        if self.mode == "json":
            print(json.dumps(value, indent=2), file=self.stream, flush=True)

    def table(self, title: str, headers: Sequence[str], cells: Sequence[Sequence[str]]) -> None:
        """Print a table: a rich one on a terminal, aligned text otherwise."""
        if self.mode == "rich":
            from rich.console import Console
            from rich.table import Table

            table = Table(title=title)
            for index, header in enumerate(headers):
                numeric = bool(cells) and all(row[index].isdigit() for row in cells)
                table.add_column(header, justify="right" if numeric else "left")
            for row in cells:
                table.add_row(*row)
            Console(file=self.stream).print(table)
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
