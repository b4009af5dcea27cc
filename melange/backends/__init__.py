"""Messaging backends: SQS/SNS on boto3 (AWS or a local emulator) and in memory.

Each implements ``MessagingBackend`` (``protocol.py``): the ``MessagingTransport`` that
publishers and the dispatcher use, the ``MessagingAdmin`` that declares from
``melange.topology.specs`` values, and the keyword shortcuts of ``shortcuts.py``.
``backend_from_settings`` builds the one ``MELANGE_BACKEND`` names. The SQS backends
import boto3, so they are loaded on first use: importing melange or the in-memory
backend never imports boto3. melange 7's ``InMemoryMessagingBackend`` still resolves,
through ``melange.compat``, with a ``DeprecationWarning`` naming ``InMemoryBackend``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from melange.backends.factory import backend_from_settings
from melange.backends.memory.backend import InMemoryBackend
from melange.backends.prefixed import PrefixedBackend
from melange.backends.protocol import (
    FilterPolicy,
    MessagingAdmin,
    MessagingBackend,
    MessagingTransport,
)

if TYPE_CHECKING:
    from melange.backends.aws import AWSBackend, LocalSQSBackend
    from melange.backends.sqs.backend import SqsBackend
    from melange.compat import InMemoryMessagingBackend as InMemoryMessagingBackend  # 7's

__all__ = [
    "AWSBackend",
    "FilterPolicy",
    "InMemoryBackend",
    "LocalSQSBackend",
    "MessagingAdmin",
    "MessagingBackend",
    "MessagingTransport",
    "PrefixedBackend",
    "SqsBackend",
    "backend_from_settings",
]

_LAZY = {
    "AWSBackend": "melange.backends.aws",
    "LocalSQSBackend": "melange.backends.aws",
    "SqsBackend": "melange.backends.sqs.backend",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name == "InMemoryMessagingBackend":  # melange 7's name
        return importlib.import_module("melange.compat").melange7_name(name)
    raise AttributeError(f"module 'melange.backends' has no attribute {name!r}")
