"""The asyncio runner's upkeep with the broker: batched acknowledgements and heartbeats.

The threaded runner's ``AckBatcher`` and ``Heartbeat`` decide (when a batch goes out, what
a failed delete keeps, which messages are due for extension, which leases to renew);
this module only awaits what they decide, in one housekeeping task per queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

from melange.aio.protocol import AsyncMessagingTransport
from melange.dedup import DeduplicationCache
from melange.exceptions import BackendError
from melange.housekeeping import AckBatcher, Heartbeat, Pending, log_unextended, log_unrenewed
from melange.messages import ReceivedMessage
from melange.options import DispatcherOptions

__all__ = ["AsyncHousekeeping", "OffLoop"]


class OffLoop:
    """Calls what may block without blocking the loop.

    Coroutine functions are awaited; plain ones run in the executor.

    Args:
        executor: the dispatcher's thread pool.
    """

    def __init__(self, executor: Executor) -> None:
        self.executor = executor

    async def call(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> object:
        """Await ``method(*args, **kwargs)``, in the executor unless it is a coroutine function."""
        if inspect.iscoroutinefunction(method):
            return await method(*args, **kwargs)
        return await self.run(lambda: method(*args, **kwargs))

    async def run(self, function: Callable[..., object], *args: Any) -> object:
        """Run a blocking ``function(*args)`` in the executor and await its result."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, function, *args)


class AsyncHousekeeping:
    """Sends one queue's acknowledgements in batches and extends its long handlers' leases.

    Args:
        backend: the asyncio backend.
        queue_name: the queue.
        options: the dispatcher's options (flush interval, visibility timeout, heartbeat).
        acks: the acknowledgement batch state (``AckBatcher`` without a queue).
        heartbeat: the messages in flight and their extensions (``Heartbeat`` without a queue).
        cache: the deduplication cache whose leases the heartbeat renews, if any.
        off_loop: how blocking cache calls are made.
    """

    def __init__(
        self,
        backend: AsyncMessagingTransport,
        queue_name: str,
        options: DispatcherOptions,
        acks: AckBatcher,
        heartbeat: Heartbeat,
        cache: DeduplicationCache | None,
        off_loop: OffLoop,
    ) -> None:
        self._backend = backend
        self._queue_name = queue_name
        self._options = options
        self.acks = acks
        self.heartbeat = heartbeat
        self._cache = cache
        self._off_loop = off_loop
        self.wake = asyncio.Event()

    async def acknowledge(self, received: ReceivedMessage) -> None:
        """Queue a handled message's delete; a full batch wakes the housekeeping task."""
        pending = self.acks.push(received.receipt_handle)
        if pending is Pending.BEHIND:  # the housekeeping task fell behind: send from here
            await self.flush()
        elif pending is Pending.FULL:
            self.wake.set()

    async def flush(self, max_age: float | None = None) -> None:
        """Send what is pending (only a full or old enough batch when ``max_age`` is given)."""
        handles = self.acks.take(max_age)
        if not handles:
            return
        try:
            refused = await self._backend.acknowledge(self._queue_name, handles)
        except BackendError as exc:
            self.acks.unsent(handles, exc)
            return
        self.acks.sent(handles, refused)

    async def run(self, finished: asyncio.Event) -> None:
        """Flush batches and extend leases until ``finished`` (after the last handler)."""
        interval = self._options.ack_flush_interval
        while not finished.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), min(0.1, interval / 2))
            self.wake.clear()
            await self.flush(interval)
            if self._options.heartbeat:
                await self._extend_due()

    async def _extend_due(self) -> None:
        now, flights = self.heartbeat.due()
        if not flights:
            return
        handles = sorted(f.received.receipt_handle for f in flights)
        lease = self._options.visibility_timeout
        try:
            await self._backend.change_visibility(self._queue_name, handles, lease)
        except BackendError as exc:
            log_unextended(handles, exc)
            return
        for key, token in self.heartbeat.extended(flights, now):
            try:
                if self._cache is not None:
                    await self._off_loop.call(self._cache.extend, key, token, lease_seconds=lease)
            except BackendError as exc:
                log_unrenewed(key, exc)
