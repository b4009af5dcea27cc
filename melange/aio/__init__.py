"""melange for asyncio: awaitable publishers, backends and a dispatcher on the sync core.

Wire format, serialization, checks, request shaping and every consume decision are shared
with ``melange``; these modules only await where the sync ones block. ``melange.aio``
never imports boto3 or aiobotocore unless an SQS backend is built.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from melange.backends.aio_protocol import (
    AsyncMessagingAdmin,
    AsyncMessagingBackend,
    AsyncMessagingTransport,
)
from melange.backends.memory.aio import AsyncInMemoryBackend
from melange.consuming.aio_dispatcher import AsyncMessageDispatcher
from melange.publishing._async.publishers import AsyncQueuePublisher, AsyncTopicPublisher

if TYPE_CHECKING:
    from melange.backends.sqs.aio import AsyncAWSBackend, AsyncLocalSQSBackend, AsyncSqsBackend
    from melange.backends.sqs.options import ConnectionLimits, Endpoints, RetryBudget, Timeouts

__all__ = [
    "AsyncAWSBackend",
    "AsyncInMemoryBackend",
    "AsyncLocalSQSBackend",
    "AsyncMessageDispatcher",
    "AsyncMessagingAdmin",
    "AsyncMessagingBackend",
    "AsyncMessagingTransport",
    "AsyncQueuePublisher",
    "AsyncSqsBackend",
    "AsyncTopicPublisher",
    "ConnectionLimits",
    "Endpoints",
    "RetryBudget",
    "Timeouts",
]

#: The SQS backends import aiobotocore, and their option values botocore, so they are
#: loaded on first use. The values are ``melange.backends``' own, for both halves.
_LAZY = {
    "AsyncAWSBackend": "melange.backends.sqs.aio",
    "AsyncLocalSQSBackend": "melange.backends.sqs.aio",
    "AsyncSqsBackend": "melange.backends.sqs.aio",
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
        raise AttributeError(f"module 'melange.aio' has no attribute {name!r}")
