"""Small loopback servers for faults a real broker cannot be made to produce.

``SilentServer`` accepts TCP connections and never answers. ``ScriptedBroker`` answers
SQS (JSON protocol), SNS and STS (query protocol) requests with what the test scripts,
records which operations it saw, and can go silent for chosen operations. Both bind
127.0.0.1 only and stop when their ``with`` block ends. ``AnswerLosingProxy`` sits in
front of a real server and, when told to, lets publishes arrive but loses their answers.
``BlackHoleProxy`` sits in front of a real server and, when told to, forwards nothing
either way while keeping every connection open: a network that black-holes packets.
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import attrs


@attrs.frozen
class Answer:
    """One HTTP answer: status, headers and body."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = attrs.Factory(dict)


#: Marks an operation the broker receives but never answers.
SILENT = Answer(status=0)

#: Decides the answer to an operation ("sqs.ReceiveMessage", "sns.Publish", "sts....").
Script = Callable[[str], Answer]


def sqs_error(status: int, code: str, message: str = "refused") -> Answer:
    """Return an SQS error in the JSON protocol, with the query-compatible error header."""
    body = json.dumps({"__type": f"com.amazonaws.sqs#{code}", "message": message})
    return Answer(
        status,
        body.encode(),
        {"Content-Type": "application/x-amz-json-1.0", "x-amzn-query-error": f"{code};Sender"},
    )


def query_error(status: int, code: str, message: str = "refused") -> Answer:
    """Return an SNS or STS error in the query protocol (XML)."""
    body = (
        "<ErrorResponse><Error><Type>Sender</Type>"
        f"<Code>{code}</Code><Message>{message}</Message></Error>"
        "<RequestId>loopback</RequestId></ErrorResponse>"
    )
    return Answer(status, body.encode(), {"Content-Type": "text/xml"})


def sqs_answer(payload: dict[str, object]) -> Answer:
    """Return a successful SQS answer in the JSON protocol."""
    return Answer(200, json.dumps(payload).encode(), {"Content-Type": "application/x-amz-json-1.0"})


def query_answer(action: str, result: str) -> Answer:
    """Return a successful SNS or STS answer in the query protocol, ``result`` being XML."""
    body = (
        f"<{action}Response><{action}Result>{result}</{action}Result>"
        f"<ResponseMetadata><RequestId>loopback</RequestId></ResponseMetadata></{action}Response>"
    )
    return Answer(200, body.encode(), {"Content-Type": "text/xml"})


class ScriptedBroker:
    """An HTTP server on 127.0.0.1 that answers each request as ``script`` says.

    Attributes:
        operations: every operation received, in order, as ``service.Operation``.
        endpoint_url: where clients reach it.
    """

    def __init__(self, script: Script) -> None:
        self.operations: list[str] = []
        self._script = script
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self.endpoint_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def count(self, operation: str) -> int:
        """Return how many requests for ``operation`` (``service.Operation``) arrived."""
        with self._lock:
            return self.operations.count(operation)

    def __enter__(self) -> ScriptedBroker:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._closing.set()  # releases the handlers kept silent
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        operation = _operation(handler.headers.get("X-Amz-Target"), handler.rfile.read(length))
        with self._lock:
            self.operations.append(operation)
        answer = self._script(operation)
        if answer is SILENT:
            self._closing.wait(timeout=120)
            return
        handler.send_response(answer.status)
        for name, value in answer.headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(answer.body)))
        handler.end_headers()
        handler.wfile.write(answer.body)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        broker = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                broker._answer(self)

            def log_message(self, *_: object) -> None:
                pass  # keep test output clean

        return Handler


def _operation(target: str | None, body: bytes) -> str:
    if target:  # SQS's JSON protocol: "AmazonSQS.SendMessage"
        return "sqs." + target.rsplit(".", 1)[-1]
    form = parse_qs(body.decode())
    action = form.get("Action", ["?"])[0]
    service = "sts" if action in {"GetCallerIdentity", "AssumeRole"} else "sns"
    return f"{service}.{action}"


class SilentServer:
    """A TCP server on 127.0.0.1 that accepts every connection and never sends a byte.

    Attributes:
        port: where it listens.
        connections: how many connections it accepted.
    """

    def __init__(self) -> None:
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(64)
        self._socket.settimeout(0.2)  # lets the accept loop notice the end
        self.port = int(self._socket.getsockname()[1])
        self.connections = 0
        self._accepted: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._socket.accept()
            except TimeoutError:
                continue
            self._accepted.append(conn)  # kept open, never read from nor written to
            self.connections += 1

    def __enter__(self) -> SilentServer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        for conn in self._accepted:
            conn.close()
        self._socket.close()


