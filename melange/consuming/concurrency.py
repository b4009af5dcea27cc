"""The threaded half's concurrency: what the consume core blocks on, twin of ``aio_concurrency``.

``scripts/unasync.py`` writes the threaded consume core (``melange.consuming._sync``) from
the asyncio one, mapping ``melange.consuming.aio_concurrency`` onto this module and each
``AsyncName`` there onto the ``Name`` here: ``Event``, ``Tasks``, ``Workers``, ``Handlers``
and ``Interrupted`` (see ``aio_concurrency`` for what each pair is). This module imports
no asyncio, so a threaded worker never loads it.
"""

from __future__ import annotations

import inspect
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from melange.consuming.consumers import Consumer, MessageContext, process_takes_context
from melange.exceptions import ConfigurationError, Problem

__all__ = ["Event", "Handlers", "Interrupted", "Tasks", "Workers"]

Interrupted = KeyboardInterrupt


class Event:
    """A ``threading.Event``: the threaded twin of ``AsyncEvent``."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def is_set(self) -> bool:
        """Whether the flag is set."""
        return self._event.is_set()

    def set(self) -> None:
        """Set the flag, waking every waiter."""
        self._event.set()

    def clear(self) -> None:
        """Clear the flag."""
        self._event.clear()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the flag is set or ``timeout`` seconds passed; return whether set."""
        return self._event.wait(timeout)


class Tasks:
    """A runner's background loops, as daemon threads: the threaded twin of ``AsyncTasks``."""

    def __init__(self) -> None:
        self._threads: list[threading.Thread] = []

    def start(self, function: Callable[..., object], *args: Any, name: str) -> None:
        """Run ``function(*args)`` in a new daemon thread."""
        thread = threading.Thread(target=function, args=args, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def cancel(self) -> None:
        """Nothing: a thread cannot be cancelled; ``join``'s timeout bounds the wait for it."""

    def join(self, timeout: float | None = None) -> int:
        """Wait for every thread, at most ``timeout`` seconds; return how many still run.

        A thread still running then is left behind (it is a daemon thread).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in self._threads:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return sum(thread.is_alive() for thread in self._threads)


class Workers:
    """Runs units of work in a pool of ``size`` threads: the threaded twin of ``AsyncWorkers``.

    Args:
        size: how many run at once.
    """

    def __init__(self, size: int) -> None:
        self._pool = ThreadPoolExecutor(size, thread_name_prefix="melange-worker")

    def submit(self, function: Callable[..., None], *args: Any) -> bool:
        """Run ``function(*args)`` when a thread is free; ``False`` once ``join`` began."""
        try:
            self._pool.submit(function, *args)
        except RuntimeError:  # shut down: the runner is stopping
            return False
        return True

    def join(self) -> None:
        """Take no more work, and wait for what was submitted to finish."""
        self._pool.shutdown(wait=True)


class Handlers:
    """Calls handlers in the calling thread: the threaded twin of ``AsyncHandlers``."""

    def call(self, consumer: Consumer, message: Any, context: MessageContext) -> None:
        """Run ``consumer``'s handler for ``message``; its exception propagates.

        Raises:
            ConfigurationError: the handler is ``async def``: only the asyncio dispatcher
                can await it.
        """
        # deliver()'s decision inline: one frame fewer between the runner and the handler.
        if process_takes_context(type(consumer)):
            result = consumer.process(message, context)
        else:
            result = consumer.process(message)
        if result is not None and inspect.isawaitable(result):
            close = getattr(result, "close", None)
            if callable(close):
                close()  # so that Python does not warn of a coroutine never awaited
            raise ConfigurationError(
                f"consumer {consumer.name!r} handles {type(message).__qualname__} with an "
                "async def handler, which the threaded MessageDispatcher cannot await; run "
                "it on melange.aio.AsyncMessageDispatcher (`python -m melange worker` does)",
                problems=[
                    Problem("consumers", consumer.name, "consumers without async def handlers")
                ],
            )
