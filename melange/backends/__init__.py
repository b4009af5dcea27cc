"""Messaging backends: SQS/SNS on boto3 (AWS or a local emulator) and in memory.

The SQS backends import boto3, so they are loaded on first use: importing melange or the
in-memory backend never imports boto3.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from melange.backends.memory import InMemoryBackend, InMemoryMessagingBackend
from melange.backends.protocol import FilterPolicy, MessagingBackend

if TYPE_CHECKING:
    from melange.backends.sqs import AWSBackend, LocalSQSBackend, SqsBackend

__all__ = [
    "AWSBackend",
    "FilterPolicy",
    "InMemoryBackend",
    "InMemoryMessagingBackend",
    "LocalSQSBackend",
    "MessagingBackend",
    "SqsBackend",
]

_LAZY = frozenset({"AWSBackend", "LocalSQSBackend", "SqsBackend"})


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from melange.backends import sqs

        return getattr(sqs, name)
    raise AttributeError(f"module 'melange.backends' has no attribute {name!r}")