@contextmanager
def scripted_broker(script: Script) -> Iterator[ScriptedBroker]:
    """Run a ``ScriptedBroker`` for the ``with`` block."""
    with ScriptedBroker(script) as broker:
        yield broker


#: What marks a publish request: SQS's JSON target (SendMessage, SendMessageBatch) or SNS's
#: query action (Publish, PublishBatch).
PUBLISH_MARKERS = (b"AmazonSQS.SendMessage", b"Action=Publish")


class AnswerLosingProxy:
    """Forwards HTTP requests to ``upstream``; while ``losing``, resets instead of answering.

    Each client connection carries one request (the proxy asks moto to close after it), so
    a reset never cuts a request in two. Only publish requests lose their answer.
    """

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.losing = False
        self.lost = 0
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.2)
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="proxy", daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        """The loopback port clients connect to."""
        return int(self._server.getsockname()[1])

    def close(self) -> None:
        """Stop accepting and wait for the accepting thread."""
        self._stopped.set()
        self._thread.join(timeout=5)
        self._server.close()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._server.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        with client:
            client.settimeout(10)
            request = _read_request(client)
            if request is None:
                return
            with socket.create_connection(self.upstream, timeout=10) as upstream:
                upstream.sendall(request)
                answer = _read_to_end(upstream)
            if self.losing and any(marker in request for marker in PUBLISH_MARKERS):
                self.lost += 1
                # Linger 0: close() sends RST, the "connection reset by peer" of the field.
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                return
            client.sendall(answer)


def _read_request(client: socket.socket) -> bytes | None:
    """Read one HTTP request; return it with ``Connection: close``, or None if none came."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = client.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    length = 0
    kept = [lines[0]]
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
        if name.strip().lower() != b"connection":
            kept.append(line)
    while len(body) < length:
        chunk = client.recv(65536)
        if not chunk:
            return None
        body += chunk
    return b"\r\n".join([*kept, b"Connection: close"]) + b"\r\n\r\n" + body


def _read_to_end(upstream: socket.socket) -> bytes:
    chunks = []
    while chunk := upstream.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


class BlackHoleProxy:
    """Forwards TCP to ``upstream`` both ways until ``black_hole``; then forwards nothing.

    Once black-holed, every connection, open or new, stays open and is read from, and
    what it carries is kept in ``swallowed`` instead of being forwarded: requests never
    reach the server and answers already on their way never reach the client, as when a
    network drops packets without resetting connections. Stops when its ``with`` ends.
    """

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.swallowed = bytearray()
        self._holing = threading.Event()
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.2)  # lets the accept loop notice close()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="black-hole", daemon=True)

    @property
    def port(self) -> int:
        """The loopback port clients connect to."""
        return int(self._server.getsockname()[1])

    def black_hole(self) -> None:
        """From now on forward nothing, on the connections open and on new ones."""
        self._holing.set()

    def swallowed_request(self, marker: bytes) -> bool:
        """Tell whether a request containing ``marker`` was swallowed (e.g. an operation)."""
        with self._lock:
            return marker in self.swallowed

    def __enter__(self) -> BlackHoleProxy:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stopped.set()
        self._thread.join(timeout=5)
        self._server.close()
        with self._lock:
            opened, self._sockets = self._sockets, []
        for each in opened:
            with contextlib.suppress(OSError):
                each.shutdown(socket.SHUT_RDWR)
            each.close()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._server.accept()
            except TimeoutError:
                continue
            client.settimeout(None)
            upstream = None
            if not self._holing.is_set():
                try:
                    upstream = socket.create_connection(self.upstream, timeout=10)
                except OSError:
                    client.close()
                    continue
                upstream.settimeout(None)
            with self._lock:
                self._sockets.extend(s for s in (client, upstream) if s is not None)
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()
            if upstream is not None:
                threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket | None) -> None:
        """Copy ``source`` to ``sink`` until it ends; keep what arrives once black-holed."""
        with contextlib.suppress(OSError):  # closed by __exit__ or by the other side
            while chunk := source.recv(65536):
                if sink is None or self._holing.is_set():
                    with self._lock:
                        self.swallowed.extend(chunk)
                    continue
                sink.sendall(chunk)
        if sink is not None and not self._holing.is_set():
            with contextlib.suppress(OSError):  # the other side closed first
                sink.shutdown(socket.SHUT_WR)
