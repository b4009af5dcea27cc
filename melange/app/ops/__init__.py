"""Operations on a running system: queue counts, DLQs, and what ``declare`` leaves behind.

``python -m melange queues`` and ``python -m melange dlq show|redrive|purge``
(``melange.app.ops.commands``). What they report (``reports``) and how a redrive proceeds
(``redrive``) are pure values and functions; the I/O is thin (``actions``), the printing
apart (``output``). ``leftovers`` finds and prunes the queues and subscriptions an
application no longer states, for ``python -m melange declare``.
"""
