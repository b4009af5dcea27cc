"""Liveness and readiness as pure functions, and the endpoint serving them over real HTTP."""

from __future__ import annotations

import socket
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
    PROMETHEUS_CONTENT_TYPE,
    REQUEST_TIMEOUT_SECONDS,
    HealthServer,
)


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
