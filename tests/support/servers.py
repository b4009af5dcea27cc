"""Real servers for the tests and benchmarks: moto and fauxqs SQS/SNS, Redis, on loopback ports."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import NoReturn

import attrs


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


#: Where ``npm ci`` (``make node-deps``) installs fauxqs, beside its launcher and lock file.
NODE_SERVERS_DIR = Path(__file__).parent
FAUXQS_LAUNCHER = NODE_SERVERS_DIR / "fauxqs_server.mjs"


@attrs.frozen
class ServerProcess:
    """A running emulator process (moto or fauxqs) on a loopback port, and its endpoint."""

    process: subprocess.Popen[bytes]
    host: str
    port: int

    @property
    def endpoint_url(self) -> str:
        """The HTTP endpoint serving both SQS and SNS."""
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        """Terminate the server and wait for it to exit."""
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        if self.process.stdin is not None:  # fauxqs's launcher watches it
            self.process.stdin.close()


#: The moto server of the session; moto serves SQS, SNS and STS on one port.
MotoServer = ServerProcess
#: The fauxqs server of the session; fauxqs serves SQS, SNS and STS on one port.
FauxqsServer = ServerProcess


def start_moto_server(log_path: Path, *, timeout: float = 30.0) -> MotoServer:
    """Start ``moto_server`` on a free loopback port and wait until it answers HTTP."""
    port = free_port()
    moto_server = Path(sys.executable).with_name("moto_server")
    command = [str(moto_server)] if moto_server.exists() else [sys.executable, "-m", "moto.server"]
    log = log_path.open("wb")
    process = subprocess.Popen(
        [*command, "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    server = MotoServer(process=process, host="127.0.0.1", port=port)
    return wait_until_answering(
        server, "/moto-api/", name="moto_server", log_path=log_path, timeout=timeout
    )


def fauxqs_unavailable() -> str | None:
    """Return ``None`` if fauxqs can be started here, else why not and what to do."""
    if shutil.which("node") is None:
        return (
            "fauxqs needs Node.js 20+, and there is no `node` on PATH: install it, "
            "then run `make node-deps`"
        )
    if not (NODE_SERVERS_DIR / "node_modules" / "fauxqs" / "package.json").is_file():
        return f"fauxqs is not installed in {NODE_SERVERS_DIR}/node_modules; run `make node-deps`"
    return None


def start_fauxqs_server(log_path: Path, *, timeout: float = 30.0) -> FauxqsServer:
    """Start fauxqs on a free port of 127.0.0.1 only and wait until it answers HTTP.

    fauxqs's own command line binds every interface, so a small launcher starts it through
    its programmatic API; the launcher exits when its standard input closes, so it never
    outlives this process. Check ``fauxqs_unavailable()`` first.
    """
    port = free_port()
    log = log_path.open("wb")
    process = subprocess.Popen(
        [shutil.which("node") or "node", str(FAUXQS_LAUNCHER), str(port)],
        stdin=subprocess.PIPE,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=NODE_SERVERS_DIR,
    )
    server = FauxqsServer(process=process, host="127.0.0.1", port=port)
    return wait_until_answering(
        server, "/health", name="fauxqs", log_path=log_path, timeout=timeout
    )


def wait_until_answering(
    server: ServerProcess, path: str, *, name: str, log_path: Path, timeout: float
) -> ServerProcess:
    """Poll ``path`` on ``server`` until it answers HTTP; stop it and raise at the deadline.

    Raises:
        RuntimeError: the process exited, or did not answer within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{name} exited with {server.process.returncode}; see {log_path}")
        try:
            # The URL is built from our own loopback host and port, never from input.
            with urllib.request.urlopen(f"{server.endpoint_url}{path}", timeout=1):  # noqa: S310
                return server
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.05)  # poll interval while the server boots
    server.stop()
    raise RuntimeError(f"{name} did not answer within {timeout} s; see {log_path}")


def missing_service(reason: str) -> NoReturn:
    """Skip the test for a service this machine lacks, but fail it under CI (``CI=true``)."""
    import pytest  # here, so the benchmarks can use this module without pytest

    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; under CI no test may skip for a missing service", pytrace=False)
    pytest.skip(reason)


def redis_answers(url: str) -> str | None:
    """Return ``None`` if Redis at ``url`` answers PING, else why not."""
    import redis

    client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.exceptions.RedisError as exc:
        return str(exc)
    finally:
        client.close()
    return None


def redis_server_command(port: int) -> list[str]:
    """Return the ``redis-server`` command this project documents: loopback only, no persistence."""
    return [
        "redis-server",
        "--bind", "127.0.0.1",
        "--port", str(port),
        "--save", "",
        "--appendonly", "no",
    ]  # fmt: skip


def wait_for_redis(url: str, *, timeout: float = 10.0) -> str | None:
    """Poll until Redis at ``url`` answers; return ``None`` then, else why not at the deadline."""
    deadline = time.monotonic() + timeout
    while (problem := redis_answers(url)) is not None and time.monotonic() < deadline:
        time.sleep(0.05)  # poll interval while the server starts
    return problem


def start_local_redis(url: str, *, timeout: float = 10.0) -> str | None:
    """Start the machine's ``redis-server`` for the default URL if it is down.

    Returns ``None`` once Redis answers, else why not. Only the default loopback URL is
    started, as a daemon that outlives the session (other sessions may share it).
    """
    problem = redis_answers(url)
    if problem is None or url != "redis://127.0.0.1:6379/0" or shutil.which("redis-server") is None:
        return problem
    subprocess.run(
        [*redis_server_command(6379), "--daemonize", "yes"],
        check=False,
        capture_output=True,
        timeout=30,
    )
    return wait_for_redis(url, timeout=timeout)


class PrivateRedis:
    """A ``redis-server`` of a test's own on a free loopback port, started and stopped on demand.

    Attributes:
        port: where it listens (once started).
        url: its Redis URL.
    """

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, *, timeout: float = 10.0) -> None:
        """Start the server and wait until it answers."""
        self._process = subprocess.Popen(
            redis_server_command(self.port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        problem = wait_for_redis(self.url, timeout=timeout)
        if problem is not None:
            self.stop()
            raise RuntimeError(f"redis-server on {self.url!r} did not answer: {problem}")

    def stop(self) -> None:
        """Stop the server if it runs."""
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None
