"""``python -m melange``: declare an application's topology, run its worker, or consume a queue.

``declare TARGET`` makes every queue, dead-letter queue, topic, subscription and filter
policy the application's consumers state exist, and the large-payload bucket with its
lifecycle rule and encryption (``MELANGE_LARGE_PAYLOAD_*``), printing one line per
resource (created, changed, or as is), then one per leftover the application no longer states, which
``--prune --yes`` deletes. ``worker TARGET [--queue NAME ...]`` runs every consumer of the
application in one process, one dispatcher per queue (``--queue`` restricts it);
``--http-port N`` serves ``/healthz``, ``/readyz`` and ``/metrics`` on 127.0.0.1:N.
TARGET is ``MODULE:GRAPH``, the application's object graph (as
``melange_bindings.new_object_graph`` builds it) or a callable taking no arguments that
returns one. ``consume MODULE:FACTORY --queue NAME`` runs a single dispatcher, as before:
the factory is a dispatcher or a callable returning one.

``MODULE`` is imported from the working directory too, as ``python -m`` does. SIGTERM
and SIGINT stop a worker gracefully: running handlers finish and are acknowledged,
messages received but not started are released. When every consumer the worker runs is
``async def``, it runs them on ``AsyncMessageDispatcher``s in one event loop (the
graph's ``async_dispatcher_factory``); sync and async consumers in one worker are
refused, and ``--queue`` can split such an application into two workers.

``queues`` and ``dlq show|redrive|purge`` inspect queues and move dead letters back
(``melange.app.ops.commands``; a redrive stopped by SIGINT exits 130).

Exit codes: 0 after a clean stop (or a declaration); 1 on a melange error, while building
the application (a broker that is down, wrong settings, consumers that disagree) or while
running it; 2 when the target cannot be loaded (no such module or attribute, or not what
the command needs).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Sequence
from types import FrameType
from typing import TYPE_CHECKING

from melange.app.application import Application
from melange.app.filter_keys import unsupplied_filter_keys
from melange.app.loading import (
    GRAPH,
    ObjectProvider,
    import_from_working_directory,
    load_dispatcher,
    load_graph,
)
from melange.app.topology import AppQueue
from melange.backends.prefixed import PrefixedBackend
from melange.backends.protocol import MessagingBackend
from melange.exceptions import (
    FactoryNotFoundError,
    MelangeError,
    QueueNotFoundError,
    TopicNotFoundError,
)

if TYPE_CHECKING:  # imported where used: only an asyncio worker imports asyncio
    from melange.app.aio_worker import AsyncDispatcherFactory, AsyncWorker
    from melange.backends.aio_protocol import AsyncMessagingBackend

__all__ = ["main"]

logger = logging.getLogger("melange.app.cli")


def warn_if_in_memory(
    backend: MessagingBackend | AsyncMessagingBackend, queue_names: Sequence[str]
) -> None:
    """Log a WARNING when ``backend`` is in-memory: no other process can reach it."""
    from melange.backends.memory.aio import AsyncInMemoryBackend
    from melange.backends.memory.backend import InMemoryBackend

    inner = backend
    while isinstance(inner, PrefixedBackend):
        inner = inner.backend
    if isinstance(inner, InMemoryBackend | AsyncInMemoryBackend):
        logger.warning(
            "consuming %s from an in-memory backend (%s): nothing outside this process can "
            "publish to it, so this worker sees only what the process publishes itself; "
            "choose a broker with MELANGE_BACKEND=local or MELANGE_BACKEND=aws (or "
            "MELANGE_ENV=<name> with a config/<name>.env), or build the dispatcher on an "
            "SqsBackend",
            ", ".join(map(repr, queue_names)),
            type(inner).__name__,
        )


def stop_on_signals(stop: Callable[[], None]) -> None:
    """Call ``stop`` on SIGTERM and SIGINT (when running in the main thread, as a process)."""
    if threading.current_thread() is not threading.main_thread():
        return  # only the main thread may set signal handlers (tests run main() in threads)

    def handler(signum: int, frame: FrameType | None) -> None:
        logger.info(
            "received %s; stopping after running handlers finish", signal.Signals(signum).name
        )
        stop()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


# -- the commands: each returns the exit code, or raises MelangeError (exit 1) ------------


def consume(args: argparse.Namespace) -> int:
    """Run one dispatcher on one queue until stopped."""
    dispatcher = load_dispatcher(args.target)
    warn_if_in_memory(dispatcher.backend, [args.queue])
    stop_on_signals(dispatcher.stop)
    dispatcher.run(args.queue)
    return 0


def declare(args: argparse.Namespace) -> int:
    """Declare the application's topology, printing what each declaration did.

    Then report what the broker has that the application no longer states, and delete it
    with ``--prune --yes`` (``melange.app.ops.leftovers``). Names are the broker's.
    """
    from melange.app.ops.leftovers import after_declare, broker_naming

    app = load_graph(args.target).provide(Application)
    for unsupplied in unsupplied_filter_keys(app.topology):  # a typo delivers nothing
        logger.warning("%s", unsupplied)
    from melange.topology.declared import Declared

    shown = broker_naming(app.backend)
    for done in app.declare():  # the large-payload bucket's lines are named as they are
        print(shown(done) if isinstance(done, Declared) else done, flush=True)
    return after_declare(app, args.target, prune_them=args.prune, yes=args.yes)


def worker(args: argparse.Namespace) -> int:
    """Run the application's consumers, one dispatcher per queue, until stopped.

    Consumers that are all ``async def`` run on asyncio dispatchers (``async_worker``);
    all sync, on threads. A mix is refused (``consumers_kind`` says how to split it).
    """
    from melange.app.aio_worker import consumers_kind
    from melange.telemetry.health import serving_health

    graph = load_graph(args.target)
    app: Application = graph.provide(Application)
    chosen = app.queues_to_run(args.queue or ())
    endpoint = serving_health([q.name for q in chosen], host=args.http_host, port=args.http_port)
    with endpoint:
        if consumers_kind(c for queue in chosen for c in queue.consumers) == "async":
            return async_worker(graph, app, chosen)
        running = app.worker(args.queue or ())
        warn_if_in_memory(app.backend, running.queue_names)
        stop_on_signals(app.stop)
        running.run()
    return 0


def async_worker(graph: ObjectProvider, app: Application, queues: Sequence[AppQueue]) -> int:
    """Run ``queues`` on asyncio dispatchers from the graph's ``AsyncDispatcherFactory``."""
    import asyncio  # only an asyncio worker loads it

    from melange.app.aio_worker import AsyncDispatcherFactory, AsyncWorker

    factory: AsyncDispatcherFactory = graph.provide(AsyncDispatcherFactory)
    running = AsyncWorker([(q.name, factory(*q.consumers, options=q.options)) for q in queues])
    warn_if_in_memory(factory.backend, running.queue_names)
    asyncio.run(run_async_worker(running, app, factory))
    return 0


