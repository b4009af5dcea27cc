"""A backend built at its first request: what ``MELANGE_BACKEND=aws`` gives on AWS Lambda.

A Lambda function's records that succeed need no request of the function: the event
source mapping deletes them. So a function whose graph builds the SQS backend at its
cold start pays for importing boto3 and creating three clients, which take longer than
the rest of the cold start, for requests most invocations never make.
``DeferredBackend(build)`` holds off: the first call that needs the broker (a retry's
backoff, a dead-letter copy, a publish, a declaration) builds the backend with
``build``, once, and every call goes to it from then on. Anything else asked of it
(``sqs_client``, ``queue_stats``...) builds it too.

``backend_from_settings`` defers the backend when the settings say the process is a
Lambda function (``AWS_LAMBDA_FUNCTION_NAME``, which Lambda sets); elsewhere it is built
at once, so a worker's wrong AWS configuration fails when the graph provides it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from melange.backends.protocol import MessagingBackend
from melange.backends.shortcuts import BackendShortcuts
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

__all__ = ["DeferredBackend"]


class DeferredBackend(BackendShortcuts):
    """A backend that ``build`` makes at the first call needing it; thread-safe.

    Args:
        build: makes the backend (e.g. ``AWSBackend(...)``); called once. What it
            raises (``ConfigurationError``: no region...) is raised by that first call,
            and by the next, which builds again.
        name: what it builds, for ``repr`` (``"MELANGE_BACKEND=aws"``).
    """

    def __init__(self, build: Callable[[], MessagingBackend], name: str) -> None:
        self._build = build
        self.name = name
        self._built: MessagingBackend | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        state = "not built yet" if self._built is None else repr(self._built)
        return f"DeferredBackend({self.name}: {state})"

    @property
    def built(self) -> bool:
        """Whether the backend was built (a request needed it)."""
        return self._built is not None

    @property
    def backend(self) -> MessagingBackend:
        """The backend, built now if it was not yet."""
        built = self._built
        if built is None:
            with self._lock:
                if self._built is None:
                    self._built = self._build()
                built = self._built
        return built

    def __getattr__(self, name: str) -> Any:
        # Only for what DeferredBackend does not define itself (the SQS backend's
        # sqs_client, queue_stats...): those need the backend.
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.backend, name)

    # -- MessagingTransport --------------------------------------------------------------

    def publish(self, destination: Destination, messages: Sequence[OutgoingMessage]) -> BatchResult:
        """Publish through the backend (see ``MessagingTransport``)."""
        return self.backend.publish(destination, messages)

    def receive(
        self,
        queue_name: str,
        *,
        max_messages: int = 10,
        wait_time_seconds: int = 0,
        visibility_timeout: int | None = None,
    ) -> list[ReceivedMessage]:
        """Receive through the backend (see ``MessagingTransport``)."""
        return self.backend.receive(
            queue_name,
            max_messages=max_messages,
            wait_time_seconds=wait_time_seconds,
            visibility_timeout=visibility_timeout,
        )

    def acknowledge(self, queue_name: str, receipt_handles: Sequence[str]) -> list[str]:
        """Delete through the backend (see ``MessagingTransport``)."""
        return self.backend.acknowledge(queue_name, receipt_handles)

    def change_visibility(
        self, queue_name: str, receipt_handles: Sequence[str], timeout_seconds: int
    ) -> list[str]:
        """Change visibility through the backend (see ``MessagingTransport``)."""
        return self.backend.change_visibility(queue_name, receipt_handles, timeout_seconds)

    def send_raw(
        self,
        queue_name: str,
        body: str,
        attributes: Mapping[str, AttributeValue],
        *,
        message_group_id: str | None = None,
        deduplication_id: str | None = None,
    ) -> str:
        """Send through the backend (see ``MessagingTransport``)."""
        return self.backend.send_raw(
            queue_name,
            body,
            attributes,
            message_group_id=message_group_id,
            deduplication_id=deduplication_id,
        )

    def redrive_policy(self, queue_name: str) -> RedrivePolicy | None:
        """Ask the backend (see ``MessagingTransport``)."""
        return self.backend.redrive_policy(queue_name)

    def close(self) -> None:
        """Close the backend if it was built; building it only to close it would be waste."""
        if self._built is not None:
            self._built.close()

    # -- MessagingAdmin ------------------------------------------------------------------

    def declare(self, spec: Declaration) -> Declared:
        """Declare through the backend (see ``MessagingAdmin``)."""
        return self.backend.declare(spec)

    def delete(self, destination: Destination) -> None:
        """Delete through the backend (see ``MessagingAdmin``)."""
        self.backend.delete(destination)
