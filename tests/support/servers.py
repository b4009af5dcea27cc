"""Real servers for the tests and benchmarks: moto SQS/SNS and Redis on loopback ports."""

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

import attrs


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@attrs.frozen
class MotoServer:
    """A running ``moto_server`` process and its endpoint."""

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
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto_server exited with {process.returncode}; see {log_path}")
        try:
            # The URL is built from our own loopback host and port, never from input.
            with urllib.request.urlopen(f"{server.endpoint_url}/moto-api/", timeout=1):  # noqa: S310
                return server
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.05)  # poll interval while the server boots
    server.stop()
    raise RuntimeError(f"moto_server did not answer within {timeout} s; see {log_path}")


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
