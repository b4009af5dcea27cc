"""Static proof that every backend implements the protocols; mypy checks, nobody imports.

If a backend's method drifts from ``MessagingBackend`` (the transport, the
administration and the shortcuts), mypy --strict fails here, before any test.
"""

from __future__ import annotations

from melange.backends.aws import AWSBackend, LocalSQSBackend
from melange.backends.inspection import QueueInspection, SubscriptionInspection
from melange.backends.memory.backend import InMemoryBackend
from melange.backends.prefixed import PrefixedBackend
from melange.backends.protocol import MessagingAdmin, MessagingBackend, MessagingTransport
from melange.backends.sqs.backend import SqsBackend
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


def _transport(backend: MessagingBackend) -> MessagingTransport:
    return backend


def _admin(backend: MessagingBackend) -> MessagingAdmin:
    return backend


def _inspect_sqs(backend: SqsBackend) -> QueueInspection:
    return backend


def _inspect_memory(backend: InMemoryBackend) -> QueueInspection:
    return backend


def _inspect_prefixed(backend: PrefixedBackend) -> QueueInspection:
    return backend


def _subscriptions_sqs(backend: SqsBackend) -> SubscriptionInspection:
    return backend


def _subscriptions_memory(backend: InMemoryBackend) -> SubscriptionInspection:
    return backend
