"""The asyncio half's concurrency: what the consume core awaits, twin of ``concurrency``.

The consume core is written once, for asyncio, in ``melange.consuming._async``;
``scripts/unasync.py`` writes the threaded twin in ``melange.consuming._sync`` by
replacing ``async``/``await``, every ``AsyncName`` with ``Name`` and this module with
``melange.consuming.concurrency``. What has to differ between the halves is a pair of
classes with the same methods, one here and its twin there:

- ``AsyncEvent``/``Event``: a flag any thread may set, waited on with a timeout;
- ``AsyncTasks``/``Tasks``: a runner's background work (pollers, housekeeping, the last
  acknowledgements), as tasks (cancelled when ``join`` times out at the stop deadline) or
  daemon threads (abandoned then: a thread cannot be cancelled, and one stuck in the
  network must not keep the process alive);
- ``AsyncWorkers``/``Workers``: where units of work run, at most ``size`` at once;
- ``AsyncHandlers``/``Handlers``: how a consumer's handler is called: ``async def``
  handlers awaited and plain ones run in the thread pool, or plain ones called and
  ``async def`` ones refused;
- ``AsyncInterrupted``/``Interrupted``: what interrupts a runner's ``run`` from outside
  (cancellation; Ctrl-C in the thread running it): it stops gracefully, then re-raises.

Only the asyncio half imports this module (and asyncio with it).
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Executor
from typing import Any

from melange.consuming.consumers import Consumer, MessageContext, deliver

__all__ = ["AsyncEvent", "AsyncHandlers", "AsyncInterrupted", "AsyncTasks", "AsyncWorkers"]

AsyncInterrupted = asyncio.CancelledError


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
