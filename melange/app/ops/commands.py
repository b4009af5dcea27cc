"""``python -m melange queues`` and ``python -m melange dlq show|redrive|purge``.

``queues TARGET`` counts the application's queues (``MODULE:GRAPH``, its backend);
``queues --all`` every queue the backend of the ``MELANGE_*`` settings lists (within
``MELANGE_PREFIX``, if set). The ``dlq`` commands take the name of a queue that has a
dead-letter queue and act on that dead-letter queue, on the settings' backend.

Exit codes, as the other commands: 0 done, 1 a melange error (no such queue, no
dead-letter queue, the broker refused), 2 a usage error or a target that cannot be
loaded; and 130 for a redrive stopped by SIGINT or SIGTERM (what it moved stays moved).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any

from melange import limits
from melange.app.ops.actions import dead_letter_queue_of, peek, queue_rows, redrive
from melange.app.ops.output import (
    LETTER_HEADERS,
    LETTER_WIDTHS,
    OLDEST_NOTE,
    PEEK_NOTE,
    QUEUE_HEADERS,
    Output,
    choose_mode,
    dead_letter_lines,
    in_flight_note,
    large_payloads_note,
    left_json,
    letter_cells,
    messages,
    planned_method,
    queue_table,
    redrive_summary,
)
from melange.app.ops.redrive import visible_again_within
from melange.app.ops.reports import claim_check_of, dead_letter_of, large_payloads_json
from melange.backends.factory import backend_from_settings
from melange.backends.inspection import QueueStats, inspection_of
from melange.backends.protocol import MessagingBackend
from melange.exceptions import BackendError
from melange.messages import ReceivedMessage
from melange.payloads.store import PayloadStore
from melange.settings import large_payloads_from_settings, load_settings

__all__ = ["INTERRUPTED", "USAGE", "add_commands"]

#: The exit code of a command stopped by SIGINT or SIGTERM.
INTERRUPTED = 130
#: The exit code of a command given arguments it cannot act on.
USAGE = 2


def settings_backend() -> MessagingBackend:
    """Return the backend the ``MELANGE_*`` settings name, prefixed as they say."""
    return backend_from_settings(load_settings())


def output_for(args: argparse.Namespace) -> Output:
    """Return the output the command's ``--json`` and stdout call for."""
    return Output(choose_mode(args.json, sys.stdout))


def usage_error(message: str) -> int:
    """Print a usage error and return its exit code."""
    print(f"melange: {message}", file=sys.stderr)
    return USAGE


def queues(args: argparse.Namespace) -> int:
    """Print each queue's counts and its dead-letter queue's depth."""
    if bool(args.target) == args.all:
        return usage_error("give either TARGET (MODULE:GRAPH) or --all, not both nor neither")
    if args.target:
        from melange.app.application import Application
        from melange.app.loading import load_graph

        app: Application = load_graph(args.target).provide(Application)
        backend, names = app.backend, list(app.queue_names)
        payloads = large_payloads_from_settings(app.dispatcher_factory.settings)
    else:
        backend = settings_backend()
        names = inspection_of(backend).list_queues()
        payloads = large_payloads_from_settings(load_settings())
    rows = queue_rows(backend, names)
    out = output_for(args)
    out.document(
        {
            "queues": [row.as_json() for row in rows],
            "large_payloads": large_payloads_json(payloads),
        }
    )
    out.table("queues", QUEUE_HEADERS, queue_table(rows))
    if payloads is not None:
        out.text(large_payloads_note(payloads))
    if any(row.stats.oldest_age_seconds is None for row in rows):
        out.text(OLDEST_NOTE)
    return 0


def dlq_show(args: argparse.Namespace) -> int:
    """Print the dead-lettered messages of a queue without deleting them."""
    if args.limit < 1:
        return usage_error(f"--limit must be at least 1, not {args.limit}")
    settings = load_settings()
    backend = backend_from_settings(settings)
    dead = dead_letter_queue_of(backend, args.queue)
    stats = inspection_of(backend).queue_stats(dead)
    store = None
    if args.body:  # a large message's body is its payload, read from S3
        from melange.payloads.factory import payload_store_from_settings

        store = payload_store_from_settings(settings)
    letters = [
        dead_letter_of(message, _payload(store, message))
        for message in peek(backend, dead, args.limit)
    ]
    within = visible_again_within(None)
    out = output_for(args)
    out.document(
        {
            "queue": args.queue,
            "dead_letter_queue": dead,
            "depth": stats.depth,
            "in_flight": stats.in_flight,
            "messages": [letter.as_json(body=args.body) for letter in letters],
        }
    )
    out.text(
        f"{dead!r}, dead-letter queue of {args.queue!r}: {messages(stats.depth)}, "
        f"{len(letters)} shown{in_flight_note(stats, within)}"
    )
    if out.mode == "rich":
        cells = [letter_cells(letter, i, body=args.body) for i, letter in enumerate(letters, 1)]
        out.table(dead, LETTER_HEADERS, cells, widths=LETTER_WIDTHS)
    else:
        for number, letter in enumerate(letters, 1):
            for line in dead_letter_lines(letter, number, body=args.body):
                out.text(line)
    out.text(PEEK_NOTE)
    return 0


