"""The worker's health endpoint: ``/healthz``, ``/readyz`` and ``/metrics`` over HTTP.

``HealthServer`` answers liveness and readiness (``melange.telemetry.activity``) of the
queues a worker is expected to run, and ``/metrics`` in Prometheus' text format
(``melange.telemetry.metrics``) when the OpenTelemetry SDK is installed.

It serves every connection from one thread, with a selector: a connection costs a socket
and a buffer, never a thread, so idle or hostile clients cannot starve a probe. Each
connection carries one request: its head must arrive whole within
``REQUEST_TIMEOUT_SECONDS`` of the connection being accepted, however slowly it trickles
in, and every answer says ``Connection: close``. Keep-alive and pipelining are refused
rather than honoured: probes open a connection per check anyway, and answering exactly
one request needs no request-body framing to find where the next one starts, and no idle
connection waiting for a second request.
"""

from __future__ import annotations

import contextlib
import email.utils
import logging
import re
import selectors
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from http import HTTPStatus

import attrs

from melange.exceptions import ConfigurationError, Problem
from melange.telemetry import metrics
from melange.telemetry.activity import RUNNING, RunningQueues, liveness, readiness

__all__ = ["PROMETHEUS_CONTENT_TYPE", "HealthServer", "serving_health"]

logger = logging.getLogger(__name__)

#: The content type of Prometheus' text exposition format.
PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: Seconds from a connection's accept by which its request head must have arrived whole: a
#: client that never sends, or trickles a byte at a time, is cut off all the same. The
#: answer then has as long again to be read.
REQUEST_TIMEOUT_SECONDS = 5.0
#: The most bytes a request head (request line and header fields) may take; 431 beyond.
MAX_HEAD_BYTES = 16 * 1024
#: Connections held at once. A new one beyond it closes the oldest, which has had the
#: longest to send its request: a probe sends at once, so it always gets through.
MAX_CONNECTIONS = 256
#: Seconds an answered connection is still read, and what arrives discarded, until the
#: client closes it: closing with unread bytes would reset it, and a reset can destroy the
#: answer before the client has read it.
LINGER_SECONDS = 2.0
#: Seconds the server stops accepting after an error such as running out of descriptors.
ACCEPT_PAUSE_SECONDS = 0.5

