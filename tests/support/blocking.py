"""Sync calls into asyncio objects, so one behaviour suite runs on both halves of melange.

``Blocking(async_backend, loop)`` looks like the sync backend to a contract test: each
coroutine method runs on an event loop in a thread of its own (``EventLoopThread``) and the
test waits for its result. What the suite asserts is what the asyncio object does; only
the calling convention is adapted, never the behaviour.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

#: Longer than any call a contract makes (a 20 s long poll, a shutdown grace period).
CALL_TIMEOUT_SECONDS = 60.0


class EventLoopThread:
    """An asyncio event loop running in a daemon thread until ``close``."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="test-loop", daemon=True)
        self._thread.start()

    def call(self, coroutine: Coroutine[Any, Any, T], timeout: float = CALL_TIMEOUT_SECONDS) -> T:
        """Run ``coroutine`` on the loop and return its result (or raise its exception)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self) -> None:
        """Stop the loop and its thread."""
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()


class Blocking:
    """Wraps an asyncio object: its coroutine methods become blocking calls, the rest pass.

    Attributes:
        target: the asyncio object.
    """

    def __init__(self, target: Any, loop: EventLoopThread) -> None:
        self.target = target
        self.loop = loop

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.target, name)
        if not inspect.iscoroutinefunction(attribute):
            return attribute
        return self._blocking(attribute)

    def _blocking(self, method: Callable[..., Coroutine[Any, Any, T]]) -> Callable[..., T]:
        @functools.wraps(method)
        def call(*args: Any, **kwargs: Any) -> T:
            return self.loop.call(method(*args, **kwargs))

        return call
