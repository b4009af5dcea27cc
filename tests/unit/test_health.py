"""Liveness and readiness as pure functions, and the endpoint serving them over real HTTP."""

from __future__ import annotations

import http.client
import logging
import select
import selectors
import socket
import struct
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from melange.exceptions import ConfigurationError
from melange.telemetry.activity import (
    LIVENESS_GRACE_SECONDS,
    QueueActivity,
    RunningQueues,
    is_live,
    liveness,
    readiness,
)
from melange.telemetry.health import (
    MAX_CONNECTIONS,
    MAX_HEAD_BYTES,
    PROMETHEUS_CONTENT_TYPE,
    REQUEST_TIMEOUT_SECONDS,
    HealthServer,
)
from tests.support.polling import poll_until


def activity(
    name: str = "q",
    *,
    due_at: float = 100.0,
    answered: bool = False,
    waiting_for_room: bool = False,
) -> QueueActivity:
    """Return a queue's activity with a 20 s long poll, due back at ``due_at``."""
    return QueueActivity(
        name, 20, due_at=due_at, answered=answered, waiting_for_room=waiting_for_room
    )


def test_a_loop_is_live_until_the_long_poll_wait_plus_the_grace_has_passed() -> None:
    """Due at 100 with a 20 s wait: live at 100 + 20 + grace, not a moment later."""
    limit = 100.0 + 20 + LIVENESS_GRACE_SECONDS
    assert is_live(limit, activity())
    assert not is_live(limit + 0.1, activity())


def test_a_loop_backing_off_is_live_until_its_backoff_ended() -> None:
    """A backoff moves the time the loop is due: a long backoff is not mistaken for a hang."""
    pausing = activity()
    pausing.backing_off(30.0)
    assert is_live(pausing.due_at + 20, pausing)
    assert not pausing.answered


def test_a_loop_waiting_for_room_is_live_however_long_it_waits() -> None:
    """Every worker busy with a long handler: the loop is waiting, not hung."""
    assert is_live(10_000.0, activity(waiting_for_room=True))


def test_liveness_names_each_queue_and_fails_for_a_missing_or_silent_one() -> None:
    """One line per expected queue; not running or silent makes the report fail."""
    report = liveness(["a", "b", "c"], [activity("a"), activity("b", due_at=0.0)], now=100.0)
    assert not report.ok
    assert report.lines == ("a: polling", "b: poll loop silent for 100 s", "c: not running")
    assert liveness(["a"], [activity("a")], now=100.0).ok


def test_readiness_needs_an_answer_from_the_broker_for_every_queue() -> None:
    """Ready once every expected queue's last receive was answered."""
    assert not readiness(["a", "b"], [activity("a", answered=True)]).ok
    both = [activity("a", answered=True), activity("b", answered=True)]
    assert readiness(["a", "b"], both).text() == "ok\na: ready\nb: ready\n"


@pytest.fixture(name="running")
def fixture_running() -> RunningQueues:
    """Give an empty registry of running queues."""
    return RunningQueues()


@pytest.fixture(name="server")
def fixture_server(running: RunningQueues) -> Iterator[HealthServer]:
    """Give a started endpoint on a free port of 127.0.0.1 expecting queue 'q'."""
    server = HealthServer(["q"], port=0, metrics_text=lambda: "x_total 1\n", running=running)
    yield server.start()
    server.close()


def get(server: HealthServer, path: str) -> tuple[int, str, str]:
    """GET ``path`` over HTTP; return the status, content type and body."""
    url = f"http://127.0.0.1:{server.port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status, answer.headers["Content-Type"], answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode()


