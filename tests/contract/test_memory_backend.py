"""The backend contract, run against InMemoryBackend."""

from __future__ import annotations

import pytest

from melange.backends import InMemoryBackend, MessagingBackend
from melange.backends.prefixed import PrefixedBackend
from tests.contract.backend_contract import BackendContract
from tests.contract.dispatcher_contract import DispatcherContract


class TestInMemoryBackend(BackendContract):
    """InMemoryBackend honours the backend contract."""

    def make_backend(self, request: pytest.FixtureRequest) -> MessagingBackend:
        """Build an in-memory backend on the real clock."""
        return InMemoryBackend()


class TestDispatcherOnInMemoryBackend(DispatcherContract):
    """The dispatcher's guarantees hold on InMemoryBackend."""

    def make_backend(self, request: pytest.FixtureRequest) -> MessagingBackend:
        """Build an in-memory backend on the real clock."""
        return InMemoryBackend()


class TestPrefixedBackend(BackendContract):
    """PrefixedBackend over InMemoryBackend honours the backend contract."""

    def make_backend(self, request: pytest.FixtureRequest) -> MessagingBackend:
        """Build a prefixed in-memory backend."""
        return PrefixedBackend(InMemoryBackend(), "env-")


class TestDispatcherOnPrefixedBackend(DispatcherContract):
    """The dispatcher's guarantees hold through PrefixedBackend."""

    def make_backend(self, request: pytest.FixtureRequest) -> MessagingBackend:
        """Build a prefixed in-memory backend."""
        return PrefixedBackend(InMemoryBackend(), "env-")
