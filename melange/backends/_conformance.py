"""Static proof that every backend implements ``MessagingBackend``; mypy checks, nobody imports.

If a backend's method drifts from the protocol, mypy --strict fails here, before any test.
"""

from __future__ import annotations

from melange.backends.aws import AWSBackend, LocalSQSBackend
from melange.backends.memory import InMemoryBackend
from melange.backends.prefixed import PrefixedBackend
from melange.backends.protocol import MessagingBackend
from melange.backends.sqs import SqsBackend
from melange.testing import RecordingBackend


def _sqs(backend: SqsBackend) -> MessagingBackend:
    return backend


def _aws(backend: AWSBackend) -> MessagingBackend:
    return backend


def _local(backend: LocalSQSBackend) -> MessagingBackend:
    return backend


def _memory(backend: InMemoryBackend) -> MessagingBackend:
    return backend


def _prefixed(backend: PrefixedBackend) -> MessagingBackend:
    return backend


def _recording(backend: RecordingBackend) -> MessagingBackend:
    return backend
