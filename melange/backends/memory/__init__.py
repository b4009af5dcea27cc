"""The in-memory backend: SQS and SNS semantics in one process, melange's embedded default.

``queue`` holds one queue's state and rules (visibility, receive counts, redrive, FIFO
groups and deduplication); ``backend`` is ``InMemoryBackend``, topics with filter
policies fanning out to those queues; ``aio`` is its asyncio face, which may share the
same store.

May import: ``melange.exceptions``, ``messages``, ``limits``, ``wire``, ``topology`` and
``melange.backends``' protocols and shortcuts.
"""

from __future__ import annotations

from melange.backends.memory.backend import InMemoryBackend

__all__ = ["InMemoryBackend"]
