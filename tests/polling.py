"""Re-export of ``tests.support.polling`` for tests not yet moved; the lead removes it."""

from tests.support.polling import poll_until

__all__ = ["poll_until"]
