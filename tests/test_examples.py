"""The examples run as documented: the quickstart in memory, the seed snippets on moto."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import boto3
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
def test_seed_snippets_publish_to_queue_and_topic(moto_server: MotoServer) -> None:
    """The documentation's two snippets run as written and both messages reach the queue."""
    env = {"MELANGE_ENDPOINT_URL": moto_server.endpoint_url}
    assert "Declared queue" in run_example("examples.declare_tutorial", env)
    assert run_example("examples.publish_to_queue", env).strip() == "Message sent successfully!"
    assert run_example("examples.publish_to_topic", env).strip() == "Message sent successfully!"

    sqs = boto3.client(
        "sqs",
        endpoint_url=moto_server.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )
    url = sqs.get_queue_url(QueueName="melangetutorial-queue")["QueueUrl"]
    bodies: list[str] = []

    def receive_more() -> int:
        response = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
        bodies.extend(m["Body"] for m in response.get("Messages", []))
        return len(bodies)

    assert poll_until(receive_more, lambda n: n >= 2, message="both snippet messages") == 2
    direct = next(b for b in bodies if json.loads(b).get("Type") != "Notification")
    via_topic = next(b for b in bodies if json.loads(b).get("Type") == "Notification")
    # The payloads are pickles of __main__.MyTestMessage; read their bytes, never unpickle.
    for content in (json.loads(direct)["Message"], json.loads(via_topic)["Message"]):
        assert b"Hello World!" in base64.b64decode(content)


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
