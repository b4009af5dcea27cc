"""The orders app run as users run it, against the moto server: commands and the one-process flow.

``python -m melange declare examples.orders:graph`` then ``worker`` as subprocesses, with
orders placed through the app's graph from this process; and ``python -m examples.orders``
on moto. Names are prefixed per test.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import boto3
import pytest

from examples.orders import graph
from examples.orders.service import OrderService
from melange.settings import load_settings
from tests.examples.test_orders import assert_flow, run_orders
from tests.support.polling import poll_until
from tests.support.servers import MotoServer

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
TARGET = "examples.orders:graph"


@pytest.fixture(name="environment")
def fixture_environment(moto_server: MotoServer, unique: str) -> dict[str, str]:
    """Give the MELANGE_* variables running the app on moto under a prefix unique to the test."""
    return {
        "MELANGE_BACKEND": "local",
        "MELANGE_ENDPOINT_URL": moto_server.endpoint_url,
        "MELANGE_PREFIX": f"{unique}-",
        "MELANGE_WAIT_TIME_SECONDS": "1",
    }


def process_environment(environment: dict[str, str]) -> dict[str, str]:
    """Return this process's environment without MELANGE_*, plus ``environment``, unbuffered."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("MELANGE_")}
    return {**inherited, **environment, "PYTHONUNBUFFERED": "1"}


def declare(environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run ``python -m melange declare examples.orders:graph`` to completion."""
    return subprocess.run(
        [sys.executable, "-m", "melange", "declare", TARGET],
        cwd=ROOT,
        env=process_environment(environment),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_declare_creates_what_the_consumers_state_and_finds_it_as_is_again(
    environment: dict[str, str],
) -> None:
    """The first declare creates both topics, three queues and two subscriptions; then 'as is'.

    Each is named as the broker knows it: with the test's MELANGE_PREFIX.
    """
    first, second = declare(environment), declare(environment)
    p = environment["MELANGE_PREFIX"]

    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    resources = [
        f"topic '{p}order-events'",
        f"topic '{p}payment-events'",
        f"queue '{p}payments-dlq'",
        f"queue '{p}payments'",
        f"queue '{p}shipping-eu'",
        f"subscription '{p}payments' to '{p}order-events'",
        f"subscription '{p}shipping-eu' to '{p}order-events'",
    ]
    assert first.stdout.splitlines() == [f"created  {r}" for r in resources]
    assert second.stdout.splitlines() == [f"as is    {r}" for r in resources]


def test_the_worker_pays_every_order_ships_eu_ones_and_stops_on_sigterm(
    environment: dict[str, str], tmp_path: Path
) -> None:
    """Orders placed through the graph are paid, the EU one shipped; SIGTERM stops with 0."""
    declared = declare(environment)
    assert declared.returncode == 0, declared.stderr
    service = graph(load_settings(environ=environment)).provide(OrderService)
    eu_order = service.place("alice", Decimal("42.50"), "eu")
    us_order = service.place("bob", Decimal("17.25"), "us")
    stdout_path, stderr_path = tmp_path / "worker.stdout", tmp_path / "worker.stderr"

    with stdout_path.open("wb") as stdout, stderr_path.open("wb") as stderr:
        worker = subprocess.Popen(
            [sys.executable, "-m", "melange", "worker", TARGET],
            cwd=ROOT,
            env=process_environment(environment),
            stdout=stdout,
            stderr=stderr,
        )
    expected = {
        f"payments: charged alice 42.50 for order {eu_order.order_id}",
        f"payments: charged bob 17.25 for order {us_order.order_id}",
        f"shipping: order {eu_order.order_id} leaves the eu warehouse",
    }
    try:
        poll_until(
            lambda: {line.strip() for line in stdout_path.read_text(encoding="utf-8").splitlines()},
            lambda lines: lines >= expected,
            timeout=30,
            message="the worker paying both orders and shipping the EU one",
        )
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0, stderr_path.read_text(encoding="utf-8")
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(timeout=10)

    handled = {line.strip() for line in stdout_path.read_text(encoding="utf-8").splitlines()}
    assert handled == expected  # the US order was never shipped
    log = stderr_path.read_text(encoding="utf-8")
    assert "consuming 'payments'" in log
    assert "consuming 'shipping-eu'" in log


@pytest.mark.parametrize(
    "settings",
    [{"MELANGE_BACKEND": "local"}, {"MELANGE_ENV": "local", "MELANGE_DEDUP": "memory"}],
    ids=["MELANGE_BACKEND=local", "MELANGE_ENV=local"],
)
def test_module_runs_the_same_flow_on_moto(
    moto_server: MotoServer, unique: str, settings: dict[str, str]
) -> None:
    """The unchanged one-process flow runs on the moto server, under the settings' prefix."""
    result = run_orders(
        **settings, MELANGE_ENDPOINT_URL=moto_server.endpoint_url, MELANGE_PREFIX=f"{unique}-"
    )

    assert result.returncode == 0, result.stderr
    assert f"backend local (emulator at {moto_server.endpoint_url}" in result.stdout
    assert_flow(result.stdout)
    sqs = boto3.client(
        "sqs",
        endpoint_url=moto_server.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )
    for queue in ("payments", "payments-dlq", "shipping-eu"):
        assert sqs.get_queue_url(QueueName=f"{unique}-{queue}")["QueueUrl"]
