"""Messaging backends: SQS/SNS on boto3 (AWS or a local emulator) and in memory.

Each implements ``MessagingBackend`` (``protocol.py``): the ``MessagingTransport`` that
publishers and the dispatcher use, the ``MessagingAdmin`` that declares from
``melange.topology.specs`` values, and the keyword shortcuts of ``shortcuts.py``.
``backend_from_settings`` builds the one ``MELANGE_BACKEND`` names. The SQS backends take
their options as values (``Timeouts``, ``RetryBudget``, ``Endpoints``,
``ConnectionLimits``). They import boto3 and the values botocore, so both are loaded on
first use: importing melange or the in-memory backend never imports boto3. melange 7's
``InMemoryMessagingBackend`` still resolves, through ``melange.compat``, with a
``DeprecationWarning`` naming ``InMemoryBackend``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from melange.backends.aws import AWSBackend, LocalSQSBackend
    from melange.backends.factory import backend_from_settings
    from melange.backends.memory import InMemoryBackend
    from melange.backends.prefixed import PrefixedBackend
    from melange.backends.protocol import (
        FilterPolicy,
        MessagingAdmin,
        MessagingBackend,
        MessagingTransport,
    )
    from melange.backends.sqs.backend import SqsBackend
    from melange.backends.sqs.options import ConnectionLimits, Endpoints, RetryBudget, Timeouts
    from melange.compat import InMemoryMessagingBackend as InMemoryMessagingBackend  # 7's

__all__ = [
    "AWSBackend",
    "ConnectionLimits",
    "Endpoints",
    "FilterPolicy",
    "InMemoryBackend",
    "LocalSQSBackend",
    "MessagingAdmin",
    "MessagingBackend",
    "MessagingTransport",
    "PrefixedBackend",
    "RetryBudget",
    "SqsBackend",
    "Timeouts",
    "backend_from_settings",
]

#: Every name is loaded on first use: ``import melange.backends.aws`` (or a publisher's
#: protocol import) never loads the in-memory backend, nor the settings.
_LAZY = {
    "AWSBackend": "melange.backends.aws",
    "LocalSQSBackend": "melange.backends.aws",
    "backend_from_settings": "melange.backends.factory",
    "InMemoryBackend": "melange.backends.memory",
    "PrefixedBackend": "melange.backends.prefixed",
    "FilterPolicy": "melange.backends.protocol",
    "MessagingAdmin": "melange.backends.protocol",
    "MessagingBackend": "melange.backends.protocol",
    "MessagingTransport": "melange.backends.protocol",
    "SqsBackend": "melange.backends.sqs.backend",
    "ConnectionLimits": "melange.backends.sqs.options",
    "Endpoints": "melange.backends.sqs.options",
    "RetryBudget": "melange.backends.sqs.options",
    "Timeouts": "melange.backends.sqs.options",
}


# Type checkers see the names above and nothing else: a misspelled name is an error
# for them, not an ``Any`` from ``__getattr__``.
if not TYPE_CHECKING:

    def __getattr__(name: str) -> Any:
        if name in _LAZY:
            return getattr(importlib.import_module(_LAZY[name]), name)
        if name == "InMemoryMessagingBackend":  # melange 7's name
            return importlib.import_module("melange.compat").melange7_name(name)
        raise AttributeError(f"module 'melange.backends' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
