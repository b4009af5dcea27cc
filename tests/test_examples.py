"""The examples run as documented: the quickstart in memory, the seed snippets on moto."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.polling import poll_until
from tests.support.servers import MotoServer

ROOT = Path(__file__).resolve().parent.parent


def run_example(module: str, env: dict[str, str] | None = None) -> str:
    """Run ``python -m module`` from the repository root and return what it printed."""
    return run_example_with_args([module], {**os.environ, **(env or {})})


def test_quickstart_fans_out_and_reads_every_message_back() -> None:
    """The main example delivers 3 messages to billing and the express order to shipping."""
    output = run_example("examples.quickstart")
    assert "billing: 3 messages, shipping: 1 message (express only)" in output
    assert output.count("billing: OrderPlaced") == 2
    assert output.count("billing: RefundRequested") == 1
    assert output.count("shipping: OrderPlaced") == 1


def test_importing_melange_does_not_import_boto3() -> None:
    """Importing melange, its backends module and serializers leaves boto3 unloaded."""
    code = (
        "import sys, melange, melange.backends, melange.serializers;"
        "from melange.backends import InMemoryBackend;"
        "print('boto3' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


@pytest.mark.integration
def test_worker_example_consumes_until_sigterm(moto_server: MotoServer, tmp_path: Path) -> None:
    """The worker example, run with python -m melange consume, handles an order, exits 0."""
    env = {**os.environ, "MELANGE_ENDPOINT_URL": moto_server.endpoint_url}
    output = tmp_path / "worker.out"
    with output.open("w") as sink:
        worker = subprocess.Popen(
            [
                *(sys.executable, "-m", "melange", "consume"),
                *("examples.worker:build_dispatcher", "--queue", "billing"),
            ],
            cwd=ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        poll_until(lambda: "consuming 'billing'" in output.read_text(), message="worker start")
        assert "published order" in run_example_with_args(["examples.worker", "publish"], env)
        poll_until(
            lambda: "billing: OrderPlaced" in output.read_text(), timeout=30, message="handled"
        )
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
    assert "stopped consuming 'billing'" in output.read_text()


def run_example_with_args(args: list[str], env: dict[str, str]) -> str:
    """Run ``python -m args...`` from the repository root and return what it printed."""
    result = subprocess.run(
        [sys.executable, "-m", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout
