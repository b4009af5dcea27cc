"""Re-export of ``tests.support.servers`` for tests not yet moved; the lead removes it."""

from tests.support.servers import MotoServer, free_port, start_moto_server

__all__ = ["MotoServer", "free_port", "start_moto_server"]
