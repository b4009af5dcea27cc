"""Count the HTTP requests a boto3 client sends, through botocore's ``before-send`` events.

Nothing is patched: the log is an ordinary botocore event handler, so what it counts is
what went on the wire (URL lookups and retries included).
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any


class RequestLog:
    """Records the operation name of every request sent by the clients it watches.

    Register it on a client with ``watch(client)`` (every request of that client), or on a
    session's events with ``session.events.register("before-send", log)`` (every client
    the session makes, STS's included).

    Attributes:
        operations: the operations sent, in order (``"SendMessage"``, ``"Publish"``, ...).
    """

    def __init__(self) -> None:
        self.operations: list[str] = []
        self._lock = threading.Lock()  # clients may send from several threads

    def __call__(self, event_name: str = "", **_: Any) -> None:
        """Record one request; botocore names the event ``before-send.<service>.<Operation>``."""
        with self._lock:
            self.operations.append(event_name.rsplit(".", 1)[-1])

    def watch(self, client: Any) -> RequestLog:
        """Record every request ``client`` sends from now on; return the log."""
        client.meta.events.register(self._event(client), self)
        return self

    def unwatch(self, client: Any) -> None:
        """Stop recording ``client``'s requests."""
        client.meta.events.unregister(self._event(client), self)

    def count(self, operation: str | None = None) -> int:
        """Return how many requests were sent, of ``operation`` only if given."""
        with self._lock:
            if operation is None:
                return len(self.operations)
            return self.operations.count(operation)

    def clear(self) -> None:
        """Forget the requests recorded so far."""
        with self._lock:
            self.operations.clear()

    def take(self) -> Counter[str]:
        """Return the requests so far by operation, and start again from none."""
        with self._lock:
            counts = Counter(self.operations)
            self.operations.clear()
        return counts

    @staticmethod
    def _event(client: Any) -> str:
        return f"before-send.{client.meta.service_model.service_id.hyphenize()}.*"
