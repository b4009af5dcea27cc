"""The backends page's snippets and the errors it quotes, run as the page shows them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from docs.snippets.backends.options import local_backend, production_backend
from melange import QueuePublisher
from melange.backends import AWSBackend, Timeouts, backend_from_settings
from melange.exceptions import ConfigurationError
from melange.settings import load_settings
from tests.support.messaging import json_registry
from tests.support.servers import MotoServer

REPOSITORY = Path(__file__).resolve().parents[2]


def run_snippet(module: str) -> list[str]:
    """Run ``python -m module`` from the repository root; return its output lines."""
    done = subprocess.run(
        [sys.executable, "-m", module],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_the_in_memory_backend_redelivers_then_dead_letters() -> None:
    """Unacknowledged, the message comes back after 30 s, then moves to the DLQ."""
    assert run_snippet("docs.snippets.backends.in_memory") == [
        "t= 0.0s billing gives [1]",
        "t= 0.0s billing again []",
        "t=30.0s billing gives [2]",
        "t=30.0s billing again []",
        "t=60.0s billing gives []",
        "t=60.0s billing again []",
        'billing-dlq holds {"refund":42}',
    ]


def test_a_prefixed_backend_keeps_the_applications_names() -> None:
    """Names go to the broker prefixed and come back, errors included, as the code wrote them."""
    assert run_snippet("docs.snippets.backends.prefixed") == [
        "the broker holds ['staging-billing']",
        "dead letters go to billing-dlq",
        "QueueNotFoundError: queue 'refunds' (broker name 'staging-refunds') does not exist "
        "on the in-memory backend, which holds only what this process declared; declare it "
        "first with backend.declare_queue('refunds'), or, if it exists on a broker, choose "
        "that broker with MELANGE_ENV=<name> (config/<name>.env) or MELANGE_BACKEND=local or "
        "aws (memory is the default)",
        "broker_name: staging-refunds",
    ]


def test_a_threaded_publisher_feeds_an_asyncio_dispatcher_through_one_store() -> None:
    """What a thread publishes to the InMemoryBackend, the AsyncInMemoryBackend delivers."""
    assert run_snippet("docs.snippets.backends.shared_store") == [
        "welcomed ['user0@example.com', 'user1@example.com', 'user2@example.com']"
    ]


@pytest.mark.integration
def test_the_local_backends_options_reach_its_clients_and_moto(
    moto_server: MotoServer, unique: str
) -> None:
    """local_backend's read timeout and attempts are its clients'; it publishes to moto."""
    backend = local_backend(moto_server.host, moto_server.port)
    try:
        config = backend.sqs_client.meta.config
        assert (config.read_timeout, config.retries["total_max_attempts"]) == (8.0, 3)
        backend.declare_queue(f"{unique}-billing")
        QueuePublisher(json_registry(), backend).publish(f"{unique}-billing", {"refund": 42})
        assert len(backend.receive(f"{unique}-billing", wait_time_seconds=1)) == 1
    finally:
        backend.close()


def test_the_production_backends_options_reach_its_clients() -> None:
    """production_backend signs for eu-west-1 and keeps 100 connections per client."""
    backend = production_backend()
    try:
        meta = backend.sqs_client.meta
        assert (meta.region_name, meta.config.max_pool_connections) == ("eu-west-1", 100)
    finally:
        backend.close()


def test_a_receive_timeout_within_the_long_poll_is_refused_as_the_page_says() -> None:
    """Timeouts(receive_read=20) raises the ConfigurationError the page quotes."""
    with pytest.raises(ConfigurationError) as raised:
        Timeouts(receive_read=20)
    assert str(raised.value) == (
        "Timeouts.receive_read=20 must exceed the 20 s long-poll wait, or long polls would "
        "time out; set Timeouts(receive_read=...) to e.g. 25.0 (the default)"
    )


def test_an_aws_backend_without_a_region_says_where_to_set_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """With no region anywhere, AWSBackend() raises the error the page quotes."""
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    with pytest.raises(ConfigurationError) as raised:
        AWSBackend()
    assert str(raised.value) == (
        "no AWS region is configured; pass region_name=... (or Endpoints(region=...)) or set "
        "AWS_REGION (or AWS_DEFAULT_REGION)"
    )


def test_a_local_backend_without_an_endpoint_names_the_setting() -> None:
    """MELANGE_BACKEND=local without MELANGE_ENDPOINT_URL raises the error the page quotes."""
    with pytest.raises(ConfigurationError) as raised:
        backend_from_settings(load_settings(environ={"MELANGE_BACKEND": "local"}))
    assert str(raised.value) == (
        "melange settings are wrong:\n"
        "  MELANGE_BACKEND='local' needs MELANGE_ENDPOINT_URL (e.g. http://localhost:9324)"
    )
