"""Operations on a running system: queue counts, and inspecting, redriving and purging DLQs.

``python -m melange queues`` and ``python -m melange dlq show|redrive|purge``
(``melange.app.ops.commands``). What they report (``reports``) and how a redrive proceeds
(``redrive``) are pure values and functions; the I/O is thin (``actions``), the printing
apart (``output``).
"""
