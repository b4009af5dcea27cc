"""The worker's health endpoint: ``/healthz``, ``/readyz`` and ``/metrics`` over HTTP.

``HealthServer`` answers liveness and readiness (``melange.telemetry.activity``) of the
queues a worker is expected to run, and ``/metrics`` in Prometheus' text format
(``melange.telemetry.metrics``) when the OpenTelemetry SDK is installed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from melange.exceptions import ConfigurationError, Problem
from melange.telemetry import metrics
from melange.telemetry.activity import RUNNING, RunningQueues, liveness, readiness

__all__ = ["PROMETHEUS_CONTENT_TYPE", "HealthServer", "serving_health"]

logger = logging.getLogger(__name__)

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
                "--http-port, or --http-host an address of this machine",
                problems=[
                    Problem("--http-port", port, f"a free port on {host} (or another --http-host)")
                ],
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
    render = metrics.prometheus_endpoint()
    if render is None:
        logger.warning("/metrics answers 501: it needs opentelemetry-sdk (pip install it)")
    server = HealthServer(expected, host=host, port=port, metrics_text=render).start()
    try:
        yield
    finally:
        server.close()
