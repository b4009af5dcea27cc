"""Shared fixtures: moto, fauxqs and (opt-in) LocalStack servers for the session, unique names."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.support.blocking import EventLoopThread
from tests.support.servers import (
    FauxqsServer,
    LocalStackServer,
    MotoServer,
    fauxqs_unavailable,
    localstack_opted_in,
    localstack_unavailable,
    missing_service,
    start_fauxqs_server,
    start_localstack_server,
    start_moto_server,
)

# melange_test_graph and melange_binding_specs (which tests/examples overrides).
pytest_plugins = ["bindings.pytest_plugin"]


@pytest.fixture(name="moto_server", scope="session")
def fixture_moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    """Give a real moto SQS/SNS HTTP server on a free loopback port for the whole session."""
    server = start_moto_server(tmp_path_factory.mktemp("moto") / "moto_server.log")
    yield server
    server.stop()


@pytest.fixture(name="fauxqs_server", scope="session")
def fixture_fauxqs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FauxqsServer]:
    """Give a real fauxqs SQS/SNS HTTP server on a free port of 127.0.0.1 for the session.

    Without Node.js or the installed package its tests skip, except under CI, where they fail.
    """
    problem = fauxqs_unavailable()
    if problem is not None:
        missing_service(problem)
    server = start_fauxqs_server(tmp_path_factory.mktemp("fauxqs") / "fauxqs.log")
    yield server
    server.stop()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave out the tests marked ``localstack`` unless ``LOCALSTACK_TESTS=1`` asks.

    Deselected, not skipped: LocalStack is opt-in (``make test-localstack``), not a missing
    service, so a run that did not ask for it, CI's included, reports no skips for it.
    """
    if localstack_opted_in():
        return
    chosen = [item for item in items if item.get_closest_marker("localstack") is None]
    left_out = [item for item in items if item.get_closest_marker("localstack") is not None]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = chosen


@pytest.fixture(name="localstack_server", scope="session")
def fixture_localstack_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[LocalStackServer]:
    """Give a real LocalStack (SQS, SNS, STS) on a free port of 127.0.0.1 for the session.

    Only asked for by opted-in tests; if LocalStack's venv is missing they skip, or fail under CI.
    """
    problem = localstack_unavailable()
    if problem is not None:
        missing_service(problem)
    server = start_localstack_server(tmp_path_factory.mktemp("localstack") / "localstack.log")
    yield server
    server.stop()


@pytest.fixture(name="event_loop_thread")
def fixture_event_loop_thread() -> Iterator[EventLoopThread]:
    """Give an event loop running in a thread of its own, for calling asyncio objects."""
    loop = EventLoopThread()
    yield loop
    loop.close()


@pytest.fixture(name="unique")
def fixture_unique() -> str:
    """Give a short prefix that makes queue and topic names unique to this test."""
    return f"t{uuid.uuid4().hex[:10]}"