_PLAIN = "text/plain; charset=utf-8"
_ALLOWED_METHODS = ("GET", "HEAD")
_HEAD_END = re.compile(rb"\r?\n\r?\n")
# method SP request-target SP HTTP-version (RFC 9112 section 3)
_REQUEST_LINE = re.compile(rb"([!#$%&'*+.^_`|~0-9A-Za-z-]+) ([\x21-\x7e]+) HTTP/(\d)\.(\d)")
# the path of a target in origin form (/path?query) or absolute form (http://host/path?query)
_TARGET_PATH = re.compile(r"(?:https?://[^/?#]+)?(/[^?#]*)?(?:[?#].*)?")
_FIELD_LINE = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+:[^\x00-\x08\x0a-\x1f\x7f]*")


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
            # the kernel caps the backlog at net.core.somaxconn: a burst of connections
            # waits there for the loop to accept it, rather than retrying its SYN a second on
            self._listener = socket.create_server((host, port), backlog=socket.SOMAXCONN)
        except OSError as exc:
            raise ConfigurationError(
                f"cannot serve the health endpoint on {host}:{port} ({exc}); choose another "
                "--http-port, or --http-host an address of this machine",
                problems=[
                    Problem("--http-port", port, f"a free port on {host} (or another --http-host)")
                ],
            ) from exc
        bound_host, bound_port = self._listener.getsockname()[:2]
        self._address = (str(bound_host), int(bound_port))
        self._listener.setblocking(False)
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._wake_reader.setblocking(False)
        self._wake_writer.setblocking(False)
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._listener, selectors.EVENT_READ, _LISTENER)
        self._selector.register(self._wake_reader, selectors.EVENT_READ, _WAKE)
        self._open: dict[_Connection, None] = {}  # oldest first
        self._accepting_again_at: float | None = None
        self._stopping = False
        self._released = False
        self._thread = threading.Thread(target=self._serve, name="melange-health", daemon=True)

    @property
    def port(self) -> int:
        """The port the server listens on."""
        return self._address[1]

    @property
    def address(self) -> tuple[str, int]:
        """The host and port the server listens on."""
        return self._address

    def start(self) -> HealthServer:
        """Start serving in a daemon thread; return at once."""
        self._thread.start()
        logger.info("serving /healthz, /readyz and /metrics on %s:%d", *self.address)
        return self

    def close(self) -> None:
        """Stop serving, close every connection and release the port."""
        self._stopping = True
        if self._thread.is_alive():
            with contextlib.suppress(OSError):  # a full wake-up socket wakes the loop as well
                self._wake_writer.send(b"\0")
            self._thread.join()
        self._release()

    def answer(self, path: str) -> tuple[int, str, str]:
        """Return the status, content type and body for ``path``."""
        if path == "/healthz":
            report = liveness(self.expected, self.running.snapshot(), time.monotonic())
        elif path == "/readyz":
            report = readiness(self.expected, self.running.snapshot())
        elif path == "/metrics":
            if self.metrics_text is None:
                return (
                    501,
                    _PLAIN,
                    "metrics need opentelemetry-sdk: pip install opentelemetry-sdk\n",
                )
            return 200, PROMETHEUS_CONTENT_TYPE, self.metrics_text()
        else:
            return 404, _PLAIN, "not found: try /healthz, /readyz or /metrics\n"
        return (200 if report.ok else 503), _PLAIN, report.text()

    # -- the loop: one thread, every connection ----------------------------------------------

    def _serve(self) -> None:
        try:
            while not self._stopping:
                ready = self._selector.select(self._seconds_to_next_deadline(time.monotonic()))
                # The time the connections were seen, not the time the wait began: a deadline
                # counted from before the wait would cut a request short by the time waited.
                now = time.monotonic()
                for key, events in ready:
                    if key.data is _LISTENER:
                        self._accept(now)
                    elif key.data is _WAKE:
                        with contextlib.suppress(OSError):
                            self._wake_reader.recv(64)
                    else:
                        self._guarded(key.data, events)
                self._expire(time.monotonic())
        except Exception:
            # closing the port makes probes fail at once, rather than wait on a dead loop
            logger.exception("the health endpoint stopped serving on %s:%d", *self.address)
        finally:
            self._release()

    def _seconds_to_next_deadline(self, now: float) -> float | None:
        deadlines = [c.deadline for c in self._open]
        if self._accepting_again_at is not None:
            deadlines.append(self._accepting_again_at)
        return max(0.0, min(deadlines) - now) if deadlines else None

    def _accept(self, now: float) -> None:
        for _ in range(MAX_CONNECTIONS):
            try:
                sock, peer = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:
                continue  # reset while it waited in the backlog
            except OSError as exc:
                # out of descriptors, say: the listener stays readable, so pause rather than spin
                logger.warning(
                    "the health endpoint cannot accept a connection (%s); trying again in %s s",
                    exc,
                    ACCEPT_PAUSE_SECONDS,
                )
                self._selector.unregister(self._listener)
                self._accepting_again_at = now + ACCEPT_PAUSE_SECONDS
                return
            sock.setblocking(False)
            if len(self._open) >= MAX_CONNECTIONS:
                oldest = next(iter(self._open))
                logger.debug(
                    "%d connections open: closing the oldest, %s", MAX_CONNECTIONS, oldest.peer
                )
                self._close(oldest)
            connection = _Connection(sock, f"{peer[0]}:{peer[1]}", now + REQUEST_TIMEOUT_SECONDS)
            self._open[connection] = None
            self._selector.register(sock, selectors.EVENT_READ, connection)

    def _guarded(self, connection: _Connection, events: int) -> None:
        try:
            if events & selectors.EVENT_WRITE:
                self._send(connection)
            elif connection.lingering:
                self._drain(connection)
            else:
                self._receive(connection)
        except BlockingIOError:
            return  # not ready after all: the selector reports it again
        except OSError as exc:  # reset, broken pipe: the client went away
            logger.debug("health endpoint: %s went away (%r)", connection.peer, exc)
            self._close(connection)
        except Exception:
            logger.exception("the health endpoint failed serving %s", connection.peer)
            self._close(connection)

    def _receive(self, connection: _Connection) -> None:
        chunk = connection.sock.recv(65536)
        if not chunk:
            if connection.received:
                logger.debug(
                    "health endpoint: %s closed after %d bytes, before its request head ended",
                    connection.peer,
                    len(connection.received),
                )
            self._close(connection)
            return
        searched = max(0, len(connection.received) - 3)  # the end may straddle two chunks
        connection.received += chunk
        end = _HEAD_END.search(connection.received, searched)
        if end is None and len(connection.received) <= MAX_HEAD_BYTES:
            return  # more to come
        if end is None or end.end() > MAX_HEAD_BYTES:
            reply = _Reply(431, f"the request head is over {MAX_HEAD_BYTES} bytes\n")
        else:
            reply = self._reply(bytes(connection.received[: end.start()]), connection.peer)
        self._start_answer(connection, reply)

    def _reply(self, head: bytes, peer: str) -> _Reply:
        request = _parse_head(head)
        if isinstance(request, _Reply):
            return request
        method, path = request
        try:
            status, content_type, body = self.answer(path)
        except Exception:
            logger.exception("the health endpoint failed answering %s %s", method, path)
            return _Reply(500, f"{path} failed: see the worker's log\n")
        logger.debug("health endpoint: %s %s %s: %d", peer, method, path, status)
        return _Reply(status, body, content_type=content_type, head_only=method == "HEAD")

    def _start_answer(self, connection: _Connection, reply: _Reply) -> None:
        connection.received.clear()
        connection.outgoing = memoryview(reply.render())
        self._send(connection)

    def _send(self, connection: _Connection) -> None:
        outgoing = connection.outgoing
        if outgoing is None:
            return
        connection.outgoing = outgoing[connection.sock.send(outgoing) :]
        if connection.outgoing:
            self._selector.modify(connection.sock, selectors.EVENT_WRITE, connection)
            return
        # answered: half-close, then read until the client closes (see LINGER_SECONDS)
        connection.sock.shutdown(socket.SHUT_WR)
        connection.outgoing = None
        connection.lingering = True
        connection.deadline = time.monotonic() + LINGER_SECONDS
        self._selector.modify(connection.sock, selectors.EVENT_READ, connection)

    def _drain(self, connection: _Connection) -> None:
        if not connection.sock.recv(65536):
            self._close(connection)

    def _expire(self, now: float) -> None:
        if self._accepting_again_at is not None and now >= self._accepting_again_at:
            self._accepting_again_at = None
            self._selector.register(self._listener, selectors.EVENT_READ, _LISTENER)
        for connection in [c for c in self._open if c.deadline <= now]:
            if connection.received and connection.outgoing is None and not connection.lingering:
                logger.debug(
                    "health endpoint: %s sent %d bytes in %s s and no whole request head",
                    connection.peer,
                    len(connection.received),
                    REQUEST_TIMEOUT_SECONDS,
                )
                reply = _Reply(
                    408, f"the request head must arrive within {REQUEST_TIMEOUT_SECONDS} s\n"
                )
                with contextlib.suppress(OSError):
                    self._start_answer(connection, reply)
                    continue
            self._close(connection)

    def _close(self, connection: _Connection) -> None:
        del self._open[connection]
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(connection.sock)
        connection.sock.close()

    def _release(self) -> None:
        if self._released:
            return
        self._released = True
        for connection in list(self._open):
            self._close(connection)
        self._selector.close()
        for sock in (self._listener, self._wake_reader, self._wake_writer):
            sock.close()


