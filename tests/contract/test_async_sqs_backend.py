"""Both contracts, run on ``AsyncLocalSQSBackend`` and the asyncio dispatcher, moto and fauxqs.

The same test bodies and runner as the asyncio in-memory backend's
(``test_async_memory_backend``): ``Blocking`` runs each awaited call on an event loop
thread. Only the backend differs, and for fauxqs the emulator gaps its sync runner lists.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import pytest

from melange.backends.sqs.aio import AsyncLocalSQSBackend
from tests.contract import test_async_memory_backend as async_memory
from tests.contract import test_fauxqs_backend as fauxqs
from tests.contract.backend_contract import BackendContract
from tests.contract.dispatcher_contract import DispatcherContract
from tests.support.blocking import Blocking
from tests.support.servers import FauxqsServer, MotoServer


@pytest.mark.integration
class TestAsyncSqsBackendOnMoto(async_memory.AsyncRunner, BackendContract, DispatcherContract):
    """The asyncio SQS backend, publishers and dispatcher against moto honour both contracts."""

    def make_backend(self, request: pytest.FixtureRequest) -> Any:
        """Build an asyncio SQS backend on the session's moto server, called through a loop."""
        server: MotoServer = request.getfixturevalue("moto_server")
        backend = AsyncLocalSQSBackend(host=server.host, port=server.port)
        return Blocking(backend, request.getfixturevalue("event_loop_thread"))


@pytest.mark.integration
class TestAsyncSqsBackendOnFauxqs(async_memory.AsyncRunner, BackendContract, DispatcherContract):
    """AsyncLocalSQSBackend against fauxqs honours the contract, except where fauxqs is not AWS."""

    gaps: ClassVar[Mapping[str, str]] = fauxqs.TestFauxqsBackend.gaps

    def make_backend(self, request: pytest.FixtureRequest) -> Any:
        """Build an asyncio SQS backend on the session's fauxqs server, called through a loop."""
        server: FauxqsServer = request.getfixturevalue("fauxqs_server")
        backend = AsyncLocalSQSBackend(host=server.host, port=server.port)
        return Blocking(backend, request.getfixturevalue("event_loop_thread"))