def test_the_endpoint_answers_503_until_the_queue_runs_and_200_once_answered(
    server: HealthServer, running: RunningQueues
) -> None:
    """Over HTTP: not running (503 both), then polling and answered (200 both)."""
    assert get(server, "/healthz")[0] == 503
    assert get(server, "/readyz")[0] == 503
    queue = QueueActivity("q", 20)
    running.register(queue)
    assert get(server, "/healthz")[0] == 200
    assert get(server, "/readyz") == (
        503,
        "text/plain; charset=utf-8",
        "unavailable\nq: no answer from the broker yet\n",
    )
    queue.received()
    assert get(server, "/readyz")[0] == 200


def test_the_endpoint_serves_metrics_in_prometheus_format_and_404_elsewhere(
    server: HealthServer,
) -> None:
    """/metrics has Prometheus' content type; an unknown path is a 404 naming the others."""
    assert get(server, "/metrics") == (200, PROMETHEUS_CONTENT_TYPE, "x_total 1\n")
    status, _, body = get(server, "/nope")
    assert status == 404
    assert "/healthz" in body


def test_without_the_sdk_metrics_answer_501(running: RunningQueues) -> None:
    """No renderer (no opentelemetry-sdk): /metrics says what to install."""
    server = HealthServer(["q"], running=running).start()
    try:
        status, _, body = get(server, "/metrics")
    finally:
        server.close()
    assert status == 501
    assert "opentelemetry-sdk" in body


def test_the_endpoint_binds_the_loopback_address_by_default(server: HealthServer) -> None:
    """Bound to 127.0.0.1 unless told otherwise."""
    assert server.address[0] == "127.0.0.1"


def test_a_port_in_use_is_a_configuration_error_naming_it(server: HealthServer) -> None:
    """Binding a port another server holds raises ConfigurationError naming the address."""
    with pytest.raises(ConfigurationError, match=f"127.0.0.1:{server.port}"):
        HealthServer(["q"], port=server.port)


