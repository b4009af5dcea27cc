"""Shared fixtures: a moto SQS/SNS server for the session, unique names per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.support.servers import MotoServer, start_moto_server

# melange_test_graph and melange_binding_specs (which tests/examples overrides).
pytest_plugins = ["bindings.pytest_plugin"]


@pytest.fixture(name="moto_server", scope="session")
def fixture_moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    """Give a real moto SQS/SNS HTTP server on a free loopback port for the whole session."""
    server = start_moto_server(tmp_path_factory.mktemp("moto") / "moto_server.log")
    yield server
    server.stop()


@pytest.fixture(name="unique")
def fixture_unique() -> str:
    """Give a short prefix that makes queue and topic names unique to this test."""
    return f"t{uuid.uuid4().hex[:10]}"
