"""The operations page's session and snippets, run as the page shows them.

The session (``declare``, the worker with ``--http-port``, ``place_orders``, then
``queues`` and ``dlq``) runs the orders example against the session's moto server, as
subprocesses, names prefixed per test; the commands' output names queues as the
application does, so the lines the page shows are checked as they are printed there.
"""

from __future__ import annotations

import ast
import json
import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from melange.backends import backend_from_settings
from melange.backends.inspection import inspection_of
from melange.settings import load_settings
from tests.support.polling import poll_until
from tests.support.servers import MotoServer, free_port

REPOSITORY = Path(__file__).resolve().parents[2]
MELANGE = [sys.executable, "-m", "melange"]
TARGET = "examples.orders:graph"
PEEK_NOTE = [
    "shown without deleting: each message was received and released at once,",
    "which SQS counts in its ApproximateReceiveCount",
]


@pytest.fixture(name="environment")
def fixture_environment(moto_server: MotoServer, unique: str) -> dict[str, str]:
    """Give the page's MELANGE_* variables on moto, with a prefix and short polls for the test."""
    return {
        "MELANGE_BACKEND": "local",
        "MELANGE_ENDPOINT_URL": moto_server.endpoint_url,
        "MELANGE_MAX_RECEIVE_COUNT": "2",
        "MELANGE_PREFIX": f"{unique}-",
        "MELANGE_WAIT_TIME_SECONDS": "1",
    }


def command_environment(environment: dict[str, str]) -> dict[str, str]:
    """Return this process's environment without MELANGE_*, with ``environment`` on top."""
    kept = {k: v for k, v in os.environ.items() if not k.startswith("MELANGE_")}
    return {**kept, "PYTHONUNBUFFERED": "1", **environment}


