"""``python -m melange consume MODULE:FACTORY --queue NAME``: run a dispatcher as a process.

The factory is a callable that takes no arguments and returns a ``MessageDispatcher``
(or the dispatcher itself); ``MODULE`` is imported from the working directory too, as
``python -m`` does. SIGTERM and SIGINT stop it gracefully: running handlers finish and are
acknowledged, messages received but not started are released.

Exit codes: 0 after a clean stop; 1 on a melange error, while building the dispatcher
(a broker that is down, wrong settings) or while consuming; 2 when ``MODULE:FACTORY``
cannot be loaded (no such module or attribute, or not a dispatcher factory).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import sys
from collections.abc import Sequence
from types import FrameType

from melange.backends.memory import InMemoryBackend
from melange.backends.prefixed import PrefixedBackend
from melange.backends.protocol import MessagingBackend
from melange.dispatcher import MessageDispatcher
from melange.exceptions import FactoryNotFoundError, MelangeError

__all__ = ["load_dispatcher", "main"]

logger = logging.getLogger("melange.cli")


def load_dispatcher(reference: str) -> MessageDispatcher:
    """Import ``module:attribute`` and return the dispatcher it is or builds.

    Whatever the factory raises (a ``BackendError`` when the broker is down, a
    ``ConfigurationError`` for wrong settings) propagates unchanged.

    Raises:
        FactoryNotFoundError: the reference is malformed, its module cannot be imported,
            the attribute is missing, or it is neither a dispatcher nor a callable
            returning one.
    """
    module_name, _, attribute = reference.partition(":")
    if not module_name or not attribute:
        raise FactoryNotFoundError(
            f"{reference!r} is not MODULE:FACTORY; write e.g. myapp.worker:build_dispatcher",
            reference=reference,
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise FactoryNotFoundError(
            f"cannot import module {module_name!r} of {reference!r} ({exc}); check the name "
            "and that it is in the working directory or on PYTHONPATH",
            reference=reference,
        ) from exc
    target = getattr(module, attribute, None)
    if target is None:
        raise FactoryNotFoundError(
            f"module {module_name!r} has no attribute {attribute!r}", reference=reference
        )
    if isinstance(target, MessageDispatcher):
        return target
    if not callable(target):
        raise FactoryNotFoundError(
            f"{reference!r} is {target!r}; expected a MessageDispatcher or a callable "
            "returning one",
            reference=reference,
        )
    dispatcher = target()
    if not isinstance(dispatcher, MessageDispatcher):
        raise FactoryNotFoundError(
            f"{reference!r} returned {dispatcher!r}; expected a MessageDispatcher",
            reference=reference,
        )
    return dispatcher


def import_from_working_directory() -> None:
    """Put the working directory first on ``sys.path``, unless it is already there.

    ``python -m melange`` does this itself; the ``melange`` console script starts with its
    own ``bin`` directory there instead, so without this it could not import the ``app``
    of ``app:factory`` from where it runs. uvicorn, gunicorn and celery do the same.
    """
    working_directory = os.getcwd()
    if working_directory not in sys.path and "" not in sys.path:
        sys.path.insert(0, working_directory)


def warn_if_in_memory(backend: MessagingBackend, queue_name: str) -> None:
    """Log a WARNING when ``backend`` is in-memory: no other process can reach it."""
    inner = backend
    while isinstance(inner, PrefixedBackend):
        inner = inner.backend
    if isinstance(inner, InMemoryBackend):
        logger.warning(
            "consuming %r from an in-memory backend (%s): nothing outside this process can "
            "publish to it, so this worker sees only what the process publishes itself; "
            "choose a broker with MELANGE_BACKEND=local or MELANGE_BACKEND=aws (or "
            "MELANGE_ENV=<name> with a config/<name>.env), or build the dispatcher on an "
            "SqsBackend",
            queue_name,
            type(inner).__name__,
        )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m melange", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    consume = commands.add_parser("consume", help="consume a queue until SIGTERM or SIGINT")
    consume.add_argument("factory", help="MODULE:FACTORY returning a MessageDispatcher")
    consume.add_argument("--queue", required=True, help="the queue to consume")
    consume.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit code."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    import_from_working_directory()
    try:
        dispatcher = load_dispatcher(args.factory)
    except FactoryNotFoundError as exc:
        print(f"melange: {exc}", file=sys.stderr)
        return 2
    except MelangeError as exc:  # raised by the factory: the target was found
        print(f"melange: {exc}", file=sys.stderr)
        return 1
    warn_if_in_memory(dispatcher.backend, args.queue)

    def stop(signum: int, frame: FrameType | None) -> None:
        logger.info(
            "received %s; stopping after running handlers finish", signal.Signals(signum).name
        )
        dispatcher.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        dispatcher.run(args.queue)
    except MelangeError as exc:
        print(f"melange: {exc}", file=sys.stderr)
        return 1
    return 0