async def run_async_worker(
    running: AsyncWorker, app: Application, factory: AsyncDispatcherFactory
) -> None:
    """Run ``running`` until SIGTERM, SIGINT or ``app.stop()``; then close its connections."""
    import asyncio

    loop = asyncio.get_running_loop()

    def stop_from_any_thread() -> None:
        with contextlib.suppress(RuntimeError):  # the loop has closed: nothing left to stop
            loop.call_soon_threadsafe(running.stop)

    app.also_stop(stop_from_any_thread)
    signals = (signal.SIGTERM, signal.SIGINT)
    in_main_thread = threading.current_thread() is threading.main_thread()
    for signum in signals if in_main_thread else ():  # tests run main() in threads
        loop.add_signal_handler(signum, stop_on_signal, signum, running.stop)
    try:
        await running.run()
    finally:
        for signum in signals if in_main_thread else ():
            loop.remove_signal_handler(signum)
        await factory.close()


def stop_on_signal(signum: int, stop: Callable[[], None]) -> None:
    """Log the signal and call ``stop`` (an event loop's signal handler)."""
    logger.info("received %s; stopping after running handlers finish", signal.Signals(signum).name)
    stop()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m melange",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run_one = commands.add_parser("consume", help="consume one queue until SIGTERM or SIGINT")
    run_one.add_argument("target", help="MODULE:FACTORY returning a MessageDispatcher")
    run_one.add_argument("--queue", required=True, help="the queue to consume")
    run_one.set_defaults(run=consume)
    declare_all = commands.add_parser(
        "declare", help="declare the application's queues, topics and subscriptions"
    )
    declare_all.add_argument("target", help="MODULE:GRAPH, the application's object graph")
    declare_all.add_argument(
        "--prune",
        action="store_true",
        help="delete the leftovers: queues and subscriptions the application no longer "
        "states (needs --yes; see the operations docs for which count as its own)",
    )
    declare_all.add_argument(
        "--yes", action="store_true", help="confirm --prune: the leftovers are deleted for good"
    )
    declare_all.set_defaults(run=declare)
    run_all = commands.add_parser(
        "worker", help="run the application's consumers until SIGTERM or SIGINT"
    )
    run_all.add_argument("target", help="MODULE:GRAPH, the application's object graph")
    run_all.add_argument(
        "--queue",
        action="append",
        metavar="NAME",
        help="consume only this queue (repeat for several; default: every queue)",
    )
    run_all.add_argument(
        "--http-port",
        type=int,
        metavar="N",
        help="serve /healthz, /readyz and /metrics (Prometheus) on this port (default: none)",
    )
    run_all.add_argument(
        "--http-host",
        default="127.0.0.1",
        help="the address the HTTP endpoint binds (default 127.0.0.1: this machine only)",
    )
    run_all.set_defaults(run=worker)
    for command in (run_one, declare_all, run_all):
        command.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    from melange.app.ops.commands import add_commands  # queues, dlq: see melange.app.ops

    add_commands(commands)
    return parser


def declared_by_command(error: MelangeError, args: argparse.Namespace) -> MelangeError:
    """Return ``error`` saying to run ``python -m melange declare TARGET``, where that is the fix.

    A backend reports a missing queue or topic with the call that declares it
    (``backend.declare_queue(...)``); who runs the commands declares with the declare
    command, on the target they gave (``MODULE:GRAPH`` for a ``dlq`` command, which has
    none). ``consume``'s target builds a dispatcher, not a graph, and ``declare`` is that
    command: their errors keep the call.
    """
    if args.command in ("consume", "declare"):
        return error
    if not isinstance(error, QueueNotFoundError | TopicNotFoundError):
        return error
    return error.declared_with(
        f"python -m melange declare {getattr(args, 'target', None) or GRAPH.placeholder}"
    )


def print_import_error(error: FactoryNotFoundError) -> None:
    """Print the traceback of the exception the target's module raised while imported."""
    if error.import_error is not None:
        traceback.print_exception(error.import_error, file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit code."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    import_from_working_directory()
    try:
        code: int = args.run(args)
    except FactoryNotFoundError as exc:
        print_import_error(exc)
        print(f"melange: {exc}", file=sys.stderr)
        return 2
    except MelangeError as exc:  # raised by the target, the app or the broker
        print(f"melange: {declared_by_command(exc, args)}", file=sys.stderr)
        return 1
    return code