def run(environment: dict[str, str], *command: str) -> subprocess.CompletedProcess[str]:
    """Run ``command`` from the repository root to completion."""
    return subprocess.run(
        command,
        cwd=REPOSITORY,
        env=command_environment(environment),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def get(port: int, path: str) -> tuple[int, str]:
    """GET ``path`` on 127.0.0.1:``port``; return the status and body (0: no answer)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return 0, ""


@contextmanager
def worker(
    environment: dict[str, str], target: str, out: Path, *args: str
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``python -m melange worker target args``; SIGTERM it after, expecting exit 0."""
    with out.open("wb") as stdout:
        process = subprocess.Popen(
            [*MELANGE, "worker", target, *args],
            cwd=REPOSITORY,
            env=command_environment(environment),
            stdout=stdout,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0, out.read_text(encoding="utf-8")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def dead_letter_depth(environment: dict[str, str]) -> int:
    """Return how many messages wait on the orders example's ``payments-dlq``."""
    backend = backend_from_settings(load_settings(environ=environment))
    try:
        return inspection_of(backend).queue_stats("payments-dlq").depth
    finally:
        backend.close()


def test_the_operations_session_prints_what_the_page_shows(
    environment: dict[str, str], tmp_path: Path
) -> None:
    """An order over the card limit is dead-lettered; health, queues and dlq report it."""
    assert run(environment, *MELANGE, "declare", TARGET).returncode == 0
    port = free_port()
    log = tmp_path / "worker.log"
    with worker(environment, TARGET, log, "--http-port", str(port)):
        poll_until(lambda: get(port, "/readyz")[0], lambda s: s == 200, message="ready")
        placed = run(environment, sys.executable, "-m", "docs.snippets.operations.place_orders")
        assert placed.returncode == 0, placed.stderr
        assert len(placed.stdout.splitlines()) == 3
        poll_until(lambda: dead_letter_depth(environment), lambda d: d == 1, timeout=30)

        assert get(port, "/healthz") == (200, "ok\npayments: polling\nshipping-eu: polling\n")
        assert get(port, "/readyz") == (200, "ok\npayments: ready\nshipping-eu: ready\n")
        status, metrics = get(port, "/metrics")
    assert status == 200
    assert (
        'melange_messages_dead_lettered_total{melange_reason="handler_failed",'
        'messaging_destination_name="payments",messaging_system="aws_sqs"} 1'
    ) in metrics.splitlines()
    assert (
        "is dead-lettered (PaymentDeclinedError: 2500 is over the card limit 1000); "
        "moving it to 'payments-dlq'"
    ) in log.read_text(encoding="utf-8")

    queues = run(environment, *MELANGE, "queues", TARGET)
    assert queues.returncode == 0, queues.stderr
    assert queues.stdout.splitlines()[:3] == [
        "queue        depth  in flight  delayed  oldest   dead-letter queue  dlq depth",
        "payments         0          0        0  unknown  payments-dlq               1",
        "shipping-eu      0          0        0  unknown  -                  -",
    ]

    shown = run(environment, *MELANGE, "dlq", "show", "payments")
    lines = shown.stdout.splitlines()
    assert shown.returncode == 0, shown.stderr
    assert lines[0] == "'payments-dlq', dead-letter queue of 'payments': 1 message, 1 shown"
    assert re.fullmatch(r"1\. message_id [0-9a-f-]{36}  receives 1", lines[1])
    assert lines[2] == "   type: examples.orders.messages:OrderPlaced"
    assert lines[3].startswith("   first seen: ")
    assert lines[4] == "   reason: PaymentDeclinedError: 2500 is over the card limit 1000"
    assert lines[5:] == PEEK_NOTE
    with_body = run(environment, *MELANGE, "dlq", "show", "payments", "--body").stdout
    assert '   body: {"order_id":' in with_body
    assert with_body.splitlines()[5].endswith("… (97 characters)")
    misspelt = run(environment, *MELANGE, "dlq", "show", "payment")
    assert misspelt.returncode == 1
    assert "does not exist; did you mean 'payments'? `python -m melange" in misspelt.stderr

    dry = run(environment, *MELANGE, "dlq", "redrive", "payments", "--dry-run")
    assert (dry.returncode, dry.stdout) == (
        0,
        "dry run: would move 1 message from 'payments-dlq' to 'payments' with "
        "StartMessageMoveTask (or by receive/send/delete where the broker refuses); "
        "nothing moved\n",
    )

    unconfirmed = run(environment, *MELANGE, "dlq", "purge", "payments")
    assert (unconfirmed.returncode, unconfirmed.stderr) == (
        2,
        "melange: purging 'payments-dlq' deletes its 1 message for good; add --yes to do it\n",
    )

    moved = run(environment, *MELANGE, "dlq", "redrive", "payments")
    assert (moved.returncode, moved.stdout.splitlines()) == (
        0,
        [
            "moved 1 of 1 (copy)",
            "moved 1 of 1 message from 'payments-dlq' to 'payments' by receive/send/delete; "
            "0 left on 'payments-dlq'",
        ],
    )
    after = run(environment, *MELANGE, "queues", TARGET, "--json")
    rows = {row["queue"]: row for row in json.loads(after.stdout)["queues"]}
    assert (rows["payments"]["depth"], rows["payments"]["dead_letter_depth"]) == (1, 0)


def test_a_worker_whose_graph_sets_up_the_sdk_exports_its_spans(
    environment: dict[str, str], tmp_path: Path
) -> None:
    """traced_orders:graph sets a TracerProvider; the CLI worker's spans reach its exporter."""
    target = "docs.snippets.operations.traced_orders:graph"
    assert run(environment, *MELANGE, "declare", target).returncode == 0
    out = tmp_path / "worker.out"
    with worker(environment, target, out):
        placed = run(environment, sys.executable, "-m", "docs.snippets.operations.place_orders")
        assert placed.returncode == 0, placed.stderr
        poll_until(
            lambda: out.read_text(encoding="utf-8"),
            lambda text: "payments: charged bob" in text,
            timeout=30,
            message="bob's order paid",
        )
    printed = out.read_text(encoding="utf-8")  # the batch is flushed as the worker exits
    for span in ("receive payments", "process payments", "publish payment-events"):
        assert f'"name": "{span}"' in printed
    assert '"service.name": "orders-worker"' in printed


def test_melange_leaves_the_sdk_to_the_application() -> None:
    """No module of melange sets OpenTelemetry's global tracer or meter provider."""
    setters = {"set_tracer_provider", "set_meter_provider"}
    calls = [
        f"{path.relative_to(REPOSITORY)}:{node.lineno}"
        for path in sorted((REPOSITORY / "melange").rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Call)
        and getattr(node.func, "attr", getattr(node.func, "id", None)) in setters
    ]

    assert calls == []


def test_one_orders_trace_runs_from_the_caller_through_both_queues() -> None:
    """trace_an_order prints one trace: place, publish, both process spans, the payment event."""
    done = run({}, sys.executable, "-m", "docs.snippets.operations.trace_an_order")

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("trace "))
    assert lines[start + 1 :] == [
        "OrderService.place [INTERNAL]",
        "  publish order-events [PRODUCER] messaging.system=aws_sns",
        "    process payments [CONSUMER] messaging.system=aws_sqs melange.outcome=ack",
        "      publish payment-events [PRODUCER] messaging.system=aws_sns",
        "    process shipping-eu [CONSUMER] messaging.system=aws_sqs melange.outcome=ack",
        "receive payments [CONSUMER] (own trace) links to 1 of this trace",
        "receive shipping-eu [CONSUMER] (own trace) links to 1 of this trace",
    ]


def test_json_logs_carry_the_fields_of_the_message() -> None:
    """Each line about the failing message is JSON with its queue, ids and receive count."""
    done = run({}, sys.executable, "-m", "docs.snippets.operations.json_logs")

    assert done.returncode == 0, done.stdout
    records = [json.loads(line) for line in done.stderr.splitlines()]
    assert [(r["level"], r["receive_count"]) for r in records] == [
        ("WARNING", 1),
        ("WARNING", 2),
        ("ERROR", 2),
    ]
    assert {r["queue"] for r in records} == {"payments"}
    assert len({r["message_id"] for r in records}) == 1
    assert records[-1]["reason"] == "ValueError: order 42 cannot be paid"
    assert records[-1]["dead_letter_queue"] == "payments-dlq"
    assert "reason" not in records[0]
