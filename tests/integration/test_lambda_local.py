"""``python -m melange lambda-local`` on moto, in a subprocess, as a developer runs it.

The function module is ``tests/integration/lambda_function.py`` (``handler =
sqs_handler(graph)``); the test declares its queues with ``python -m melange declare``,
fills them through the application's own graph (or raw SQS for a poison message), runs
the command and checks what it printed and what is left on the queues.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from melange import QueuePublisher
from melange.backends import backend_from_settings
from melange.backends.prefixed import PrefixedBackend
from melange.consuming.dead_letters import dead_letter_reason
from melange.settings import load_settings
from melange_bindings import MelangeBindingSpec, new_object_graph
from tests.support.polling import poll_until
from tests.support.servers import MotoServer

pytestmark = pytest.mark.integration

REPOSITORY = Path(__file__).resolve().parents[2]
MELANGE = [sys.executable, "-m", "melange"]
FUNCTION = "tests.integration.lambda_function:handler"
GRAPH = "tests.integration.lambda_function:graph"
NOTIFICATIONS = "tests.integration.lambda_function:notifications"
MISSING = "tests.integration.lambda_function:nothing"


@pytest.fixture(name="environment")
def fixture_environment(moto_server: MotoServer, unique: str) -> dict[str, str]:
    """Give MELANGE_* on moto under this test's prefix: 1 s backoff, no jitter, short polls."""
    return {
        "MELANGE_BACKEND": "local",
        "MELANGE_ENDPOINT_URL": moto_server.endpoint_url,
        "MELANGE_PREFIX": f"{unique}-",
        "MELANGE_BACKOFF_BASE": "1",
        "MELANGE_BACKOFF_JITTER": "0",
        "MELANGE_WAIT_TIME_SECONDS": "1",
    }


def run(environment: dict[str, str], *command: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m melange command`` from the repository root to completion."""
    kept = {k: v for k, v in os.environ.items() if not k.startswith("MELANGE_")}
    return subprocess.run(
        [*MELANGE, *command],
        cwd=REPOSITORY,
        env={**kept, "PYTHONUNBUFFERED": "1", **environment},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(name="backend")
def fixture_backend(environment: dict[str, str]) -> Iterator[PrefixedBackend]:
    """Give the application's queues declared (by the command), and a backend on them."""
    declared = run(environment, "declare", GRAPH)
    assert declared.returncode == 0, declared.stderr
    backend = backend_from_settings(load_settings(environ=environment))
    assert isinstance(backend, PrefixedBackend)
    yield backend
    backend.close()


def publisher(environment: dict[str, str]) -> QueuePublisher:
    """Return a publisher with the test's settings."""
    graph = new_object_graph(melange=MelangeBindingSpec(environ=environment))
    return graph.provide(QueuePublisher)


def counts(backend: PrefixedBackend, queue: str) -> tuple[int, int]:
    """Return (visible, in flight) of ``queue``."""
    stats = backend.backend.queue_stats(backend.prefix + queue)  # type: ignore[attr-defined]
    return stats.depth, stats.in_flight


def test_once_reports_the_failure_dead_letters_the_poison_and_retries_the_failure(
    environment: dict[str, str], backend: PrefixedBackend
) -> None:
    """Batch 1: 3 received, 1 failed, 1 dead-lettered; after the backoff, the failure succeeds."""
    orders = publisher(environment)
    orders.publish("orders", {"n": 1})
    orders.publish("orders", {"n": 2})  # fails its first receive
    backend.send_raw("orders", "not json {", {})  # the poison

    first = run(environment, "lambda-local", FUNCTION, "--queue", "orders", "--once")

    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == [
        "batch 1 of 'orders': received 3, failed 1, dead-lettered 1"
    ]
    assert counts(backend, "orders") == (0, 1)  # the failed one, hidden for the backoff
    [dead] = backend.receive("orders-dlq", wait_time_seconds=1)
    assert dead.body == "not json {"
    reason = dead_letter_reason(dead.attributes)
    assert reason is not None and reason.startswith("DeserializationError: ")
    assert "is dead-lettered (DeserializationError" in first.stderr

    second = run(environment, "lambda-local", FUNCTION, "--queue", "orders", "--once")

    assert second.returncode == 0, second.stderr
    assert second.stdout.splitlines() == [
        "batch 1 of 'orders': received 1, failed 0, dead-lettered 0"
    ]
    assert counts(backend, "orders") == (0, 0)  # deleted, as the mapping deletes


def test_the_loop_handles_batches_until_sigterm(
    environment: dict[str, str], backend: PrefixedBackend, tmp_path: Path
) -> None:
    """Without --once: the retried order comes back as a batch of its own; SIGTERM exits 0."""
    orders = publisher(environment)
    orders.publish("orders", {"n": 2})
    orders.publish("orders", {"n": 3})
    out = tmp_path / "stdout"
    kept = {k: v for k, v in os.environ.items() if not k.startswith("MELANGE_")}
    with out.open("w") as stdout:
        process = subprocess.Popen(
            [*MELANGE, "lambda-local", FUNCTION, "--queue", "orders", "--batch-size", "2"],
            cwd=REPOSITORY,
            env={**kept, "PYTHONUNBUFFERED": "1", **environment},
            stdout=stdout,
            stderr=subprocess.DEVNULL,
        )
    try:
        lines = poll_until(
            lambda: out.read_text().splitlines(),
            lambda shown: len(shown) >= 2,
            timeout=30,
            message="two batches",
        )
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)

    assert lines[:2] == [
        "batch 1 of 'orders': received 2, failed 1, dead-lettered 1",
        "batch 2 of 'orders': received 1, failed 0, dead-lettered 0",
    ]
    assert counts(backend, "orders") == (0, 0)


