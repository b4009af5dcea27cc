"""Re-export of ``tests.support.faults`` for tests not yet moved; the lead removes it."""

from tests.support.faults import build_refusing_dispatcher

__all__ = ["build_refusing_dispatcher"]
