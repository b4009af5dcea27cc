"""Whether a worker is alive and ready, from what its queue runners last did.

Each running queue runner (threaded or asyncio) registers a ``QueueActivity`` in
``RUNNING`` while it runs, and stamps it as its poll loop turns: after every receive,
before every backoff (with the time the backoff ends), and while it waits for room.
``liveness`` and ``readiness`` are pure functions of those values and the clock;
``HealthServer`` serves them over HTTP, with ``/metrics`` (``melange.metrics``).

Alive: every queue's poll loop is running and has completed a receive or a backoff
recently, that is within the long-poll wait plus ``LIVENESS_GRACE_SECONDS`` of when it was
due; a loop waiting for room (every worker busy with a message) is alive as long as it
waits. Ready: every queue was found and the broker answered its last receive.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import attrs

from melange.exceptions import ConfigurationError

__all__ = [
    "LIVENESS_GRACE_SECONDS",
    "PROMETHEUS_CONTENT_TYPE",
    "RUNNING",
    "HealthReport",
    "HealthServer",
    "QueueActivity",
    "RunningQueues",
    "is_live",
    "liveness",
    "readiness",
    "serving_health",
]

logger = logging.getLogger(__name__)

#: How late (beyond the long-poll wait) a poll loop may be before the worker is not alive.
LIVENESS_GRACE_SECONDS = 10.0


@attrs.define
class QueueActivity:
    """What one running queue's poll loop last did, stamped by its runner.

    Args:
        queue_name: the queue consumed.
        wait_time_seconds: the long-poll wait of its receives.
        in_flight: returns how many of its messages are being handled now.
        due_at: monotonic time by which the loop is expected back from what it is doing.
        answered: whether the broker answered its last receive.
        waiting_for_room: whether the loop waits for a worker to finish a message.
    """

    queue_name: str
    wait_time_seconds: float
    in_flight: Callable[[], int] = attrs.field(default=lambda: 0, repr=False)
    due_at: float = attrs.field(factory=time.monotonic)
    answered: bool = False
    waiting_for_room: bool = False

    def received(self) -> None:
        """A receive returned (possibly empty): the broker answered."""
        self.due_at = time.monotonic()
        self.answered = True

    def backing_off(self, seconds: float) -> None:
        """A receive failed; the loop pauses ``seconds`` before the next one."""
        self.due_at = time.monotonic() + seconds
        self.answered = False

    def waiting(self, waiting: bool) -> None:
        """The loop starts (``True``) or stops waiting for room to receive more."""
        self.due_at = time.monotonic()
        self.waiting_for_room = waiting


def is_live(now: float, activity: QueueActivity) -> bool:
    """Return whether a poll loop turned recently enough to be considered running."""
    late = now - activity.due_at
    return activity.waiting_for_room or late <= activity.wait_time_seconds + LIVENESS_GRACE_SECONDS


@attrs.frozen
class HealthReport:
    """An answer to a health check: whether all is well, and one line per queue."""

    ok: bool
    lines: tuple[str, ...]

    def text(self) -> str:
        """The report as the HTTP body: ``ok`` or ``unavailable``, then a line per queue."""
        return "\n".join(("ok" if self.ok else "unavailable", *self.lines)) + "\n"


def liveness(expected: Sequence[str], running: Sequence[QueueActivity], now: float) -> HealthReport:
    """Return whether every expected queue has a poll loop that turned recently."""
    by_name = {a.queue_name: a for a in running}
    lines, ok = [], True
    for name in expected:
        activity = by_name.get(name)
        if activity is None:
            lines.append(f"{name}: not running")
            ok = False
        elif not is_live(now, activity):
            lines.append(f"{name}: poll loop silent for {now - activity.due_at:.0f} s")
            ok = False
        else:
            lines.append(f"{name}: polling")
    return HealthReport(ok, tuple(lines))


def readiness(expected: Sequence[str], running: Sequence[QueueActivity]) -> HealthReport:
    """Return whether every expected queue was found and the broker answered it last."""
    by_name = {a.queue_name: a for a in running}
    lines, ok = [], True
    for name in expected:
        activity = by_name.get(name)
        answered = activity is not None and activity.answered
        lines.append(f"{name}: {'ready' if answered else 'no answer from the broker yet'}")
        ok = ok and answered
    return HealthReport(ok, tuple(lines))


class RunningQueues:
    """The queues running in this process, each registered by its runner while it runs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: list[QueueActivity] = []

    def register(self, activity: QueueActivity) -> None:
        """Add a runner's activity, as it starts."""
        with self._lock:
            self._running.append(activity)

    def unregister(self, activity: QueueActivity) -> None:
        """Remove a runner's activity, as it stops."""
        with self._lock:
            self._running = [a for a in self._running if a is not activity]

    def snapshot(self) -> list[QueueActivity]:
        """Return the activities registered now."""
        with self._lock:
            return list(self._running)

    def in_flight(self) -> list[tuple[str, int]]:
        """Return ``(queue name, messages being handled)`` for each running queue."""
        return [(a.queue_name, a.in_flight()) for a in self.snapshot()]