_LISTENER = object()
_WAKE = object()


@attrs.define(eq=False)
class _Connection:
    """One client connection: what it sent so far, and what it is still owed."""

    sock: socket.socket
    peer: str
    deadline: float
    received: bytearray = attrs.field(factory=bytearray)
    outgoing: memoryview | None = None
    lingering: bool = False


@attrs.frozen
class _Reply:
    """An answer to send: the status, the body and how to send it."""

    status: int
    body: str
    content_type: str = _PLAIN
    head_only: bool = False

    def render(self) -> bytes:
        """Return the answer's bytes: status line, header fields, body (not for HEAD)."""
        body = self.body.encode()
        fields = [
            f"HTTP/1.1 {self.status} {HTTPStatus(self.status).phrase}",
            f"Date: {email.utils.formatdate(usegmt=True)}",
            f"Content-Type: {self.content_type}",
            f"Content-Length: {len(body)}",
            "Connection: close",
        ]
        if self.status == HTTPStatus.METHOD_NOT_ALLOWED:
            fields.append(f"Allow: {', '.join(_ALLOWED_METHODS)}")
        head = "\r\n".join([*fields, "", ""]).encode("latin-1")
        return head if self.head_only else head + body


def _parse_head(head: bytes) -> tuple[str, str] | _Reply:
    """Return the method and path of a request head, or the answer refusing it."""
    request_line, *field_lines = head.lstrip(b"\r\n").split(b"\n")
    match = _REQUEST_LINE.fullmatch(request_line.removesuffix(b"\r"))
    if match is None:
        return _Reply(400, "malformed request line: expected e.g. GET /healthz HTTP/1.1\n")
    method, target, major = (part.decode("ascii") for part in match.groups()[:3])
    if major != "1":
        return _Reply(505, "this endpoint speaks HTTP/1.1 (and 1.0)\n")
    if not all(_FIELD_LINE.fullmatch(line.removesuffix(b"\r")) for line in field_lines):
        return _Reply(400, "malformed header field: expected Name: value\n")
    path = _TARGET_PATH.fullmatch(target)
    if path is None:
        return _Reply(400, f"malformed request target {target!r}: expected e.g. /healthz\n")
    if method not in _ALLOWED_METHODS:
        return _Reply(405, f"{method} not allowed: use GET or HEAD\n")
    return method, path.group(1) or "/"


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
