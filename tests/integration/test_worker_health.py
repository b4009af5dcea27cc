"""``python -m melange worker --http-port``: health and metrics over real HTTP, both worker kinds.

The orders example (sync consumers: the threaded worker) and the FastAPI example (async
consumers: the asyncio worker) run as subprocesses against the moto server, names
prefixed per test; the test reads /readyz, /healthz and /metrics as a probe would.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import pytest

from examples.orders.app import graph as orders_graph
from examples.orders.service import OrderService
from melange.settings import load_settings
from tests.support.polling import poll_until
from tests.support.servers import MotoServer, free_port

pytestmark = pytest.mark.integration

REPOSITORY = Path(__file__).resolve().parents[2]


@pytest.fixture(name="environment")
def fixture_environment(moto_server: MotoServer, unique: str) -> dict[str, str]:
    """Give the MELANGE_* variables running an example on moto under a unique prefix."""
    return {
        "MELANGE_BACKEND": "local",
        "MELANGE_ENDPOINT_URL": moto_server.endpoint_url,
        "MELANGE_PREFIX": f"{unique}-",
        "MELANGE_WAIT_TIME_SECONDS": "1",
    }


def command_environment(environment: dict[str, str]) -> dict[str, str]:
    """Return this process's environment without MELANGE_*, with ``environment`` on top."""
    kept = {k: v for k, v in os.environ.items() if not k.startswith("MELANGE_")}
    return {**kept, "PYTHONUNBUFFERED": "1", **environment}


def get(port: int, path: str) -> tuple[int, str]:
    """GET ``path`` on 127.0.0.1:``port``; return the status and body (0: no answer)."""
    try:
        url = f"http://127.0.0.1:{port}{path}"
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return 0, ""


@contextmanager
def worker(target: str, environment: dict[str, str], log: Path, port: int) -> Iterator[None]:
    """Declare ``target``'s topology, run its worker with ``--http-port``; SIGTERM it after."""
    command = [sys.executable, "-m", "melange"]
    env = command_environment(environment)
    declared = subprocess.run(
        [*command, "declare", target], cwd=REPOSITORY, env=env, capture_output=True, check=False
    )
    assert declared.returncode == 0, declared.stderr
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [*command, "worker", target, "--http-port", str(port)],
            cwd=REPOSITORY,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        yield
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0, log.read_text(encoding="utf-8")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def test_the_threaded_worker_serves_health_and_the_metrics_of_what_it_handled(
    environment: dict[str, str], tmp_path: Path
) -> None:
    """The orders worker is ready and alive, and /metrics counts the order it handled."""
    port = free_port()
    with worker("examples.orders.app:graph", environment, tmp_path / "worker.log", port):
        _, body = poll_until(lambda: get(port, "/readyz"), lambda a: a[0] == 200, message="ready")
        assert body == "ok\npayments: ready\nshipping-eu: ready\n"  # the application's names
        assert get(port, "/healthz")[0] == 200
        service = orders_graph(load_settings(environ=environment)).provide(OrderService)
        service.place("alice", Decimal("42.50"), "eu")
        handled = 'melange_messages_handled_total{messaging_destination_name="payments"'
        _, metrics = poll_until(
            lambda: get(port, "/metrics"), lambda a: handled in a[1], message="handled counted"
        )
    assert "# TYPE messaging_process_duration_seconds histogram" in metrics
    assert 'melange_messages_in_flight{messaging_destination_name="payments"' in metrics


def test_the_asyncio_worker_serves_the_same_endpoint(
    environment: dict[str, str], tmp_path: Path
) -> None:
    """The FastAPI example's async consumers run on the asyncio worker, with the same endpoint."""
    port = free_port()
    with worker("examples.fastapi_app:graph", environment, tmp_path / "worker.log", port):
        _, body = poll_until(lambda: get(port, "/readyz"), lambda a: a[0] == 200, message="ready")
        assert body == "ok\nfastapi-fulfilment: ready\n"
        assert get(port, "/healthz") == (200, "ok\nfastapi-fulfilment: polling\n")
        status, metrics = get(port, "/metrics")
    assert status == 200
    assert 'melange_messages_in_flight{messaging_destination_name="fastapi-fulfilment"' in metrics
