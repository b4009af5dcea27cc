"""Operations on a running system: queue counts, and inspecting, redriving and purging DLQs.

``python -m melange queues`` and ``python -m melange dlq show|redrive|purge``
(``melange.app.ops.commands``); the decisions are pure (``decisions``), the I/O thin
(``actions``), the printing apart (``output``).
"""
