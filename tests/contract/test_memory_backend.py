"""The contract suites, run against InMemoryBackend and PrefixedBackend over it."""

from __future__ import annotations

import pytest

from melange.backends import InMemoryBackend, MessagingBackend
from melange.backends.prefixed import PrefixedBackend
from tests.contract.backend_contract import BackendContract
from tests.contract.dispatcher_contract import DispatcherContract, DispatcherTimingContract


class TestInMemoryBackend(BackendContract, DispatcherContract, DispatcherTimingContract):
    """InMemoryBackend honours the backend contract and the dispatcher's guarantees.

    The threaded dispatcher's own timing (``DispatcherTimingContract``) is tested here only.
    """

    def make_backend(self, request: pytest.FixtureRequest) -> MessagingBackend:
        """Build an in-memory backend on the real clock."""
        return InMemoryBackend()


class TestPrefixedBackend(BackendContract, DispatcherContract):
    """PrefixedBackend over InMemoryBackend honours both contracts (prefixing changes names)."""

    def make_backend(self, request: pytest.FixtureRequest) -> MessagingBackend:
        """Build a prefixed in-memory backend."""
        return PrefixedBackend(InMemoryBackend(), "env-")