def test_a_connection_that_never_sends_is_closed_by_the_server(server: HealthServer) -> None:
    """A client that connects and stays silent is dropped after the request timeout."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as silent:
        silent.settimeout(REQUEST_TIMEOUT_SECONDS + 10)
        assert silent.recv(1) == b""  # closed by the server, not by our own timeout
    assert get(server, "/metrics")[0] == 200  # and the server still answers


# -- hostile and unusual clients, over raw loopback sockets -------------------------------

#: Fields of an answer's head, by name.
Fields = dict[str, str]


def connect(server: HealthServer) -> socket.socket:
    """Open a connection to the endpoint (10 s timeout on each operation)."""
    return socket.create_connection(("127.0.0.1", server.port), timeout=10)


def read_until_closed(connection: socket.socket) -> bytes:
    """Return everything the server sends until it closes (a reset fails the test)."""
    received = bytearray()
    while chunk := connection.recv(65536):
        received += chunk
    return bytes(received)


def exchange(server: HealthServer, request: bytes) -> bytes:
    """Send ``request`` on a new connection; return all the server sends until it closes."""
    with connect(server) as connection:
        connection.sendall(request)
        return read_until_closed(connection)


def answers(data: bytes, *, head_only: bool = False) -> list[tuple[str, Fields, bytes]]:
    """Split what the server sent into answers: status line, header fields, body."""
    found = []
    while data:
        head, end, data = data.partition(b"\r\n\r\n")
        assert end, f"an answer's head does not end: {head[:200]!r}"
        status_line, *lines = head.decode("latin-1").split("\r\n")
        fields = dict(line.split(": ", 1) for line in lines)
        length = 0 if head_only else int(fields["Content-Length"])
        found.append((status_line, fields, data[:length]))
        data = data[length:]
    return found


def the_answer(data: bytes, *, head_only: bool = False) -> tuple[str, Fields, bytes]:
    """Return the one answer in ``data``, checking it closes the connection explicitly."""
    [(status_line, fields, body)] = answers(data, head_only=head_only)
    assert fields["Connection"] == "close"
    return status_line, fields, body


def retransmissions(connection: socket.socket) -> int:
    """Return how many segments (SYN included) the kernel sent again on ``connection``."""
    info = connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
    return int(struct.unpack_from("I", info, 100)[0])  # struct tcp_info's tcpi_total_retrans


@pytest.mark.skipif(sys.platform != "linux", reason="reads Linux's struct tcp_info")
def test_a_burst_of_200_connections_is_answered_without_one_retransmission(
    server: HealthServer,
) -> None:
    """200 connections opened at once fit the backlog: each is answered, none resent a SYN."""
    burst = [socket.socket() for _ in range(200)]
    selector = selectors.DefaultSelector()
    received: dict[socket.socket, bytearray] = {}
    try:
        for connection in burst:
            connection.setblocking(False)
            connection.connect_ex(("127.0.0.1", server.port))
            selector.register(connection, selectors.EVENT_WRITE)
        deadline = time.monotonic() + 30
        while selector.get_map() and time.monotonic() < deadline:
            for key, events in selector.select(1):
                connection = key.fileobj
                assert isinstance(connection, socket.socket)
                if events & selectors.EVENT_WRITE:
                    connection.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
                    selector.modify(connection, selectors.EVENT_READ)
                elif chunk := connection.recv(65536):
                    received.setdefault(connection, bytearray()).extend(chunk)
                else:
                    selector.unregister(connection)
        statuses = [the_answer(bytes(received.get(c, b"")))[0] for c in burst]
        assert statuses == ["HTTP/1.1 200 OK"] * 200
        assert [retransmissions(c) for c in burst] == [0] * 200
    finally:
        selector.close()
        for connection in burst:
            connection.close()


def test_a_client_trickling_its_request_is_cut_off_by_the_whole_request_deadline(
    server: HealthServer,
) -> None:
    """A byte every 0.5 s keeps every read short, but the head must arrive whole in time: 408."""
    started = time.monotonic()
    with connect(server) as trickler:
        trickler.sendall(b"GET /healthz HTTP/1.1\r\nX-Slow: ")
        cut_off = False
        while not cut_off and time.monotonic() < started + 3 * REQUEST_TIMEOUT_SECONDS:
            # Wait for the answer before each byte: a byte sent after the server closed
            # (a loaded machine may run this thread late) would reset the connection.
            cut_off = bool(select.select([trickler], [], [], 0.5)[0])
            if not cut_off:
                trickler.sendall(b"a")
        answered_after = time.monotonic() - started
        assert cut_off, f"still connected after {answered_after:.1f} s"
        trickler.shutdown(socket.SHUT_WR)
        status_line, _, body = the_answer(read_until_closed(trickler))
    assert status_line == "HTTP/1.1 408 Request Timeout"
    assert f"within {REQUEST_TIMEOUT_SECONDS} s" in body.decode()
    assert REQUEST_TIMEOUT_SECONDS <= answered_after < REQUEST_TIMEOUT_SECONDS + 5


def test_the_deadline_counts_from_the_connection_not_from_an_idle_servers_last_wake(
    server: HealthServer,
) -> None:
    """After the loop waited idle, a silent connection still gets its whole 5 s."""
    time.sleep(1.5)  # the condition under test: the loop blocked this long with nothing open
    connected = time.monotonic()
    with connect(server) as silent:
        select.select([silent], [], [], 3 * REQUEST_TIMEOUT_SECONDS)
        closed_after = time.monotonic() - connected
    assert REQUEST_TIMEOUT_SECONDS - 0.05 <= closed_after < REQUEST_TIMEOUT_SECONDS + 5


def test_pipelined_requests_get_the_first_answer_and_an_explicit_close(
    server: HealthServer,
) -> None:
    """Three requests in one write: one answer saying Connection: close, then a clean end."""
    data = exchange(server, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n" * 3)
    status_line, fields, body = the_answer(data)  # one answer, and Connection: close
    assert (status_line, body) == ("HTTP/1.1 200 OK", b"x_total 1\n")
    assert fields.keys() == {"Date", "Content-Type", "Content-Length", "Connection"}


def test_a_keep_alive_client_is_told_to_close_and_gets_every_answer(
    server: HealthServer,
) -> None:
    """http.client reuses its connection unless told not to; each answer tells it not to."""
    client = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        for _ in range(3):
            client.request("GET", "/metrics")
            response = client.getresponse()
            assert (response.status, response.read()) == (200, b"x_total 1\n")
            assert response.getheader("Connection") == "close"
    finally:
        client.close()


def test_a_client_that_resets_its_connection_is_logged_not_printed(
    server: HealthServer, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    """A client gone mid-request is a DEBUG line of the endpoint's logger, no traceback."""
    caplog.set_level(logging.DEBUG, logger="melange.telemetry.health")
    with connect(server) as rude:
        peer = "{}:{}".format(*rude.getsockname())
        rude.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        rude.sendall(b"GET /healthz HTTP/1.1\r\n\r\n")
    # closed with a linger of 0: a reset, not a FIN

    def went_away() -> list[logging.LogRecord]:
        return [r for r in caplog.records if f"{peer} went away" in r.getMessage()]

    [record] = poll_until(went_away, message=f"a log record of {peer} going away")
    assert (record.name, record.levelno) == ("melange.telemetry.health", logging.DEBUG)
    assert get(server, "/metrics")[0] == 200
    assert "Traceback" not in capfd.readouterr().err


