"""The in-memory backend for asyncio: ``InMemoryBackend``'s queues, with awaitable long polls.

Every semantic (visibility, receive counts, redrive, fan-out with filter policies, FIFO
order and deduplication) is ``InMemoryBackend``'s own: this backend holds one and calls it.
Those calls never wait (they take a lock held for microseconds), so they run on the event
loop; only a receive that finds nothing waits, on an ``asyncio.Event`` the store sets when
messages change, whichever thread changed them. A sync and an async backend may share one
store: ``AsyncInMemoryBackend(store)``, e.g. a threaded publisher feeding an asyncio worker.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from typing import Any

from melange import limits
from melange.backends.aio_shortcuts import AsyncBackendShortcuts
from melange.backends.memory.backend import InMemoryBackend
from melange.messages import (
    AttributeValue,
    BatchResult,
    Destination,
    OutgoingMessage,
    ReceivedMessage,
    RedrivePolicy,
)
from melange.topology.declared import Declared
from melange.topology.specs import Declaration

__all__ = ["AsyncInMemoryBackend"]


class AsyncInMemoryBackend(AsyncBackendShortcuts):
    """Queues and topics in this process's memory, with SQS/SNS semantics, for asyncio.

    Args:
        store: the ``InMemoryBackend`` holding the queues; a new one when omitted.
        **store_options: passed to a new ``InMemoryBackend`` (``clock=``).
    """

    def __init__(self, store: InMemoryBackend | None = None, **store_options: Any) -> None:
        self.store = store if store is not None else InMemoryBackend(**store_options)
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
        self.store.add_listener(self._wake_waiters)

    # -- administration ------------------------------------------------------------------

    async def declare(self, spec: Declaration) -> Declared:
        """Make a queue, topic or subscription exist as declared."""
        return self.store.declare(spec)

    async def delete(self, destination: Destination) -> None:
        """Delete a queue and its messages, or a topic and its subscriptions."""
        self.store.delete(destination)

    async def redrive_policy(self, queue_name: str) -> RedrivePolicy | None:
        """Return the queue's redrive policy, if it has a dead-letter queue."""
        return self.store.redrive_policy(queue_name)

    async def close(self) -> None:
        """Refuse further use and end any waiting receive."""
        self.store.close()

    # -- messages ------------------------------------------------------------------------

    async def publish(
        self, destination: Destination, messages: Sequence[OutgoingMessage]
    ) -> BatchResult:
        """Send messages to a queue, or fan them out from a topic (``InMemoryBackend``)."""
        return self.store.publish(destination, messages)

    async def send_raw(
        self,
        queue_name: str,
        body: str,
        attributes: Mapping[str, AttributeValue],
        *,
        message_group_id: str | None = None,
        deduplication_id: str | None = None,
    ) -> str:
        """Send a body and attributes as given, unwrapped."""
        return self.store.send_raw(
            queue_name,
            body,
            attributes,
            message_group_id=message_group_id,
            deduplication_id=deduplication_id,
        )

    async def receive(
        self,
        queue_name: str,
        *,
        max_messages: int = 10,
        wait_time_seconds: int = 0,
        visibility_timeout: int | None = None,
    ) -> list[ReceivedMessage]:
        """Receive up to ``max_messages``, awaiting up to ``wait_time_seconds`` for some."""
        limits.check_receive_args(queue_name, max_messages, wait_time_seconds, visibility_timeout)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_time_seconds
        while True:
            waiter = (loop, asyncio.Event())
            self._waiters.add(waiter)  # before looking, so no change between is missed
            try:
                received = self.store.receive(
                    queue_name, max_messages=max_messages, visibility_timeout=visibility_timeout
                )
                remaining = deadline - loop.time()
                if received or remaining <= 0:
                    return received
                pause = min(remaining, self.store.seconds_until_visible(queue_name))
                # On time-out a visibility timeout may have run out: look again.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(waiter[1].wait(), pause)
                if self.store.closed:  # closed while waiting: end the long poll empty-handed
                    return []
            finally:
                self._waiters.discard(waiter)

    async def acknowledge(self, queue_name: str, receipt_handles: Sequence[str]) -> list[str]:
        """Delete received messages; return the handles that matched no in-flight message."""
        return self.store.acknowledge(queue_name, receipt_handles)

    async def change_visibility(
        self, queue_name: str, receipt_handles: Sequence[str], timeout_seconds: int
    ) -> list[str]:
        """Make received messages visible again after ``timeout_seconds``."""
        return self.store.change_visibility(queue_name, receipt_handles, timeout_seconds)

    # -- inspection ----------------------------------------------------------------------

    def message_count(self, queue_name: str) -> int:
        """Return how many messages the queue holds, visible or in flight."""
        return self.store.message_count(queue_name)

    def _wake_waiters(self) -> None:
        """Set every waiting receive's event, on its own loop (called from any thread)."""
        for loop, event in list(self._waiters):
            if not loop.is_closed():
                loop.call_soon_threadsafe(event.set)
