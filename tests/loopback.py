"""Small loopback servers for faults a real broker cannot be made to produce.

``SilentServer`` accepts TCP connections and never answers. ``ScriptedBroker`` answers
SQS (JSON protocol), SNS and STS (query protocol) requests with what the test scripts,
records which operations it saw, and can go silent for chosen operations. Both bind
127.0.0.1 only and stop when their ``with`` block ends.
"""

from __future__ import annotations

import json
import socket
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
