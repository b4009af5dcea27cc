"""Run LocalStack's runtime in this process until standard input closes.

``start_localstack_server`` in servers.py runs this file with the interpreter of LocalStack's
own venv (``.venv-localstack``, Python 3.13+), never the project's, and keeps its standard
input open as a pipe. When the test session ends, or dies without cleaning up, the pipe
closes and LocalStack is asked to stop (SIGTERM, which its runtime handles); if it has not
stopped within ``SHUTDOWN_GRACE_SECONDS`` the process exits anyway.

Run it with ``python -P``: this directory holds modules (``requests.py``) that would shadow
LocalStack's imports if it came first on ``sys.path``.
"""

from __future__ import annotations

import os
import runpy
import signal
import sys
import threading
import time

SHUTDOWN_GRACE_SECONDS = 5.0


def stop_when_stdin_closes() -> None:
    """Wait for end of input, then ask this process to stop, and force it after a grace."""
    # Raw reads hold no lock of sys.stdin, so the interpreter can still exit while this waits.
    while os.read(sys.stdin.fileno(), 4096):
        pass  # the parent writes nothing; an empty read is end of input: it closed or died
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(SHUTDOWN_GRACE_SECONDS)  # wall-clock grace, not a poll: LocalStack is stopping
    os._exit(1)


if __name__ == "__main__":
    threading.Thread(target=stop_when_stdin_closes, name="stdin-watch", daemon=True).start()
    # By module name, so this file imports nothing of LocalStack in the project's venv.
    runpy.run_module("localstack.runtime.main", run_name="__main__", alter_sys=True)
