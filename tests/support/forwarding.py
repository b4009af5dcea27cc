"""A TCP forwarder on a fixed loopback port, for code that names its server's address itself.

melange 7's documentation snippets build ``LocalSQSBackend(host="localhost", port=9324)``;
to run them as written, a test forwards 127.0.0.1:9324 to the session's moto server.
``PortTakenError`` says who to ask when the port is in use, rather than a bare ``OSError``.
"""

from __future__ import annotations

import contextlib
import errno
import socket
import threading
from types import TracebackType

__all__ = ["PortTakenError", "TcpForwarder"]


class PortTakenError(RuntimeError):
    """The forwarder's port is already in use on 127.0.0.1."""


class TcpForwarder:
    """Accepts connections on ``127.0.0.1:port`` and pipes each to ``upstream``, both ways.

    Args:
        port: the loopback port to listen on.
        upstream: the ``(host, port)`` every connection is forwarded to.

    Attributes:
        connections: how many connections it accepted.

    Raises:
        PortTakenError: something already listens on the port.
    """

    def __init__(self, port: int, upstream: tuple[str, int]) -> None:
        self.port = port
        self.upstream = upstream
        self.connections = 0
        self._stopped = threading.Event()
        self._server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # A connection of an earlier run left in TIME_WAIT must not hold the port; on Linux
        # this still refuses a port that another socket listens on.
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._server.bind(("127.0.0.1", port))
        except OSError as exc:
            self._server.close()
            if exc.errno == errno.EADDRINUSE:
                raise PortTakenError(
                    f"127.0.0.1:{port} is already in use, so the test cannot forward it to "
                    f"its own server; stop what listens there (e.g. `docker compose stop "
                    f"sqs-sns`, compose.yaml's emulator on {port}) and run the test again"
                ) from exc
            raise
        self._server.listen(16)
        self._server.settimeout(0.2)  # lets the accept loop notice close()
        self._thread = threading.Thread(target=self._accept, name=f"forward-{port}", daemon=True)

    def __enter__(self) -> TcpForwarder:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stopped.set()
        self._thread.join(timeout=5)
        self._server.close()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._server.accept()
            except TimeoutError:
                continue
            self.connections += 1
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.upstream, timeout=10)
        except OSError:
            client.close()
            return
        client.settimeout(None)
        upstream.settimeout(None)
        back = threading.Thread(target=_pipe, args=(upstream, client), daemon=True)
        back.start()
        _pipe(client, upstream)
        back.join(timeout=30)
        client.close()
        upstream.close()


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    """Copy bytes from ``source`` to ``sink`` until ``source`` ends; then end ``sink``'s side."""
    with contextlib.suppress(OSError):  # the other side closed: nothing left to forward
        while chunk := source.recv(65536):
            sink.sendall(chunk)
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)