#: Every queue runner of this process registers here while it runs.
RUNNING = RunningQueues()


# -- the HTTP endpoint ----------------------------------------------------------------------


class HealthServer:
    """Serves ``/healthz``, ``/readyz`` and ``/metrics`` from a thread, for a worker.

    Works beside the threaded and the asyncio worker alike: it only reads ``RUNNING``.

    Args:
        expected: the queues the worker consumes.
        host: the address to bind (127.0.0.1: reachable from this machine only).
        port: the port to bind (0: any free port, see ``port`` once started).
        metrics_text: renders ``/metrics``; ``None``: answer 501 (no OpenTelemetry SDK).
        running: the registry the runners stamp.

    Raises:
        ConfigurationError: the address cannot be bound (in use, not this machine's).
    """

    def __init__(
        self,
        expected: Sequence[str],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        metrics_text: Callable[[], str] | None = None,
        running: RunningQueues = RUNNING,
    ) -> None:
        self.expected = tuple(expected)
        self.metrics_text = metrics_text
        self.running = running
        try:
            self._server = ThreadingHTTPServer((host, port), _handler_for(self))
        except OSError as exc:
            raise ConfigurationError(
                f"cannot serve the health endpoint on {host}:{port} ({exc}); choose another "
                "--http-port, or --http-host an address of this machine"
            ) from exc
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="melange-health", daemon=True
        )

    @property
    def port(self) -> int:
        """The port the server listens on."""
        return int(self._server.server_address[1])

    def start(self) -> HealthServer:
        """Start serving in a daemon thread; return at once."""
        self._thread.start()
        logger.info("serving /healthz, /readyz and /metrics on %s:%d", *self.address)
        return self

    def close(self) -> None:
        """Stop serving and release the port."""
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()

    def answer(self, path: str) -> tuple[int, str, str]:
        """Return the status, content type and body for ``path``."""
        plain = "text/plain; charset=utf-8"
        if path == "/healthz":
            report = liveness(self.expected, self.running.snapshot(), time.monotonic())
        elif path == "/readyz":
            report = readiness(self.expected, self.running.snapshot())
        elif path == "/metrics":
            if self.metrics_text is None:
                return 501, plain, "metrics need opentelemetry-sdk: pip install opentelemetry-sdk\n"
            return 200, PROMETHEUS_CONTENT_TYPE, self.metrics_text()
        else:
            return 404, plain, "not found: try /healthz, /readyz or /metrics\n"
        return (200 if report.ok else 503), plain, report.text()

    @property
    def address(self) -> tuple[str, int]:
        """The host and port the server listens on."""
        host, port = self._server.server_address[:2]
        return str(host), int(port)


#: The content type of Prometheus' text exposition format.
PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: Seconds a connection may stay silent before the server closes it: a client that connects
#: and never sends its request must not hold a handler thread for the worker's life.
REQUEST_TIMEOUT_SECONDS = 5.0


def _handler_for(server: HealthServer) -> type[BaseHTTPRequestHandler]:
    class HealthHandler(BaseHTTPRequestHandler):
        timeout = REQUEST_TIMEOUT_SECONDS  # applied to each connection's socket

        def do_GET(self) -> None:
            status, content_type, body = server.answer(self.path.partition("?")[0])
            encoded = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(encoded)))
            self.end_headers()
            self.wfile.write(encoded)

        def log_message(self, format: str, *args: Any) -> None:
            logger.debug("%s %s", self.address_string(), format % args)

    return HealthHandler


@contextmanager
def serving_health(expected: Sequence[str], *, host: str, port: int | None) -> Iterator[None]:
    """Serve the health and metrics endpoint on ``host:port`` around the block (``None``: not).

    ``/metrics`` renders melange's metrics, recorded from then on into an OpenTelemetry
    SDK reader, when ``opentelemetry-sdk`` is installed; else it answers 501.
    """
    if port is None:
        yield
        return
    from melange import metrics

    render = metrics.prometheus_endpoint()
    if render is None:
        logger.warning("/metrics answers 501: it needs opentelemetry-sdk (pip install it)")
    server = HealthServer(expected, host=host, port=port, metrics_text=render).start()
    try:
        yield
    finally:
        server.close()
