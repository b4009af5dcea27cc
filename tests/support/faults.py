"""Fakes that misbehave like a broken network, broker or cache, for the dispatcher's tests.

Each implements the real interface over melange's in-memory implementation; nothing is
patched. ``build_refusing_dispatcher`` is a worker ``python -m melange consume`` can build:
its backend refuses every receive for good, as SQS does for a wrong access key.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from melange.backends import InMemoryBackend
from melange.consuming.dedup import Claim, InMemoryDeduplicationCache
from melange.consuming.dispatcher import MessageDispatcher
from melange.exceptions import BackendError, BackendRefusedError, DeduplicationUnavailableError
from melange.messages import ReceivedMessage, RedrivePolicy
from melange.serializers import JsonSerializer, SerializerRegistry

__all__ = [
    "REFUSAL",
    "CountingBackend",
    "FailingBackend",
    "OutageBackend",
    "StuckBackend",
    "SwitchableCache",
    "build_refusing_dispatcher",
]

#: What SQS says for an unknown access key, as the SQS backend raises it.
REFUSAL = BackendRefusedError(
    "ReceiveMessage was refused (InvalidClientTokenId: The security token included in the "
    "request is invalid); check the AWS credentials",
    operation="ReceiveMessage",
    code="InvalidClientTokenId",
)


class FailingBackend(InMemoryBackend):
    """An in-memory backend whose ``receive`` raises ``error`` every time, counting calls."""

    def __init__(self, error: BackendError) -> None:
        super().__init__()
        self.error = error
        self.receives = 0

    def receive(
        self,
        queue_name: str,
        *,
        max_messages: int = 10,
        wait_time_seconds: int = 0,
        visibility_timeout: int | None = None,
    ) -> list[ReceivedMessage]:
        """Count the call and raise the error."""
        self.receives += 1
        raise self.error


class OutageBackend(InMemoryBackend):
    """An in-memory backend on which chosen calls raise ``error``, as during an outage.

    Attributes:
        down: the calls that raise now, among ``"acknowledge"``, ``"change_visibility"``
            and ``"redrive_policy"``; they change nothing.
    """

    def __init__(self, error: BackendError, *, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(clock=clock)
        self.error = error
        self.down: set[str] = set()

    def _check(self, operation: str) -> None:
        if operation in self.down:
            raise self.error

    def acknowledge(self, queue_name: str, receipt_handles: Sequence[str]) -> list[str]:
        """Delete, or raise while down."""
        self._check("acknowledge")
        return super().acknowledge(queue_name, receipt_handles)

    def change_visibility(
        self, queue_name: str, receipt_handles: Sequence[str], timeout_seconds: int
    ) -> list[str]:
        """Change the visibility, or raise while down."""
        self._check("change_visibility")
        return super().change_visibility(queue_name, receipt_handles, timeout_seconds)

    def redrive_policy(self, queue_name: str) -> RedrivePolicy | None:
        """Return the redrive policy, or raise while down."""
        self._check("redrive_policy")
        return super().redrive_policy(queue_name)


class StuckBackend(InMemoryBackend):
    """An in-memory backend whose receives take messages, then hang like a black-holed network.

    Each receive takes its batch (so the messages are in flight) and then blocks until
    ``unblock`` is set, as a request whose answer is lost would; ``stuck`` is set once a
    receive is blocked.
    """

    def __init__(self) -> None:
        super().__init__()
        self.stuck = threading.Event()
        self.unblock = threading.Event()

    def receive(
        self,
        queue_name: str,
        *,
        max_messages: int = 10,
        wait_time_seconds: int = 0,
        visibility_timeout: int | None = None,
    ) -> list[ReceivedMessage]:
        """Take a batch, then wait for ``unblock`` (at most two minutes) before returning it."""
        batch = super().receive(
            queue_name,
            max_messages=max_messages,
            wait_time_seconds=wait_time_seconds,
            visibility_timeout=visibility_timeout,
        )
        if not self.unblock.is_set():
            self.stuck.set()
            self.unblock.wait(120)
        return batch


class SwitchableCache(InMemoryDeduplicationCache):
    """An in-memory deduplication cache the test can make unreachable; counts its probes."""

    def __init__(self) -> None:
        super().__init__()
        self.reachable = True
        self.pings = 0

    def _check(self) -> None:
        if not self.reachable:
            raise DeduplicationUnavailableError(
                "the test cache is unreachable", operation="deduplication"
            )

    def claim(self, key: str, *, lease_seconds: float) -> Claim:
        """Claim, or raise while unreachable."""
        self._check()
        return super().claim(key, lease_seconds=lease_seconds)

    def mark_done(self, key: str, token: str) -> None:
        """Mark done, or raise while unreachable."""
        self._check()
        super().mark_done(key, token)

    def release(self, key: str, token: str) -> None:
        """Release, or raise while unreachable."""
        self._check()
        super().release(key, token)

    def extend(self, key: str, token: str, *, lease_seconds: float) -> None:
        """Extend, or raise while unreachable."""
        self._check()
        super().extend(key, token, lease_seconds=lease_seconds)

    def ping(self) -> None:
        """Count the probe; raise while unreachable."""
        self.pings += 1
        self._check()


class CountingBackend(InMemoryBackend):
    """An in-memory backend that counts receive requests and the highest receive count seen.

    It counts the redrive policy reads too, of any queue (``redrive_policy_reads``).
    """

    def __init__(self) -> None:
        super().__init__()
        self.receives = 0
        self.highest_receive_count = 0
        self.redrive_policy_reads = 0

    def redrive_policy(self, queue_name: str) -> RedrivePolicy | None:
        """Return the redrive policy as usual, counting."""
        self.redrive_policy_reads += 1
        return super().redrive_policy(queue_name)

    def receive(
        self,
        queue_name: str,
        *,
        max_messages: int = 10,
        wait_time_seconds: int = 0,
        visibility_timeout: int | None = None,
    ) -> list[ReceivedMessage]:
        """Receive as usual, counting."""
        batch = super().receive(
            queue_name,
            max_messages=max_messages,
            wait_time_seconds=wait_time_seconds,
            visibility_timeout=visibility_timeout,
        )
        if queue_name == "q":
            self.receives += 1
            counts = [m.receive_count for m in batch]
            self.highest_receive_count = max([self.highest_receive_count, *counts])
        return batch


def build_refusing_dispatcher() -> MessageDispatcher:
    """Return a dispatcher on queue 'q' of a backend that refuses every receive."""
    backend = FailingBackend(REFUSAL)
    backend.declare_queue("q")
    registry = SerializerRegistry({"serializers": {"json": JsonSerializer}})
    return MessageDispatcher(registry, backend, wait_time_seconds=1)
