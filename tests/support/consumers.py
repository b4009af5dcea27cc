"""Consumers that record what they handle, and a dispatcher run in a thread for a test."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from melange import Consumer, MessageDispatcher, consumer


class Recorder(Consumer):
    """Records every message it handles; fails the messages listed in ``failing``."""

    def __init__(self, *, failing: dict[int, int] | None = None, seconds: float = 0.0) -> None:
        super().__init__(on_message=self.handle, name="recorder")
        self.failing = dict(failing or {})  # n -> how many times to fail
        self.seconds = seconds
        self.handled: list[int] = []
        self.running = 0
        self.most_running = 0
        self._lock = threading.Lock()

    def handle(self, message: Any) -> None:
        with self._lock:
            self.running += 1
            self.most_running = max(self.most_running, self.running)
        try:
            if self.seconds:
                time.sleep(self.seconds)  # the handler's own work, not a synchronisation
            with self._lock:
                self.handled.append(message["n"])
                if self.failing.get(message["n"], 0) > 0:
                    self.failing[message["n"]] -= 1
                    raise RuntimeError(f"handler failed on {message['n']}")
        finally:
            with self._lock:
                self.running -= 1


class OnlyLists(Consumer):
    """Handles lists only, so a dict is a message no consumer accepts."""

    def __init__(self) -> None:
        super().__init__(name="only-lists")

    @consumer
    def on_list(self, message: list[int]) -> None:
        raise AssertionError("a list was never published")


@contextmanager
def running(dispatcher: MessageDispatcher, queue: str) -> Iterator[threading.Thread]:
    """Run the dispatcher on ``queue`` in a thread; stop it and check it returned."""
    errors: list[BaseException] = []

    def target() -> None:
        try:
            dispatcher.run(queue)
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    try:
        yield thread
    finally:
        dispatcher.stop()
        thread.join(timeout=30)
    assert not thread.is_alive(), "dispatcher did not stop within 30 s"
    assert errors == []
