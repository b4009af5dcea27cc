"""The consume core's concurrency twins: what the asyncio half awaits, the threaded half blocks on.

The consume core is written once, for asyncio, in ``melange.consuming._async``;
``scripts/unasync.py`` writes the threaded twin in ``melange.consuming._sync`` by
replacing ``async``/``await`` and every ``AsyncName`` with ``Name``. What has to differ
between the halves lives here, each ``AsyncX`` beside its ``X`` with the same methods:

- ``AsyncEvent``/``Event``: a flag any thread may set, waited on with a timeout;
- ``AsyncTasks``/``Tasks``: a runner's background loops (pollers, housekeeping), as tasks
  (cancelled on stop) or daemon threads (abandoned after a grace period: a thread cannot
  be cancelled, and one stuck in the network must not keep the process alive);
- ``AsyncWorkers``/``Workers``: where units of work run, at most ``size`` at once;
- ``AsyncHandlers``/``Handlers``: how a consumer's handler is called: ``async def``
  handlers awaited and plain ones run in the thread pool, or plain ones called and
  ``async def`` ones refused;
- ``AsyncInterrupted``/``Interrupted``: what interrupts a runner's ``run`` from outside
  (cancellation; Ctrl-C in the thread running it): it stops gracefully, then re-raises.

Imports nothing of melange's consume core, so both halves import it.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import threading
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any

from melange.consuming.consumers import Consumer, MessageContext, deliver, process_takes_context
from melange.exceptions import ConfigurationError, Problem

__all__ = [
    "AsyncEvent",
    "AsyncHandlers",
    "AsyncInterrupted",
    "AsyncTasks",
    "AsyncWorkers",
    "Event",
    "Handlers",
    "Interrupted",
    "Tasks",
    "Workers",
]

AsyncInterrupted = asyncio.CancelledError
Interrupted = KeyboardInterrupt


class AsyncEvent:
    """A flag any thread may set, awaited with a timeout, on the running loop.

    Built on one future per waiter and a timer, rather than ``asyncio.wait_for`` over an
    ``asyncio.Event``, which creates a task per wait: the runner waits on these in its
    hot loop.
    """

    def __init__(self) -> None:
        self._set = False
        self._waiters: set[asyncio.Future[bool]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None

    def is_set(self) -> bool:
        """Whether the flag is set."""
        return self._set

    def set(self) -> None:
        """Set the flag, waking every waiter; from the loop's thread or any other."""
        loop = self._loop
        if loop is None or threading.get_ident() == self._loop_thread or loop.is_closed():
            self._wake()
        else:
            loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        self._set = True
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(True)

    def clear(self) -> None:
        """Clear the flag."""
        self._set = False

    async def wait(self, timeout: float | None = None) -> bool:
        """Wait until the flag is set or ``timeout`` seconds passed; return whether set."""
        if self._set:
            return True
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop, self._loop_thread = loop, threading.get_ident()
        waiter: asyncio.Future[bool] = loop.create_future()
        self._waiters.add(waiter)
        timer = None if timeout is None else loop.call_later(timeout, _time_out, waiter)
        try:
            return await waiter
        finally:
            self._waiters.discard(waiter)
            if timer is not None:
                timer.cancel()


def _time_out(waiter: asyncio.Future[bool]) -> None:
    if not waiter.done():
        waiter.set_result(False)


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


class AsyncTasks:
    """A runner's background loops, as tasks on the running loop."""

    def __init__(self) -> None:
        self._tasks: list[asyncio.Task[Any]] = []

    def start(
        self, function: Callable[..., Coroutine[Any, Any, object]], *args: Any, name: str
    ) -> None:
        """Run ``function(*args)`` in a new task."""
        self._tasks.append(asyncio.create_task(function(*args), name=name))

    def cancel(self) -> None:
        """Cancel every task (a receive in flight is abandoned at once)."""
        for task in self._tasks:
            task.cancel()

    async def join(self, timeout: float | None = None) -> int:
        """Wait for every task, at most ``timeout`` seconds; return how many still run.

        A task still running then is cancelled, so nothing outlives its runner.
        """
        if not self._tasks:
            return 0
        _, pending = await asyncio.wait(self._tasks, timeout=timeout)
        for task in pending:
            task.cancel()
        return len(pending)


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


class AsyncWorkers:
    """Runs units of work as tasks, at most ``size`` at once.

    Args:
        size: how many run at once.
    """

    def __init__(self, size: int) -> None:
        self._slots = asyncio.Semaphore(size)
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    def submit(self, function: Callable[..., Coroutine[Any, Any, None]], *args: Any) -> bool:
        """Run ``function(*args)`` when a slot is free; ``False`` once ``join`` began."""
        if self._closed:
            return False
        task = asyncio.create_task(self._run(function, args))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def _run(
        self, function: Callable[..., Coroutine[Any, Any, None]], args: tuple[Any, ...]
    ) -> None:
        async with self._slots:
            await function(*args)

    async def join(self) -> None:
        """Take no more work, and wait for what was submitted to finish."""
        self._closed = True
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


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


class AsyncHandlers:
    """Calls handlers on the event loop: ``async def`` ones awaited, plain ones in threads.

    Args:
        executor: where plain handlers run, so that they cannot block the loop.
    """

    def __init__(self, executor: Executor) -> None:
        self.executor = executor

    async def call(self, consumer: Consumer, message: Any, context: MessageContext) -> None:
        """Run ``consumer``'s handler for ``message``; its exception propagates."""
        if consumer.handles_asynchronously(message):
            result = deliver(consumer, message, context)
            if inspect.isawaitable(result):
                await result
            return
        # In a copy of this task's context: the handler then sees the message's span.
        run = contextvars.copy_context().run
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self.executor, run, deliver, consumer, message, context)


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
