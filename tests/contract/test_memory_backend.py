"""The backend contract, run against InMemoryBackend."""

from __future__ import annotations

import pytest

from melange.backends import InMemoryBackend, MessagingBackend
from tests.contract.backend_contract import BackendContract


class TestInMemoryBackend(BackendContract):
    """InMemoryBackend honours the backend contract."""

    def make_backend(self, request: pytest.FixtureRequest) -> MessagingBackend:
        """Build an in-memory backend on the real clock."""
        return InMemoryBackend()
