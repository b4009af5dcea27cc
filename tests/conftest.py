"""Shared fixtures: moto and fauxqs SQS/SNS servers for the session, unique names per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.support.servers import (
    FauxqsServer,
    MotoServer,
    fauxqs_unavailable,
    missing_service,
    start_fauxqs_server,
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


@pytest.fixture(name="unique")
def fixture_unique() -> str:
    """Give a short prefix that makes queue and topic names unique to this test."""
    return f"t{uuid.uuid4().hex[:10]}"
