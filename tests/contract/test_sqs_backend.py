"""The contract suites, run against the SQS/SNS backend talking HTTP to a moto server."""

from __future__ import annotations

import pytest

from melange.backends import LocalSQSBackend, MessagingBackend
from tests.contract.backend_contract import BackendContract
from tests.contract.dispatcher_contract import DispatcherContract
from tests.support.servers import MotoServer


@pytest.mark.integration
class TestSqsBackend(BackendContract, DispatcherContract):
    """LocalSQSBackend against moto_server honours both contracts."""

    def make_backend(self, request: pytest.FixtureRequest) -> MessagingBackend:
        """Build an SQS backend pointed at the session's moto server."""
        server: MotoServer = request.getfixturevalue("moto_server")
        return LocalSQSBackend(host=server.host, port=server.port)