def _payload(store: PayloadStore | None, message: ReceivedMessage) -> str | None:
    """Return a large dead letter's payload from S3; what went wrong in its place, if so."""
    check = claim_check_of(message)
    if check is None:
        return None
    if store is None:
        return f"(stored at {check.pointer}; set MELANGE_LARGE_PAYLOAD_BUCKET to read it)"
    if not store.settings.reads(check.pointer):
        return f"(stored at {check.pointer}, a bucket MELANGE_LARGE_PAYLOAD_* does not read)"
    try:
        return store.get(check.pointer)
    except BackendError as exc:  # gone or refused: say so, show the others
        return f"(could not read {check.pointer}: {exc})"


def dlq_redrive(args: argparse.Namespace) -> int:
    """Move a queue's dead letters back to it; 130 when interrupted."""
    if args.rate is not None and args.rate <= 0:
        return usage_error(f"--rate must be above 0 messages a second, not {args.rate}")
    backend = settings_backend()
    dead = dead_letter_queue_of(backend, args.queue)
    inspection = inspection_of(backend)
    out = output_for(args)
    within = visible_again_within(args.rate)
    if args.dry_run:
        return _dry_run(out, args, dead, inspection.queue_stats(dead), within)
    stop = threading.Event()
    _stop_on_signals(stop)
    with out.progress(0) as report:
        progress = redrive(
            backend, args.queue, dead, rate=args.rate, method=args.method, stop=stop, report=report
        )
    # Visible and in flight: a killed run's batch stays hidden and must not read as gone.
    left = inspection.queue_stats(dead)
    out.document(
        {
            "queue": args.queue,
            "dead_letter_queue": dead,
            **progress.as_json(),
            **left_json(left, within),
        }
    )
    out.text(redrive_summary(progress, args.queue, dead, left, within))
    return INTERRUPTED if progress.interrupted else 0


def _dry_run(
    out: Output, args: argparse.Namespace, dead: str, stats: QueueStats, within: int
) -> int:
    """Say what a redrive would move, and how, moving nothing."""
    method, how = planned_method(args.method, fifo=limits.is_fifo(dead))
    out.document(
        {
            "queue": args.queue,
            "dead_letter_queue": dead,
            "dry_run": True,
            "to_move": stats.depth,
            "in_flight": stats.in_flight,
            "method": method,
        }
    )
    out.text(
        f"dry run: would move {messages(stats.depth)} from {dead!r} to {args.queue!r} {how}; "
        f"nothing moved{in_flight_note(stats, within)}"
    )
    return 0


def _stop_on_signals(stop: threading.Event) -> None:
    """Set ``stop`` on SIGINT and SIGTERM, so a redrive ends between two messages."""
    if threading.current_thread() is not threading.main_thread():
        return  # only the main thread may set signal handlers
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda _signum, _frame: stop.set())


def dlq_purge(args: argparse.Namespace) -> int:
    """Delete every message of a queue's dead-letter queue, when ``--yes`` confirms it."""
    backend = settings_backend()
    dead = dead_letter_queue_of(backend, args.queue)
    inspection = inspection_of(backend)
    count = inspection.queue_stats(dead).total
    if not args.yes:
        return usage_error(
            f"purging {dead!r} deletes its {messages(count)} for good; add --yes to do it"
        )
    inspection.purge(dead)
    out = output_for(args)
    out.document({"queue": args.queue, "dead_letter_queue": dead, "purged": count})
    out.text(f"purged {dead!r}: {messages(count)} deleted (SQS may take up to 60 s to finish)")
    return 0


def add_commands(commands: Any) -> list[argparse.ArgumentParser]:
    """Add ``queues`` and ``dlq`` to the command line's subparsers; return their parsers."""
    count = commands.add_parser(
        "queues", help="show each queue's depth, in flight, delayed and DLQ"
    )
    count.add_argument("target", nargs="?", help="MODULE:GRAPH, the application's object graph")
    count.add_argument("--all", action="store_true", help="every queue of the settings' backend")
    count.set_defaults(run=queues)
    dlq = commands.add_parser("dlq", help="show, redrive or purge a queue's dead letters")
    actions = dlq.add_subparsers(dest="dlq_command", required=True)
    show = actions.add_parser("show", help="show dead letters, leaving them on the queue")
    show.add_argument("--limit", type=int, default=10, help="show at most N (default 10)")
    show.add_argument(
        "--body",
        action="store_true",
        help="show each body too (one line in text; whole in --json)",
    )
    show.set_defaults(run=dlq_show)
    move = actions.add_parser("redrive", help="move dead letters back to their queue")
    move.add_argument("--rate", type=float, help="at most N messages a second (default: no limit)")
    move.add_argument("--dry-run", action="store_true", help="say what would move; move nothing")
    move.add_argument(
        "--method",
        choices=["auto", "move-task", "copy"],
        default="auto",
        help="move-task: the broker's StartMessageMoveTask; copy: receive/send/delete; "
        "auto (default): the first where the broker supports it",
    )
    move.set_defaults(run=dlq_redrive)
    purge = actions.add_parser("purge", help="delete every dead letter of a queue")
    purge.add_argument("--yes", action="store_true", help="confirm: the messages are gone for good")
    purge.set_defaults(run=dlq_purge)
    for command in (show, move, purge):
        command.add_argument("queue", help="the queue whose dead-letter queue to act on")
    for command in (count, show, move, purge):
        command.add_argument("--json", action="store_true", help="print one JSON document")
        command.add_argument(
            "--log-level", default="WARNING", help="logging level (default WARNING)"
        )
    return [count, dlq]