@pytest.mark.parametrize(
    ("request_head", "status_line"),
    [
        (b"garbage\r\n\r\n", "HTTP/1.1 400 Bad Request"),
        (b"GET /healthz\r\n\r\n", "HTTP/1.1 400 Bad Request"),  # HTTP/0.9 is not spoken
        (b"GET  /healthz HTTP/1.1\r\n\r\n", "HTTP/1.1 400 Bad Request"),
        (b"GET healthz HTTP/1.1\r\n\r\n", "HTTP/1.1 400 Bad Request"),
        (b"GET /healthz HTTP/1.1\r\nno colon\r\n\r\n", "HTTP/1.1 400 Bad Request"),
        (b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n", "HTTP/1.1 400 Bad Request"),
        (b"GET /healthz HTTP/2.0\r\n\r\n", "HTTP/1.1 505 HTTP Version Not Supported"),
    ],
)
def test_a_malformed_request_gets_a_status_line_saying_why(
    server: HealthServer, request_head: bytes, status_line: str
) -> None:
    """Garbage, HTTP/0.9, a bad target or field, TLS, HTTP/2: a full HTTP/1.1 answer, then close."""
    answered_line, fields, body = the_answer(exchange(server, request_head))
    assert (answered_line, fields["Content-Type"]) == (status_line, "text/plain; charset=utf-8")
    assert body.startswith((b"malformed", b"this endpoint speaks HTTP/1.1"))


def head_of(size: int) -> bytes:
    """Return a GET /metrics request head of exactly ``size`` bytes (blank line included)."""
    start, end = b"GET /metrics HTTP/1.1\r\nX-Filler: ", b"\r\n\r\n"
    filler = size - len(start) - len(end)
    lines = b"\r\n".join(b"X-More: " + b"a" * 990 for _ in range(filler // 1000))
    return start + lines + b"b" * (filler - len(lines)) + end


@pytest.mark.parametrize(
    ("size", "status_line"),
    [
        (MAX_HEAD_BYTES, "HTTP/1.1 200 OK"),
        (MAX_HEAD_BYTES + 1, "HTTP/1.1 431 Request Header Fields Too Large"),
        (10 * 1024 * 1024, "HTTP/1.1 431 Request Header Fields Too Large"),
    ],
)
def test_a_request_head_over_the_limit_is_answered_431_and_read_to_its_end(
    server: HealthServer, size: int, status_line: str
) -> None:
    """Up to MAX_HEAD_BYTES a head is served; beyond, 431, and the client reads it unharmed."""
    request = head_of(size)
    assert len(request) == size
    with connect(server) as connection:

        def send_all() -> None:
            # the server answers before the head ends and reads on until the client closes
            connection.sendall(request)
            connection.shutdown(socket.SHUT_WR)

        sender = threading.Thread(target=send_all)
        sender.start()
        data = read_until_closed(connection)
        sender.join(timeout=10)
    assert the_answer(data)[0] == status_line
    assert get(server, "/metrics")[0] == 200


def test_methods_other_than_get_and_head_get_405_naming_the_allowed_ones(
    server: HealthServer,
) -> None:
    """POST is refused with Allow: GET, HEAD; HEAD gets GET's head with no body."""
    status_line, fields, _ = the_answer(exchange(server, b"POST /healthz HTTP/1.1\r\n\r\n"))
    assert (status_line, fields["Allow"]) == ("HTTP/1.1 405 Method Not Allowed", "GET, HEAD")
    head = exchange(server, b"HEAD /metrics HTTP/1.1\r\n\r\n")
    status_line, fields, _ = the_answer(head, head_only=True)  # and nothing after the head
    assert (status_line, fields["Content-Length"]) == ("HTTP/1.1 200 OK", "10")
    assert head.endswith(b"\r\n\r\n")


def test_a_renderer_that_raises_is_a_500_and_a_logged_traceback(
    running: RunningQueues, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    """/metrics failing answers 500 pointing at the log, which has the traceback; not stderr."""

    def broken() -> str:
        raise RuntimeError("renderer broke")

    server = HealthServer(["q"], metrics_text=broken, running=running).start()
    try:
        with caplog.at_level(logging.ERROR, logger="melange.telemetry.health"):
            status_line, _, body = the_answer(exchange(server, b"GET /metrics HTTP/1.1\r\n\r\n"))
    finally:
        server.close()
    assert status_line == "HTTP/1.1 500 Internal Server Error"
    assert b"log" in body
    [record] = [r for r in caplog.records if r.name == "melange.telemetry.health"]
    assert record.exc_info is not None
    assert "renderer broke" in str(record.exc_info[1])
    assert "Traceback" not in capfd.readouterr().err


def closed_by_server(connections: list[socket.socket]) -> list[int]:
    """Return the indexes of ``connections`` the server has closed (they read an end)."""
    closed = []
    for index, connection in enumerate(connections):
        connection.setblocking(False)
        try:
            if connection.recv(1) == b"":
                closed.append(index)
        except BlockingIOError:
            pass
    return closed


def test_a_probe_gets_through_a_flood_of_idle_connections_and_a_trickler(
    server: HealthServer,
) -> None:
    """Over MAX_CONNECTIONS idle ones and a trickler: no thread added, the oldest make room."""
    threads = threading.active_count()
    flood_started = time.monotonic()
    idle = [connect(server) for _ in range(MAX_CONNECTIONS + 44)]
    try:
        with connect(server) as trickler:
            trickler.sendall(b"GET /healthz HTTP/1.1\r\nX-Slow: a")
            assert get(server, "/metrics")[0] == 200
            probe_answered = time.monotonic()
            assert threading.active_count() == threads
            # trickler and probe too: 46 beyond the limit, each closing the oldest open one
            evicted = len(idle) + 2 - MAX_CONNECTIONS
            closed = poll_until(
                lambda: closed_by_server(idle),
                lambda closed: len(closed) >= evicted,
                message=f"{evicted} idle connections closed",
            )
    finally:
        for connection in idle:
            connection.close()
    # The oldest, in order (a loaded machine may reach the head deadline of the oldest
    # idle ones too, which closes more of them, still oldest first).
    assert closed == list(range(len(closed)))
    # answered long before an idle connection's deadline could have freed a slot
    assert probe_answered < flood_started + REQUEST_TIMEOUT_SECONDS
