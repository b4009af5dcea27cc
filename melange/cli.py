"""``python -m melange consume MODULE:FACTORY --queue NAME``: run a dispatcher as a process.

The factory is a callable that takes no arguments and returns a ``MessageDispatcher``
(or the dispatcher itself). SIGTERM and SIGINT stop it gracefully: running handlers
finish and are acknowledged, messages received but not started are released.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys
from collections.abc import Sequence
from types import FrameType

from melange.dispatcher import MessageDispatcher
from melange.exceptions import ConfigurationError, MelangeError

__all__ = ["load_dispatcher", "main"]

logger = logging.getLogger("melange.cli")


def load_dispatcher(reference: str) -> MessageDispatcher:
    """Import ``module:attribute`` and return the dispatcher it is or builds.

    Raises:
        ConfigurationError: the reference is malformed, missing, or not a dispatcher.
    """
    module_name, _, attribute = reference.partition(":")
    if not module_name or not attribute:
        raise ConfigurationError(
            f"{reference!r} is not MODULE:FACTORY; write e.g. myapp.worker:build_dispatcher"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigurationError(
            f"cannot import module {module_name!r} of {reference!r} ({exc}); check the name "
            "and that it is on PYTHONPATH"
        ) from exc
    target = getattr(module, attribute, None)
    if target is None:
        raise ConfigurationError(f"module {module_name!r} has no attribute {attribute!r}")
    dispatcher = target if isinstance(target, MessageDispatcher) else target()
    if not isinstance(dispatcher, MessageDispatcher):
        raise ConfigurationError(
            f"{reference!r} gave {dispatcher!r}; expected a MessageDispatcher or a callable "
            "returning one"
        )
    return dispatcher


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
    try:
        dispatcher = load_dispatcher(args.factory)
    except MelangeError as exc:
        print(f"melange: {exc}", file=sys.stderr)
        return 2

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