def test_an_invocation_beyond_the_visibility_timeout_deletes_nothing(
    environment: dict[str, str], backend: PrefixedBackend
) -> None:
    """The handler outlasts the queue's 1 s visibility timeout: as on Lambda, nothing deleted."""
    publisher(environment).publish("slow", {"n": 1})

    ran = run(environment, "lambda-local", FUNCTION, "--queue", "slow", "--once")

    assert ran.returncode == 1
    [line] = ran.stdout.splitlines()
    assert line.startswith("batch 1 of 'slow': received 1, failed 1 (timed out after 1.")
    assert "more than the queue's visibility timeout (1 s)" in ran.stderr
    assert sum(counts(backend, "slow")) == 1  # still there, to come back


@pytest.mark.parametrize(
    ("command", "code", "said"),
    [
        (["lambda-local", FUNCTION, "--queue", "nope"], 1, "'nope' are not the application's"),
        (["lambda-local", FUNCTION, "--queue", "orders", "--batch-size", "0"], 1, "1 to 10000"),
        (
            [
                "lambda-local",
                "tests.integration.lambda_function:notifications",
                "--queue",
                "orders",
            ],
            1,
            "the handler is an sns_handler",
        ),
        (
            ["lambda-local", "tests.integration.lambda_function:nothing", "--queue", "orders"],
            2,
            "no attribute 'nothing'",
        ),
    ],
    ids=["unknown-queue", "batch-size", "sns-handler", "no-target"],
)
def test_what_cannot_run_is_refused_with_what_to_do(
    environment: dict[str, str], command: list[str], code: int, said: str
) -> None:
    """A wrong queue, batch size, handler kind or target: one line saying what, no traceback."""
    ran = run(environment, *command)

    assert ran.returncode == code, ran.stderr
    assert said in ran.stderr
    assert "Traceback" not in ran.stderr


def test_an_undeclared_queue_names_the_declare_command(environment: dict[str, str]) -> None:
    """Before declare: exit 1 naming `python -m melange declare MODULE:GRAPH`."""
    ran = run(environment, "lambda-local", FUNCTION, "--queue", "orders", "--once")

    assert ran.returncode == 1, ran.stderr
    assert "python -m melange declare MODULE:GRAPH" in ran.stderr
    assert "Traceback" not in ran.stderr


def test_the_in_memory_backend_is_refused(environment: dict[str, str]) -> None:
    """MELANGE_BACKEND=memory: no queue another process fills; the message says what to set."""
    ran = run({"MELANGE_BACKEND": "memory"}, "lambda-local", FUNCTION, "--queue", "orders")

    assert ran.returncode == 1, ran.stderr
    assert "lambda-local polls a real queue" in ran.stderr
    assert "MELANGE_ENDPOINT_URL" in ran.stderr
