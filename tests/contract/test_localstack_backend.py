"""The contract suites, run against the SQS/SNS backend talking HTTP to LocalStack (opt-in).

LocalStack runs from its own venv (Python 3.13+); ``make test-localstack`` builds it and runs
this module with ``LOCALSTACK_TESTS=1``. Without that variable the LocalStack tests
skip, under CI too.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

import pytest

from melange.backends import LocalSQSBackend, MessagingBackend
from tests.contract.backend_contract import BackendContract
from tests.contract.dispatcher_contract import DispatcherContract
from tests.contract.test_fauxqs_backend import listening_addresses
from tests.support.servers import (
    LocalStackServer,
    localstack_environment,
    localstack_opted_in,
    localstack_unavailable,
)


@pytest.mark.integration
@pytest.mark.localstack
class TestLocalStackBackend(BackendContract, DispatcherContract):
    """LocalSQSBackend against LocalStack honours both contracts, except where it is not AWS."""

    gaps: ClassVar[Mapping[str, str]] = {}

    def make_backend(self, request: pytest.FixtureRequest) -> MessagingBackend:
        """Build an SQS backend pointed at the session's LocalStack (SQS, SNS and STS)."""
        server: LocalStackServer = request.getfixturevalue("localstack_server")
        return LocalSQSBackend(host=server.host, port=server.port)


def test_every_localstack_gap_names_a_contract_test() -> None:
    """Each emulator gap listed for LocalStack is the name of a test its runner runs."""
    tests = {name for name in dir(TestLocalStackBackend) if name.startswith("test_")}
    assert set(TestLocalStackBackend.gaps) <= tests


@pytest.mark.integration
@pytest.mark.localstack
@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads Linux's /proc/net/tcp")
def test_localstack_listens_on_loopback_only(localstack_server: LocalStackServer) -> None:
    """The session's LocalStack accepts connections on 127.0.0.1 alone, not on every interface."""
    assert listening_addresses(localstack_server.port) == {"0100007F"}  # 127.0.0.1, little-endian


def test_localstack_runs_only_when_asked_for() -> None:
    """LocalStack tests run with LOCALSTACK_TESTS=1 alone; CI=true does not ask for them."""
    assert localstack_opted_in({"LOCALSTACK_TESTS": "1"})
    assert not localstack_opted_in({"CI": "true"})
    assert not localstack_opted_in({"LOCALSTACK_TESTS": "0"})


def test_localstack_settings_keep_it_on_loopback_without_state(tmp_path: Path) -> None:
    """LocalStack is told to bind 127.0.0.1 through hypercorn, keep no state and run no DNS."""
    settings = localstack_environment(4566, tmp_path)
    assert settings["GATEWAY_LISTEN"] == "127.0.0.1:4566"
    assert settings["GATEWAY_SERVER"] == "hypercorn"
    assert settings["PERSISTENCE"] == "0"
    assert settings["DNS_ADDRESS"] == "0"
    assert settings["FILESYSTEM_ROOT"] == str(tmp_path)


def test_without_its_venv_localstack_is_unavailable_and_says_why(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """With no LocalStack interpreter, LocalStack is reported unavailable with what to run."""
    monkeypatch.setenv("LOCALSTACK_TESTS_PYTHON", str(tmp_path / "missing" / "python"))
    problem = localstack_unavailable()
    assert problem is not None
    assert "make test-localstack" in problem
