"""The contract suites, run against the SQS/SNS backend talking HTTP to a fauxqs server."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

import pytest

from melange.backends import LocalSQSBackend, MessagingBackend
from tests.contract.backend_contract import BackendContract
from tests.contract.dispatcher_contract import DispatcherContract
from tests.support.servers import FauxqsServer, fauxqs_unavailable, missing_service


@pytest.mark.integration
class TestFauxqsBackend(BackendContract, DispatcherContract):
    """LocalSQSBackend against fauxqs honours both contracts, except where fauxqs is not AWS."""

    gaps: ClassVar[Mapping[str, str]] = {
        "test_unknown_receipt_handles_are_reported_as_failed": (
            "fauxqs 1.9.2 deletes with a malformed receipt handle successfully (DeleteMessage"
            " and DeleteMessageBatch); AWS answers ReceiptHandleIsInvalid"
        ),
    }

    def make_backend(self, request: pytest.FixtureRequest) -> MessagingBackend:
        """Build an SQS backend pointed at the session's fauxqs server (SQS, SNS and STS)."""
        server: FauxqsServer = request.getfixturevalue("fauxqs_server")
        return LocalSQSBackend(host=server.host, port=server.port)


def test_every_fauxqs_gap_names_a_contract_test() -> None:
    """Each emulator gap listed for fauxqs is the name of a test its runner runs."""
    tests = {name for name in dir(TestFauxqsBackend) if name.startswith("test_")}
    assert set(TestFauxqsBackend.gaps) <= tests


def listening_addresses(port: int) -> set[str]:
    """Return the local addresses (hex, as in ``/proc/net/tcp*``) listening on ``port``."""
    addresses = set()
    tables = [table for table in (Path("/proc/net/tcp"), Path("/proc/net/tcp6")) if table.exists()]
    for table in tables:
        for line in table.read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, _, hex_port = local.partition(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                addresses.add(address)
    return addresses


@pytest.mark.integration
@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads Linux's /proc/net/tcp")
def test_fauxqs_listens_on_loopback_only(fauxqs_server: FauxqsServer) -> None:
    """The session's fauxqs accepts connections on 127.0.0.1 alone, not on every interface."""
    assert listening_addresses(fauxqs_server.port) == {"0100007F"}  # 127.0.0.1, little-endian


def test_without_node_fauxqs_is_unavailable_and_says_why(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """With no ``node`` on PATH, fauxqs is reported unavailable with what to install."""
    monkeypatch.setenv("PATH", str(tmp_path))
    problem = fauxqs_unavailable()
    assert problem is not None
    assert "no `node` on PATH" in problem


def test_a_missing_service_skips_locally_and_fails_under_ci(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A missing service skips its tests with the reason, but fails them when CI=true."""
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no node"):
        missing_service("no node")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="no node; under CI no test may skip"):
        missing_service("no node")
